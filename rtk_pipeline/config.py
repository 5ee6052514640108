"""Settings from the environment (DESIGN.md contract), and the one set of env parsers the whole package
(library, CLI, Dagster definitions) uses, so every malformed value is reported the same way, by name.
The token is kept out of repr()."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rtk_pipeline.errors import ConfigError

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
DEFAULT_DUCKDB_PATH = "data/rtk.duckdb"
DEFAULT_PARQUET_DIR = "data/parquet"
# Cloudflare's budget per API token: 1,200 requests per 5 minutes; crossing it locks the token out.
DEFAULT_RATE_LIMIT = (1200, 300.0)


_OFF = frozenset({"off", "none", "never"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_text(name: str, default: str = "", *, env: Mapping[str, str] | None = None) -> str:
    """The variable's value, stripped (the process environment by default); `default` when unset or blank."""
    return (os.environ if env is None else env).get(name, "").strip() or default


def env_date(name: str, default: str, *, env: Mapping[str, str] | None = None) -> date:
    """A YYYY-MM-DD day; a malformed value is a ConfigError naming the variable."""
    raw = env_text(name, default, env=env)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a date like 2025-01-01, got {raw!r}") from None


def env_number(
    name: str,
    default: float | None,
    *,
    minimum: float | None = None,
    kind: type[int] | type[float] = int,
    env: Mapping[str, str] | None = None,
    off: bool = False,
) -> Any:
    """`kind(env[name])` (the process environment by default), or `default` when unset; with `off`,
    "off"/"none"/"never" mean None. A malformed value is a ConfigError naming the variable."""
    raw = env_text(name, env=env)
    if not raw:
        return default if default is None else kind(default)
    if off and raw.lower() in _OFF:
        return None
    try:
        value = kind(raw)
    except ValueError:
        what = ("a whole number" if kind is int else "a number") + (" (or 'off')" if off else "")
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_flag(name: str, default: bool, *, env: Mapping[str, str] | None = None) -> bool:
    """An on/off variable; anything unrecognized is a ConfigError, never a guess."""
    raw = env_text(name, env=env).lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_list(name: str, *, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """A comma-separated list (blanks dropped)."""
    return tuple(part.strip() for part in env_text(name, env=env).split(",") if part.strip())


def env_regex(name: str, *, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """One regular expression, checked here so the error names the variable; () when unset."""
    raw = env_text(name, env=env)
    try:
        re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
    return (raw,) if raw else ()


def warehouse_paths(env: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """RTK_DUCKDB_PATH and RTK_PARQUET_DIR, defaulting to data/rtk.duckdb and data/parquet."""
    return (
        Path(env_text("RTK_DUCKDB_PATH", DEFAULT_DUCKDB_PATH, env=env)),
        Path(env_text("RTK_PARQUET_DIR", DEFAULT_PARQUET_DIR, env=env)),
    )


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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        missing = [
            name
            for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "RTK_APP_ID")
            if not env_text(name, env=env)
        ]
        if missing:
            raise ConfigError(
                "missing setting(s): " + ", ".join(missing) + " (export them, or run `rtk-pipeline demo` "
                "to use the bundled emulator)"
            )
        duckdb_path, parquet_dir = warehouse_paths(env)
        return cls(
            api_token=env_text("CLOUDFLARE_API_TOKEN", env=env),
            account_id=env_text("CLOUDFLARE_ACCOUNT_ID", env=env),
            app_id=env_text("RTK_APP_ID", env=env),
            base_url=env_text("RTK_BASE_URL", DEFAULT_BASE_URL, env=env),
            duckdb_path=duckdb_path,
            parquet_dir=parquet_dir,
            rate_limit=(
                env_number("RTK_RATE_LIMIT_REQUESTS", DEFAULT_RATE_LIMIT[0], minimum=1, env=env),
                env_number(
                    "RTK_RATE_LIMIT_PERIOD_S", DEFAULT_RATE_LIMIT[1], minimum=0.001, kind=float, env=env
                ),
            ),
        )
