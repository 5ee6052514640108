"""`RealtimeKitComponent`: the whole pipeline as a Dagster component, for one or several apps.

Drop it into a `dg` project with a `defs.yaml` (`type: dagster_defs.RealtimeKitComponent`), or build it in
Python (`RealtimeKitComponent(apps=[...]).build_defs()`). This project's own `definitions.py` is one
instance of it with every setting left to the environment, so there is one code path.

Each app gets its own assets (`<key_prefix>/<app>/meetings` and `.../participants`), checks, jobs,
schedules and stale sensor, and its token its own concurrency pool: an app's partitions succeed or fail on
their own and one app's failure never blocks another's runs. The analyst views span the warehouse.

Every attribute left out falls back to the environment variable that sets it today (ARCHITECTURE.md), read
when `build_defs` runs (never at import, so two instances may differ), except the token and what the
resources read when a run starts.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import ConfigDict, Field, field_validator

from dagster_defs.assets import build_app_assets, build_views_asset
from dagster_defs.checks import build_app_checks
from dagster_defs.partitions import backfill_policy, daily_partitions
from dagster_defs.refresh import RealtimeKitRefresh, build_app_refresh
from dagster_defs.resources import api_resource, store_resource
from dagster_defs.schedules import AssetJob, ScheduleSettings, build_app_jobs
from dagster_defs.scope import DEFAULT_TOKEN_ENV, App, ComponentScope, slug
from dagster_defs.stale import build_app_stale
from rtk_pipeline.settings import (
    ACCOUNT_ID,
    API_TOKEN,
    APP_ID,
    BASE_URL,
    DUCKDB_PATH,
    LOOKBACK_DAYS,
    PARQUET_DIR,
    PARTITIONS_START,
    STORE,
    TABLE_URI,
    SyncSettings,
    rate_limit_from_env,
)
from rtk_pipeline.stale import SensorSettings, StalePolicy
from rtk_pipeline.stale.env import describe, read

# The app read from the environment (no `apps` given) is filed under this asset-key segment, so its keys
# do not change with the value of RTK_APP_ID, which the resources read when a run starts.
ENV_APP_NAME = "default"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _doc(text: str) -> dg.Resolver:
    """An attribute's documentation, as `dg list components`, `dg utils inspect-component` and the UI's
    Docs tab show it (a pydantic Field description is dropped for attributes with a default)."""
    return dg.Resolver.default(description=text)


class RealtimeKitApp(dg.Resolvable, dg.Model):
    """One RealtimeKit app. Its token is never here: only the name of the variable that holds it."""

    # An error never repeats the value it refused: it may be a token pasted into the wrong place.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    app_id: Annotated[str, _doc("RealtimeKit app id; stored in every row of this app (`app_id`).")]
    account_id: Annotated[str | None, _doc(f"Cloudflare account id. Default: {ACCOUNT_ID.name}.")] = None
    token_env: Annotated[
        str, _doc("NAME of the environment variable that holds this app's API token (read at run time).")
    ] = DEFAULT_TOKEN_ENV
    base_url: Annotated[
        str | None, _doc(f"API root. Default: {BASE_URL.name}, else Cloudflare's API root.")
    ] = None
    name: Annotated[
        str | None, _doc("This app's asset-key segment and name part. Default: the app id as a Dagster name.")
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

    @property
    def key_name(self) -> str:
        return self.name or slug(self.app_id)


class RealtimeKitStore(dg.Resolvable, dg.Model):
    """Where the tables live. Object-store credentials are never settings (the AWS_* variables)."""

    backend: Annotated[
        Literal["duckdb", "delta"] | None, _doc(f"duckdb or delta. Default: {STORE.name}.")
    ] = None
    duckdb_path: Annotated[str | None, _doc(f"duckdb: the analysts' file. Default: {DUCKDB_PATH.name}.")] = (
        None
    )
    parquet_dir: Annotated[str | None, _doc(f"duckdb: the Parquet root. Default: {PARQUET_DIR.name}.")] = None
    table_uri: Annotated[str | None, _doc(f"delta: root URI of the tables. Default: {TABLE_URI.name}.")] = (
        None
    )


class RealtimeKitSchedule(dg.Resolvable, dg.Model):
    """The daily sync of every app (one schedule per app)."""

    enabled: Annotated[bool, _doc("Ship the schedules running (the UI toggle overrides it).")] = True
    cron: Annotated[str, _doc("When, in UTC.")] = "15 0 * * *"
    lookback_days: Annotated[
        int | None,
        _doc(
            f"Days before yesterday that are re-synced too. Default: {LOOKBACK_DAYS.name} "
            f"({LOOKBACK_DAYS.default})."
        ),
    ] = Field(default=None, ge=0)


class RealtimeKitStale(dg.Resolvable, dg.Model):
    """Stale-meeting deactivation (PATCH status INACTIVE). Off unless chosen: try `dry_run: true` first.

    A view of the library's `StalePolicy` (and the sensor's RTK_STALE_SENSOR): what is left out comes
    from the RTK_STALE_* environment when a run or tick starts, by `policy()`.
    """

    enabled: Annotated[bool | None, _doc(describe(SensorSettings, "enabled"))] = None
    stale_after_days: Annotated[int | None, _doc(describe(StalePolicy, "stale_after_days"))] = Field(
        default=None, ge=1
    )
    max_per_run: Annotated[int | None, _doc(describe(StalePolicy, "max_deactivations"))] = Field(
        default=None, ge=0
    )
    dry_run: Annotated[bool | None, _doc(describe(StalePolicy, "dry_run"))] = None

    def sensor_enabled(self) -> bool:
        return read(SensorSettings, "enabled") if self.enabled is None else self.enabled

    def policy(self) -> StalePolicy:
        """The RTK_STALE_* policy with this attribute's settings on top (`StalePolicy.overlay`)."""
        return StalePolicy.from_env().overlay(
            stale_after_days=self.stale_after_days, max_deactivations=self.max_per_run, dry_run=self.dry_run
        )


