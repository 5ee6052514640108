"""The attribute models of `RealtimeKitComponent`: one app, the store, the schedule, stale deactivation.

Every attribute has a constant default and nothing here reads the environment: a `defs.yaml` says what it
wants (`{{ env.X }}` for values kept in the environment), and `from_env` builds the attributes the shipped
`definitions.py` passes from the variables of `rtk_pipeline.settings`. Each such attribute names its
variable (`VARIABLES`), so its default, its documentation and the variable `from_env` reads are the
variable's declaration, written once.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import dagster as dg
from pydantic import ConfigDict, field_validator, model_validator

from rtk_pipeline import settings
from rtk_pipeline.settings import (
    ACCOUNT_ID,
    API_TOKEN,
    BASE_URL,
    Env,
    StoreSettings,
    SyncSettings,
    Variable,
    shown_default,
    variables,
)
from rtk_pipeline.stale import SensorSettings, StalePolicy

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def doc(text: str) -> dg.Resolver:
    """An attribute's documentation, as `dg list components`, `dg utils inspect-component` and the UI's
    Docs tab show it (a pydantic Field description is dropped for attributes with a default)."""
    return dg.Resolver.default(description=text)


def doc_of(variable: Variable[Any]) -> dg.Resolver:
    """The documentation of an attribute `from_env` fills from `variable`: what it is for, its default."""
    default = variable.default
    shown = "none" if default in ("", (), None) else shown_default(default)
    return doc(f"{variable.doc} Default: {shown} (`from_env`: {variable.name}).")


def plain(value: Any) -> Any:
    """A variable's value as YAML would write the attribute: paths and days as text, tuples as lists."""
    if isinstance(value, Path | date):
        return str(value)
    return list(value) if isinstance(value, tuple) else value


class Attributes(dg.Resolvable, dg.Model):
    """An attribute model: `from_env` reads the attributes named in `VARIABLES` from those variables, and
    numbers have the lower bounds in `MINIMUMS`. The bounds are checked on the resolved values, not as
    pydantic field constraints: those would also judge an unresolved `{{ env.X }}` and refuse it."""

    VARIABLES: ClassVar[dict[str, Variable[Any]]] = {}
    MINIMUMS: ClassVar[dict[str, float]] = {}

    @model_validator(mode="after")
    def _at_least(self) -> Self:
        for name, minimum in self.MINIMUMS.items():
            value = getattr(self, name)
            if isinstance(value, int | float) and value < minimum:
                raise ValueError(f"{name} must be at least {minimum:g}, got {value}")
        return self

    @classmethod
    def env_attributes(cls, env: Env = None) -> dict[str, Any]:
        """The attributes the environment sets (a malformed value is a ConfigError naming its variable)."""
        return {name: plain(var.read(env)) for name, var in cls.VARIABLES.items() if var.is_set(env)}


class RealtimeKitApp(dg.Resolvable, dg.Model):
    """One RealtimeKit app. Its token is never here: only the name of the variable that holds it."""

    # An error never repeats the value it refused: it may be a token pasted into the wrong place.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    app_id: Annotated[str, doc("RealtimeKit app id; stored in every row of this app (`app_id`).")]
    account_id: Annotated[
        str | None, doc(f"Cloudflare account id. Default: {ACCOUNT_ID.name}, read when a run starts.")
    ] = None
    token_env: Annotated[
        str, doc("NAME of the environment variable that holds this app's API token (read at run time).")
    ] = API_TOKEN.name
    base_url: Annotated[str, doc(f"API root. Default: Cloudflare's ({BASE_URL.default}).")] = BASE_URL.default
    name: Annotated[
        str | None, doc("This app's asset-key segment and name part. Default: the app id as a Dagster name.")
    ] = None

    @field_validator("token_env")
    @classmethod
    def _a_name_not_a_token(cls, value: str) -> str:
        # Never echo the value: someone may have pasted the token itself here.
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"token_env must be the NAME of an environment variable (like {API_TOKEN.name}), not a token"
            )
        return value


class RealtimeKitStore(Attributes):
    """Where the tables live. Object-store credentials are never settings (the AWS_* variables)."""

    VARIABLES: ClassVar[dict[str, Variable[Any]]] = variables(StoreSettings)

    backend: Annotated[Literal["duckdb", "delta"], doc_of(VARIABLES["backend"])] = "duckdb"
    duckdb_path: Annotated[str, doc_of(VARIABLES["duckdb_path"])] = str(VARIABLES["duckdb_path"].default)
    parquet_dir: Annotated[str, doc_of(VARIABLES["parquet_dir"])] = str(VARIABLES["parquet_dir"].default)
    table_uri: Annotated[str, doc_of(VARIABLES["table_uri"])] = VARIABLES["table_uri"].default

    def settings(self) -> StoreSettings:
        return StoreSettings(
            backend=self.backend,
            duckdb_path=Path(self.duckdb_path),
            parquet_dir=Path(self.parquet_dir),
            table_uri=self.table_uri,
        )


