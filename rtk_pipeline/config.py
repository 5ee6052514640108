"""Settings from the environment (DESIGN.md contract). The token is kept out of repr()."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rtk_pipeline.errors import ConfigError

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_DUCKDB_PATH = "data/rtk.duckdb"
DEFAULT_PARQUET_DIR = "data/parquet"
# Cloudflare's budget per API token: 1,200 requests per 5 minutes; crossing it locks the token out.
DEFAULT_RATE_LIMIT = (1200, 300.0)


def env_number(
    name: str,
    default: float,
    *,
    minimum: float,
    kind: type[int] | type[float] = int,
    env: Mapping[str, str] | None = None,
):
    """`kind(env[name])` (the process environment by default), or `default` when unset; a malformed
    value names the variable."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a{'n integer' if kind is int else ' number'}, got {raw!r}"
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    api_token: str = field(repr=False)
    account_id: str
    app_id: str
    base_url: str = DEFAULT_BASE_URL
    duckdb_path: Path = Path(DEFAULT_DUCKDB_PATH)
    parquet_dir: Path = Path(DEFAULT_PARQUET_DIR)
    rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        missing = [
            name
            for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "RTK_APP_ID")
            if not env.get(name, "").strip()
        ]
        if missing:
            raise ConfigError(
                "missing setting(s): " + ", ".join(missing) + " (export them, or run `rtk-pipeline demo` "
                "to use the bundled emulator)"
            )
        return cls(
            api_token=env["CLOUDFLARE_API_TOKEN"].strip(),
            account_id=env["CLOUDFLARE_ACCOUNT_ID"].strip(),
            app_id=env["RTK_APP_ID"].strip(),
            base_url=env.get("RTK_BASE_URL", "").strip() or DEFAULT_BASE_URL,
            duckdb_path=Path(env.get("RTK_DUCKDB_PATH", "").strip() or DEFAULT_DUCKDB_PATH),
            parquet_dir=Path(env.get("RTK_PARQUET_DIR", "").strip() or DEFAULT_PARQUET_DIR),
            rate_limit=(
                env_number("RTK_RATE_LIMIT_REQUESTS", DEFAULT_RATE_LIMIT[0], minimum=1, env=env),
                env_number(
                    "RTK_RATE_LIMIT_PERIOD_S", DEFAULT_RATE_LIMIT[1], minimum=0.001, kind=float, env=env
                ),
            ),
        )