class RealtimeKitComponent(dg.Component, dg.Resolvable, dg.Model):
    """Cloudflare RealtimeKit meetings and participants, synced per UTC day into DuckDB + Parquet (or Delta
    Lake), for one or several apps in one warehouse, with checks, daily schedules and a stale sensor."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    apps: Annotated[
        list[RealtimeKitApp] | None,
        _doc(f"The apps. Default: one, from {API_TOKEN.name}, {ACCOUNT_ID.name} and {APP_ID.name}."),
    ] = None
    partitions_start: Annotated[
        str | None,
        _doc(
            f"First daily partition, YYYY-MM-DD. Default: {PARTITIONS_START.name} "
            f"({PARTITIONS_START.default})."
        ),
    ] = None
    key_prefix: Annotated[list[str], _doc("Asset-key prefix of every asset.")] = ["realtimekit"]
    group_name: Annotated[str, _doc("Asset group of every asset.")] = "realtimekit"
    store: Annotated[RealtimeKitStore, _doc("Where the tables live.")] = Field(
        default_factory=RealtimeKitStore
    )
    schedule: Annotated[RealtimeKitSchedule, _doc("The daily sync.")] = Field(
        default_factory=RealtimeKitSchedule
    )
    stale: Annotated[RealtimeKitStale, _doc("Stale-meeting deactivation.")] = Field(
        default_factory=RealtimeKitStale
    )
    refresh: Annotated[RealtimeKitRefresh, _doc("The daily refresh of old meetings and participants.")] = (
        Field(default_factory=RealtimeKitRefresh)
    )

    @field_validator("partitions_start")
    @classmethod
    def _a_day(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"partitions_start must be a date like 2025-01-01, got {value!r}") from None
        return value

    @field_validator("apps")
    @classmethod
    def _distinct(cls, apps: list[RealtimeKitApp] | None) -> list[RealtimeKitApp] | None:
        if apps is not None:
            if not apps:
                raise ValueError(
                    f"apps is empty: list at least one app, or leave it out to use {APP_ID.name}"
                )
            for what, values in (
                ("app_id", [a.app_id for a in apps]),
                ("name", [a.key_name for a in apps]),
            ):
                twice = sorted({v for v in values if values.count(v) > 1})
                if twice:
                    raise ValueError(f"apps: each {what} may appear once, {', '.join(twice)} appear(s) twice")
        return apps

    def sync_settings(self) -> SyncSettings:
        """The environment's sync settings (read now, not at import) under this component's attributes."""
        given: dict[str, Any] = {}
        if self.partitions_start:
            given["partitions_start"] = date.fromisoformat(self.partitions_start)
        if self.schedule.lookback_days is not None:
            given["lookback_days"] = self.schedule.lookback_days
        return dataclasses.replace(SyncSettings.from_env(), **given)

    def build_defs(self, context: dg.ComponentLoadContext | None = None) -> dg.Definitions:
        """Everything of every app. `context` is unused: the component builds the same in Python."""
        sync = self.sync_settings()
        scope = ComponentScope(
            prefix=tuple(self.key_prefix),
            group=self.group_name,
            partitions=daily_partitions(sync.partitions_start),
            backfill=backfill_policy(sync.days_per_run),
        )
        schedule = ScheduleSettings(enabled=self.schedule.enabled, cron=self.schedule.cron, sync=sync)
        stale_enabled = self.stale.sensor_enabled()
        apps = self._apps(scope)
        resources: dict[str, dg.ConfigurableResource] = {
            scope.resource: store_resource(
                backend=self.store.backend,
                duckdb_path=self.store.duckdb_path,
                parquet_dir=self.store.parquet_dir,
                table_uri=self.store.table_uri,
            )
        }
        resources.update(self._api_resources(apps))
        assets = [build_views_asset(scope, [app for app, _ in apps])]
        checks: list[dg.AssetChecksDefinition] = []
        jobs: list[dg.JobDefinition | AssetJob] = []
        schedules: list[dg.ScheduleDefinition] = []
        sensors: list[dg.SensorDefinition] = []
        for app, _ in apps:
            assets += build_app_assets(app, sync)
            app_checks = build_app_checks(app, sync.freshness_grace_hours)
            checks += app_checks.all
            app_jobs = build_app_jobs(app, app_checks, schedule)
            app_stale = build_app_stale(app, enabled=stale_enabled, policy=self.stale.policy)
            app_refresh = build_app_refresh(app, self.refresh)
            checks.append(app_refresh.check)
            jobs += [app_jobs.sync, app_jobs.checks, app_jobs.freshness, app_stale.job, app_refresh.job]
            schedules += [*app_jobs.schedules, app_refresh.schedule]
            sensors.append(app_stale.sensor)
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=jobs,
            schedules=schedules,
            sensors=sensors,
            resources=resources,
        )

    def _apps(self, scope: ComponentScope) -> list[tuple[App, RealtimeKitApp | None]]:
        """Each app with its attributes; without `apps`, the one app the environment names."""
        if not self.apps:
            return [(App(scope, ENV_APP_NAME, DEFAULT_TOKEN_ENV), None)]
        return [(App(scope, config.key_name, config.token_env), config) for config in self.apps]

    @staticmethod
    def _api_resources(apps: list[tuple[App, RealtimeKitApp | None]]) -> dict[str, dg.ConfigurableResource]:
        """Each app's client resource; every app's token has the budget the environment gives."""
        rate_limit = rate_limit_from_env()
        return {
            app.resource: api_resource(
                token_env=app.token_env,
                account_id=config.account_id if config else None,
                app_id=config.app_id if config else None,
                base_url=config.base_url if config else None,
                rate_limit=rate_limit,
            )
            for app, config in apps
        }


__all__ = [
    "RealtimeKitApp",
    "RealtimeKitComponent",
    "RealtimeKitRefresh",
    "RealtimeKitSchedule",
    "RealtimeKitStale",
    "RealtimeKitStore",
]