class RealtimeKitSchedule(Attributes):
    """The daily sync of every app (one schedule per app, or an automation condition on its assets)."""

    VARIABLES: ClassVar[dict[str, Variable[Any]]] = {
        "lookback_days": variables(SyncSettings)["lookback_days"]
    }

    enabled: Annotated[bool, doc("Ship the schedules running (the UI toggle overrides it).")] = True
    cron: Annotated[str, doc("When, in UTC.")] = "15 0 * * *"
    MINIMUMS: ClassVar[dict[str, float]] = {"lookback_days": 0}

    lookback_days: Annotated[int, doc_of(VARIABLES["lookback_days"])] = VARIABLES["lookback_days"].default


_POLICY = variables(StalePolicy)
_SENSOR = variables(SensorSettings)


class RealtimeKitStale(Attributes):
    """Stale-meeting deactivation (PATCH status INACTIVE). Off unless chosen: try `dry_run: true` first.

    A view of the library's `StalePolicy` and `SensorSettings` (same variables, same defaults); a run's
    config overlays `policy()` by `StalePolicy.overlay`.
    """

    VARIABLES: ClassVar[dict[str, Variable[Any]]] = {
        **_SENSOR,
        **{("max_per_run" if k == "max_deactivations" else k): v for k, v in _POLICY.items()},
    }

    MINIMUMS: ClassVar[dict[str, float]] = {
        "interval_s": 1,
        "cooldown_hours": 0,
        "stale_after_days": 1,
        "max_per_run": 0,
    }

    enabled: Annotated[bool, doc_of(_SENSOR["enabled"])] = _SENSOR["enabled"].default
    interval_s: Annotated[int, doc_of(_SENSOR["interval_s"])] = _SENSOR["interval_s"].default
    cooldown_hours: Annotated[float, doc_of(_SENSOR["cooldown_hours"])] = _SENSOR["cooldown_hours"].default
    stale_after_days: Annotated[int, doc_of(_POLICY["stale_after_days"])] = _POLICY[
        "stale_after_days"
    ].default
    max_per_run: Annotated[int, doc_of(_POLICY["max_deactivations"])] = _POLICY["max_deactivations"].default
    dry_run: Annotated[bool, doc_of(_POLICY["dry_run"])] = _POLICY["dry_run"].default
    allow_ids: Annotated[list[str], doc_of(_POLICY["allow_ids"])] = []
    allow_title_patterns: Annotated[list[str], doc_of(_POLICY["allow_title_patterns"])] = []
    deny_ids: Annotated[list[str], doc_of(_POLICY["deny_ids"])] = []
    deny_title_patterns: Annotated[list[str], doc_of(_POLICY["deny_title_patterns"])] = []
    max_sync_age_hours: Annotated[float | None, doc_of(_POLICY["max_sync_age_hours"])] = _POLICY[
        "max_sync_age_hours"
    ].default

    def policy(self) -> StalePolicy:
        """These attributes as the library's policy (bad patterns fail here, by the library's rule)."""
        return StalePolicy(
            stale_after_days=self.stale_after_days,
            max_deactivations=self.max_per_run,
            dry_run=self.dry_run,
            allow_ids=tuple(self.allow_ids),
            allow_title_patterns=tuple(self.allow_title_patterns),
            deny_ids=tuple(self.deny_ids),
            deny_title_patterns=tuple(self.deny_title_patterns),
            max_sync_age_hours=self.max_sync_age_hours,
        )

    def sensor(self) -> SensorSettings:
        return SensorSettings(
            enabled=self.enabled, interval_s=self.interval_s, cooldown_hours=self.cooldown_hours
        )


# Knobs of the whole component that `from_env` reads: the sync's (but the schedule's lookback) and the
# token's budget.
COMPONENT_VARIABLES: dict[str, Variable[Any]] = {
    **{k: v for k, v in variables(SyncSettings).items() if k != "lookback_days"},
    "rate_limit_requests": settings.RATE_LIMIT_REQUESTS,
    "rate_limit_period_s": settings.RATE_LIMIT_PERIOD_S,
}
