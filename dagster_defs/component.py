"""`RealtimeKitComponent`: the whole pipeline as a Dagster component, for one or several apps.

Drop it into a `dg` project with a `defs.yaml` (`type: dagster_defs.RealtimeKitComponent`), or build it in
Python (`RealtimeKitComponent(apps=[...]).build_defs()`). This project's own `definitions.py` is one
instance of it with every setting left to the environment, so there is one code path.

Each app gets its own assets (`<key_prefix>/<app>/meetings` and `.../participants`), checks, jobs,
schedules and stale sensor, and its token its own concurrency pool: an app's partitions succeed or fail on
their own and one app's failure never blocks another's runs. The analyst views span the warehouse.

Every attribute left out falls back to the environment variable that sets it today (DESIGN.md), read when
the code location loads, except the token and what the resources read when a run starts.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

import dagster as dg
from pydantic import ConfigDict, Field, field_validator

from dagster_defs.assets import build_app_assets, build_views_asset
from dagster_defs.checks import build_app_checks
from dagster_defs.partitions import (
    backfill_policy,
    daily_partitions,
    lookback_days,
    max_partitions_per_run,
    partitions_start,
)
from dagster_defs.resources import api_resource, warehouse_resource
from dagster_defs.schedules import ScheduleSettings, build_app_jobs
from dagster_defs.scope import DEFAULT_TOKEN_ENV, App, Warehouse, slug
from dagster_defs.stale import build_app_stale
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
    account_id: Annotated[str | None, _doc("Cloudflare account id. Default: CLOUDFLARE_ACCOUNT_ID.")] = None
    token_env: Annotated[
        str, _doc("NAME of the environment variable that holds this app's API token (read at run time).")
    ] = DEFAULT_TOKEN_ENV
    base_url: Annotated[str | None, _doc("API root. Default: RTK_BASE_URL, else Cloudflare's API root.")] = (
        None
    )
    name: Annotated[
        str | None, _doc("This app's asset-key segment and name part. Default: the app id as a Dagster name.")
    ] = None

    @field_validator("token_env")
    @classmethod
    def _a_name_not_a_token(cls, value: str) -> str:
        # Never echo the value: someone may have pasted the token itself here.
        if not _ENV_NAME.match(value):
            raise ValueError(
                "token_env must be the NAME of an environment variable (like CLOUDFLARE_API_TOKEN), "
                "not a token"
            )
        return value

    @property
    def key_name(self) -> str:
        return self.name or slug(self.app_id)


class RealtimeKitStore(dg.Resolvable, dg.Model):
    """Where the tables live. Object-store credentials are never settings (the AWS_* variables)."""

    backend: Annotated[Literal["duckdb", "delta"] | None, _doc("duckdb or delta. Default: RTK_STORE.")] = None
    duckdb_path: Annotated[str | None, _doc("duckdb: the analysts' file. Default: RTK_DUCKDB_PATH.")] = None
    parquet_dir: Annotated[str | None, _doc("duckdb: the Parquet root. Default: RTK_PARQUET_DIR.")] = None
    table_uri: Annotated[str | None, _doc("delta: root URI of the tables. Default: RTK_TABLE_URI.")] = None


class RealtimeKitSchedule(dg.Resolvable, dg.Model):
    """The daily sync of every app (one schedule per app)."""

    enabled: Annotated[bool, _doc("Ship the schedules running (the UI toggle overrides it).")] = True
    cron: Annotated[str, _doc("When, in UTC.")] = "15 0 * * *"
    lookback_days: Annotated[
        int | None, _doc("Days before yesterday that are re-synced too. Default: RTK_LOOKBACK_DAYS (3).")
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
        _doc("The apps. Default: one, from CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID and RTK_APP_ID."),
    ] = None
    partitions_start: Annotated[
        str | None, _doc("First daily partition, YYYY-MM-DD. Default: RTK_PARTITIONS_START (2025-01-01).")
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
                raise ValueError("apps is empty: list at least one app, or leave it out to use RTK_APP_ID")
            for what, values in (
                ("app_id", [a.app_id for a in apps]),
                ("name", [a.key_name for a in apps]),
            ):
                twice = sorted({v for v in values if values.count(v) > 1})
                if twice:
                    raise ValueError(f"apps: each {what} may appear once, {', '.join(twice)} appear(s) twice")
        return apps

    def build_defs(self, context: dg.ComponentLoadContext | None = None) -> dg.Definitions:
        """Everything of every app. `context` is unused: the component builds the same in Python."""
        start = date.fromisoformat(self.partitions_start) if self.partitions_start else partitions_start()
        per_run = max_partitions_per_run()
        warehouse = Warehouse(
            prefix=tuple(self.key_prefix),
            group=self.group_name,
            partitions=daily_partitions(start),
            backfill=backfill_policy(per_run),
        )
        schedule = ScheduleSettings(
            enabled=self.schedule.enabled,
            cron=self.schedule.cron,
            lookback_days=lookback_days()
            if self.schedule.lookback_days is None
            else self.schedule.lookback_days,
            per_run=per_run,
        )
        stale_enabled = self.stale.sensor_enabled()
        configs = self.apps or [None]
        apps = [
            App(
                warehouse,
                ENV_APP_NAME if c is None else c.key_name,
                DEFAULT_TOKEN_ENV if c is None else c.token_env,
            )
            for c in configs
        ]
        resources = {
            warehouse.resource: warehouse_resource(
                backend=self.store.backend,
                duckdb_path=self.store.duckdb_path,
                parquet_dir=self.store.parquet_dir,
                table_uri=self.store.table_uri,
            )
        }
        assets, checks, jobs, schedules, sensors = [build_views_asset(warehouse, apps)], [], [], [], []
        for app, config in zip(apps, configs, strict=True):
            resources[app.resource] = api_resource(
                token_env=app.token_env,
                account_id=config and config.account_id,
                app_id=config and config.app_id,
                base_url=config and config.base_url,
            )
            assets += build_app_assets(app)
            app_checks = build_app_checks(app)
            checks += app_checks.all
            app_jobs = build_app_jobs(app, app_checks, schedule)
            app_stale = build_app_stale(app, enabled=stale_enabled, policy=self.stale.policy)
            jobs += [app_jobs.sync, app_jobs.checks, app_jobs.freshness, app_stale.job]
            schedules += app_jobs.schedules
            sensors.append(app_stale.sensor)
        return dg.Definitions(
            assets=assets,
            asset_checks=checks,
            jobs=jobs,
            schedules=schedules,
            sensors=sensors,
            resources=resources,
        )


__all__ = [
    "RealtimeKitApp",
    "RealtimeKitComponent",
    "RealtimeKitSchedule",
    "RealtimeKitStale",
    "RealtimeKitStore",
]
