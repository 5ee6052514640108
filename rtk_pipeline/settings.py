"""Every environment variable the library and the Dagster layer read, declared once (name, default, parser,
doc), the one set of env parsers, and the typed settings built from them (ARCHITECTURE.md, "Settings").

A malformed value is a ConfigError that names its variable, the same way everywhere. Nothing here reads the
environment at import time: `Variable.read` and the `from_env` constructors read it when called, so two
callers (two component instances, a test) can hold different settings. The API token is kept out of repr().
The `AWS_*` variables are delta-rs's contract and stay with the Delta backend.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit

from rtk_pipeline.errors import ConfigError

T = TypeVar("T")
Env = Mapping[str, str] | None

_OFF = frozenset({"off", "none", "never"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# ------------------------------------------------------------------------------------------- parsers


def env_text(name: str, default: str = "", *, env: Env = None) -> str:
    """The variable's value, stripped (the process environment by default); `default` when unset or blank."""
    return (os.environ if env is None else env).get(name, "").strip() or default


# The days a setting or flag may name: no meeting predates 1970, and near year 1 or 9999 the day arithmetic
# (a window's end, a partition's key) overflows Python's dates long before the value means anything.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def day_out_of_range(day: date) -> str | None:
    """Why `day` is outside FIRST_DAY..LAST_DAY, or None when it is inside."""
    return None if FIRST_DAY <= day <= LAST_DAY else f"must be between {FIRST_DAY} and {LAST_DAY}, got {day}"


def parse_date(name: str, raw: str) -> date:
    """A YYYY-MM-DD day in FIRST_DAY..LAST_DAY; anything else is a ConfigError naming the variable."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a date like 2025-01-01, got {raw!r}") from None
    wrong = day_out_of_range(day)
    if wrong:
        raise ConfigError(f"{name} {wrong}")
    return day


def parse_number(
    name: str,
    raw: str,
    *,
    kind: type[int] | type[float] = int,
    minimum: float | None = None,
    off: bool = False,
) -> Any:
    """`kind(raw)`, at least `minimum`; with `off`, "off"/"none"/"never" mean None."""
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


def parse_flag(name: str, raw: str) -> bool:
    """An on/off value; anything unrecognized is a ConfigError, never a guess."""
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw.lower()!r}")


# ----------------------------------------------------------------------------------------- variables


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable, declared once: its name, its default (used when unset or blank), how a
    value is parsed (errors name the variable) and what it is for."""

    name: str
    default: T
    doc: str
    convert: Callable[[str, str], T] = field(repr=False, compare=False)
    # How a caller's value combines with the variable's (for docs of settings that overlay it).
    combine: str = field(default="instead of {name}", repr=False, compare=False)

    def parse(self, raw: str) -> T:
        """A value given some other way (a Dagster resource field) checked as the variable's would be."""
        raw = raw.strip()
        return self.convert(self.name, raw) if raw else self.default

    def read(self, env: Env = None) -> T:
        """The value in `env` (the process environment by default), or the default."""
        return self.parse(env_text(self.name, env=env))

    def is_set(self, env: Env = None) -> bool:
        return bool(env_text(self.name, env=env))


def _text(name: str, raw: str) -> str:
    return raw


def _whole(minimum: int | None = None) -> Callable[[str, str], int]:
    return lambda name, raw: int(parse_number(name, raw, minimum=minimum))


def _real(minimum: float | None = None) -> Callable[[str, str], float]:
    return lambda name, raw: float(parse_number(name, raw, kind=float, minimum=minimum))


def _hours_or_off(name: str, raw: str) -> float | None:
    value = parse_number(name, raw, kind=float, off=True)
    return None if value is None else float(value)


