"""Where a token's rate budget is kept, so that every process using the token shares one budget.

Cloudflare counts requests per token, whoever sends them: a CLI backfill, two Dagster runs and the stale
sensor of one token share 1,200 requests per 5 minutes. The limiter (`ratelimit.RateLimiter`) is the same
GCRA everywhere; only its state moves out of the process (see ARCHITECTURE.md, "Rate limit"):

- `RTK_BUDGET_PG_URL`, else `DAGSTER_PG_URL` set: one row per token in that PostgreSQL database, shared by
  every host that points at it (`pgbook`);
- otherwise a small file per token in `RTK_BUDGET_DIR` (default `$XDG_STATE_HOME/rtk-pipeline/budget`, i.e.
  `~/.local/state/rtk-pipeline/budget`), shared by every process of the host whatever its data folders
  (`filebook`).

Both are keyed by `token_key`: a truncated SHA-256 of a fixed label, the API root and the token, from which
the token cannot be recovered; the token itself is never written anywhere.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from rtk_pipeline.budget.filebook import FileBook
from rtk_pipeline.budget.gcra import LocalBook, SlotBook, gcra_step
from rtk_pipeline.budget.pgbook import BudgetUnavailableError, PgBook
from rtk_pipeline.settings import BUDGET_DIR, BUDGET_PG_URL, DAGSTER_PG_URL, env_text

__all__ = [
    "BudgetUnavailableError",
    "FileBook",
    "LocalBook",
    "PgBook",
    "SlotBook",
    "budget_dir",
    "gcra_step",
    "open_book",
    "token_key",
]

_LABEL = b"rtk-pipeline rate budget v1\0"


def token_key(api_token: str, base_url: str) -> str:
    """The name of a token's budget at one API root (separate local emulators enforce separate budgets)."""
    digest = hashlib.sha256(_LABEL + f"{base_url.rstrip('/')}\0{api_token}".encode())
    return digest.hexdigest()[:32]


def budget_dir(env: Mapping[str, str] | None = None) -> Path:
    """RTK_BUDGET_DIR, else the per-user state folder (XDG_STATE_HOME, default ~/.local/state)."""
    explicit = BUDGET_DIR.read(env)
    if explicit:
        return Path(explicit).expanduser()
    state = env_text("XDG_STATE_HOME", env=env) or str(Path.home() / ".local" / "state")
    return Path(state) / "rtk-pipeline" / "budget"


def open_book(api_token: str, base_url: str, env: Mapping[str, str] | None = None) -> SlotBook:
    """The shared state for this token: Postgres when configured, else the host's state file."""
    env = os.environ if env is None else env
    key = token_key(api_token, base_url)
    for setting in (BUDGET_PG_URL, DAGSTER_PG_URL):
        url = setting.read(env)
        if url:
            return PgBook(url, key, setting=setting.name)
    return FileBook(budget_dir(env) / f"{key}.gcra", setting=BUDGET_DIR.name)