def _ids(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _regex(name: str, raw: str) -> tuple[str, ...]:
    """One regular expression, checked here so the error names the variable."""
    try:
        re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
    return (raw,)


def _path(name: str, raw: str) -> Path:
    return Path(raw)


BACKENDS = ("duckdb", "delta")
Backend = Literal["duckdb", "delta"]


def _backend(name: str, raw: str) -> Backend:
    kind = raw.lower()
    if kind not in BACKENDS:
        raise ConfigError(f"{name} must be one of {', '.join(BACKENDS)}, got {kind!r}")
    return cast(Backend, kind)


def parse_base_url(name: str, raw: str) -> str:
    """An http(s) URL with a host and no user info. httpx would send `user:pass@` as Basic auth in place of
    the Bearer token, and the 401 would blame the token; the value is never echoed, as it may hold a
    password."""
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - parsing the port is what raises on a malformed one
    except ValueError:
        parts = urlsplit("")
    if "@" in parts.netloc:
        raise ConfigError(f"{name} must not contain a user name or password (the API token authenticates)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL like {BASE_URL.default}")
    return raw


# The API: the three required ones have no default; the token is a secret and never repr'd or logged.
API_TOKEN = Variable("CLOUDFLARE_API_TOKEN", "", "Cloudflare API token; a secret, never logged.", _text)
ACCOUNT_ID = Variable("CLOUDFLARE_ACCOUNT_ID", "", "Cloudflare account id.", _text)
APP_ID = Variable("RTK_APP_ID", "", "RealtimeKit app id; stored in every row (`app_id`).", _text)
BASE_URL = Variable("RTK_BASE_URL", "https://api.cloudflare.com/client/v4", "API root.", parse_base_url)
# Cloudflare's budget per API token: 1,200 requests per 5 minutes; crossing it locks the token out.
RATE_LIMIT_REQUESTS = Variable(
    "RTK_RATE_LIMIT_REQUESTS", 1200, "Requests per rate-limit period, per token.", _whole(1)
)
RATE_LIMIT_PERIOD_S = Variable(
    "RTK_RATE_LIMIT_PERIOD_S", 300.0, "Rate-limit window in seconds.", _real(0.001)
)

# The store.
STORE = Variable[Backend]("RTK_STORE", "duckdb", "Backend: duckdb or delta.", _backend)
DUCKDB_PATH = Variable(
    "RTK_DUCKDB_PATH", Path("data/rtk.duckdb"), "duckdb: the analysts' DuckDB file.", _path
)
PARQUET_DIR = Variable("RTK_PARQUET_DIR", Path("data/parquet"), "duckdb: the Parquet root.", _path)
TABLE_URI = Variable("RTK_TABLE_URI", "", "delta: root of the tables, s3://bucket/prefix or a path.", _text)

# Where a token's rate budget is shared (rtk_pipeline.budget): a Postgres row if a URL is set, else a file.
BUDGET_DIR = Variable(
    "RTK_BUDGET_DIR",
    "",
    "Folder of the host's per-token budget files (default: the user's state folder).",
    _text,
)
BUDGET_PG_URL = Variable(
    "RTK_BUDGET_PG_URL", "", "PostgreSQL URL holding every host's per-token budget (a secret).", _text
)
DAGSTER_PG_URL = Variable(
    "DAGSTER_PG_URL",
    "",
    "Dagster's PostgreSQL; the token budget is kept there too unless RTK_BUDGET_PG_URL.",
    _text,
)

# The sync as Dagster runs it.
PARTITIONS_START = Variable("RTK_PARTITIONS_START", date(2025, 1, 1), "First daily partition.", parse_date)
MAX_PARTITIONS_PER_RUN = Variable(
    "RTK_MAX_PARTITIONS_PER_RUN", 31, "Days per backfill run (one wide listing each).", _whole(1)
)
LOOKBACK_DAYS = Variable(
    "RTK_LOOKBACK_DAYS", 3, "Days before yesterday the daily schedule re-syncs.", _whole(0)
)
STEP_MAX_RETRIES = Variable("RTK_STEP_MAX_RETRIES", 3, "Whole-step retries of a failed sync.", _whole(0))
STEP_RETRY_DELAY_S = Variable(
    "RTK_STEP_RETRY_DELAY_S", 30.0, "First delay between step retries (exponential).", _real(0)
)
FRESHNESS_GRACE_HOURS = Variable(
    "RTK_FRESHNESS_GRACE_HOURS", 6, "Hours after a UTC day ends before it must be materialized.", _whole(0)
)

# Stale-meeting deactivation (rtk_pipeline.stale): the policy, then the sensor that schedules it.
_ADDED = "added to {name}"
STALE_AFTER_DAYS = Variable("RTK_STALE_AFTER_DAYS", 30, "Days without activity.", _whole())
STALE_MAX_PER_RUN = Variable("RTK_STALE_MAX_PER_RUN", 50, "Deactivations per run at most.", _whole())
STALE_DRY_RUN = Variable(
    "RTK_STALE_DRY_RUN",
    False,
    "Decide and audit, send no PATCH.",
    parse_flag,
    combine="{name} or this: either one switches it on",
)
STALE_ALLOW_IDS = Variable[tuple[str, ...]](
    "RTK_STALE_ALLOW_IDS", (), "Only ever touch these ids.", _ids, combine=_ADDED
)
STALE_ALLOW_TITLE = Variable[tuple[str, ...]](
    "RTK_STALE_ALLOW_TITLE", (), "Only ever touch matching titles.", _regex, combine=_ADDED
)
STALE_DENY_IDS = Variable[tuple[str, ...]](
    "RTK_STALE_DENY_IDS", (), "Never touch these ids.", _ids, combine=_ADDED
)
STALE_DENY_TITLE = Variable[tuple[str, ...]](
    "RTK_STALE_DENY_TITLE", (), "Never touch matching titles.", _regex, combine=_ADDED
)
STALE_MAX_SYNC_AGE_HOURS = Variable[float | None](
    "RTK_STALE_MAX_SYNC_AGE_HOURS",
    48.0,
    "Refuse to run when the last successful sync is older (hours).",
    _hours_or_off,
)
# Off by default: adding the pipeline to a deployment must not set meetings INACTIVE before anyone chose to.
STALE_SENSOR = Variable("RTK_STALE_SENSOR", False, "Ship the stale sensors running.", parse_flag)
STALE_SENSOR_INTERVAL = Variable(
    "RTK_STALE_SENSOR_INTERVAL", 3600, "Seconds between sensor evaluations.", _whole(1)
)
STALE_COOLDOWN_HOURS = Variable(
    "RTK_STALE_COOLDOWN_HOURS", 24.0, "How long a judged meeting is not requested again (hours).", _real(0)
)
# The refresh of old meetings and their participants (rtk_pipeline.refresh).
PARTICIPANTS_MAX_AGE_DAYS = Variable(
    "RTK_PARTICIPANTS_MAX_AGE_DAYS",
    7,
    "Days after which an ACTIVE meeting's participants count as behind (refresh, participants_fresh).",
    _whole(0),
)
REFRESH_WINDOW_S = 30 * 60.0  # a refresh's default budget is what the token allows in this long

# Client knobs that are not variables: the real API's defaults, used by the client and the resource alike.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_IN_FLIGHT = 16
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_MAX_RETRY_WAIT_S = 60.0
# Meetings whose participants are listed at once.
DEFAULT_WORKERS = 8


# ---------------------------------------------------------------------------------------- settings
# A settings field names the variable that fills it in `from_env` (its metadata), so each field's name,
# default, parser and doc are the variable's, and a Dagster attribute can be derived from it.

_VARIABLE = "variable"


def declared(variable: Variable[T], *, secret: bool = False) -> T:
    """A settings field filled from `variable`, defaulting to the variable's default."""
    return field(default=variable.default, repr=not secret, metadata={_VARIABLE: variable})


def required(variable: Variable[str], *, secret: bool = False) -> str:
    """A settings field filled from `variable`, with no default: `from_env` reports it when unset."""
    value: str = field(repr=not secret, metadata={_VARIABLE: variable})
    return value


def variables(settings: type) -> dict[str, Variable[Any]]:
    """The variable behind each field of a settings class that has one, by field name."""
    return {f.name: f.metadata[_VARIABLE] for f in fields(settings) if _VARIABLE in f.metadata}


def _read(settings: type, env: Env) -> dict[str, Any]:
    return {name: variable.read(env) for name, variable in variables(settings).items()}


def load(settings: type[T], env: Env = None) -> T:
    """An instance of the settings class with every declared field read from its variable."""
    return settings(**_read(settings, env))


def describe(settings: type, field_name: str, *, combined: bool = False) -> str:
    """A field's doc line naming its variable and default: "Days without activity. Default:
    RTK_STALE_AFTER_DAYS (30)."; with `combined`, how a given value combines with the variable instead."""
    variable = variables(settings)[field_name]
    if combined:
        return f"{variable.doc.removesuffix('.')} ({variable.combine.format(name=variable.name)})."
    default = variable.default
    shown = "" if default in ((), None, "") else f" ({shown_default(default)})"
    return f"{variable.doc} Default: {variable.name}{shown}."


def shown_default(default: Any) -> str:
    """A default as a doc line writes it: on/off, 1.5 not 1.50, a path as text."""
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def rate_limit_from_env(env: Env = None) -> tuple[int, float]:
    """(requests, period): one token's budget, as the limiter takes it."""
    return RATE_LIMIT_REQUESTS.read(env), RATE_LIMIT_PERIOD_S.read(env)


@dataclass(frozen=True)
class ApiSettings:
    """One app of one account, and how its client talks to the API."""

    api_token: str = required(API_TOKEN, secret=True)
    account_id: str = required(ACCOUNT_ID)
    app_id: str = required(APP_ID)
    base_url: str = declared(BASE_URL)
    rate_limit_requests: int = declared(RATE_LIMIT_REQUESTS)
    rate_limit_period_s: float = declared(RATE_LIMIT_PERIOD_S)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S

    @classmethod
    def from_env(cls, env: Env = None) -> ApiSettings:
        """The settings of the process environment (or `env`); the required ones are reported together."""
        missing = [var.name for var in (API_TOKEN, ACCOUNT_ID, APP_ID) if not var.is_set(env)]
        if missing:
            raise ConfigError(
                "missing setting(s): " + ", ".join(missing) + " (export them, or run `rtk-pipeline demo` "
                "to use the bundled emulator)"
            )
        return cls(**_read(cls, env))

    @property
    def rate_limit(self) -> tuple[int, float]:
        """(requests, period): the token's budget as the limiter takes it."""
        return self.rate_limit_requests, self.rate_limit_period_s


@dataclass(frozen=True)
class StoreSettings:
    """Where the tables live. Object-store credentials are never settings (the process's AWS_* variables)."""

    backend: Backend = declared(STORE)
    duckdb_path: Path = declared(DUCKDB_PATH)
    parquet_dir: Path = declared(PARQUET_DIR)
    table_uri: str = declared(TABLE_URI)

    def __post_init__(self) -> None:
        _backend(STORE.name, self.backend)  # a typed caller can still pass any string at run time

    @classmethod
    def from_env(cls, env: Env = None) -> StoreSettings:
        return cls(**_read(cls, env))


@dataclass(frozen=True)
class SyncSettings:
    """How the days are synced: participant workers, days per run, and, under Dagster, the first partition,
    the schedule's lookback, whole-step retries and the freshness deadline."""

    workers: int = DEFAULT_WORKERS
    days_per_run: int = declared(MAX_PARTITIONS_PER_RUN)
    partitions_start: date = declared(PARTITIONS_START)
    lookback_days: int = declared(LOOKBACK_DAYS)
    step_max_retries: int = declared(STEP_MAX_RETRIES)
    step_retry_delay_s: float = declared(STEP_RETRY_DELAY_S)
    freshness_grace_hours: int = declared(FRESHNESS_GRACE_HOURS)

    @classmethod
    def from_env(cls, env: Env = None) -> SyncSettings:
        return cls(**_read(cls, env))


@dataclass(frozen=True)
class RefreshSettings:
    """How a refresh spends its requests: the default budget per run (what the token allows in 30 minutes,
    so a refresh never starves the daily sync of the same token) and the age after which an ACTIVE
    meeting's participants count as behind."""

    participants_max_age_days: int = declared(PARTICIPANTS_MAX_AGE_DAYS)
    rate_limit_requests: int = declared(RATE_LIMIT_REQUESTS)
    rate_limit_period_s: float = declared(RATE_LIMIT_PERIOD_S)

    @property
    def default_budget(self) -> int:
        """Requests per run when none is given: the token's rate over 30 minutes (7,200 by default)."""
        return max(1, int(self.rate_limit_requests * REFRESH_WINDOW_S / self.rate_limit_period_s))

    @classmethod
    def from_env(cls, env: Env = None) -> RefreshSettings:
        return cls(**_read(cls, env))
