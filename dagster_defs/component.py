"""`RealtimeKitComponent`: the whole pipeline as a Dagster component, for one or several apps.

Drop it into a `dg` project with a `defs.yaml` (`type: dagster_defs.RealtimeKitComponent`; `dg scaffold
defs dagster_defs.RealtimeKitComponent rtk --app-id ... --account-id ... --token-env ...` writes one), or
load it from Python in a defs folder. Every attribute has a constant default and nothing is read from the
environment when the module is imported or the component built: a `defs.yaml` passes what lives in the
environment as `{{ env.X }}`. This project's own `definitions.py` is one instance, `from_env()`, which
reads the variables of `rtk_pipeline.settings` (ARCHITECTURE.md) into attributes, so there is one code path.

Each app gets its own assets (`<key_prefix>/<app>/meetings` and `.../participants`), checks, jobs,
schedules (or automation conditions) and stale sensor, and its token its own concurrency pool: an app's
partitions succeed or fail on their own and one app's failure never blocks another's runs. The analyst
views span the warehouse. The one exception to "explicit values" is the token: `token_env` names the
variable that holds it, read by the process that runs a step, so the token never enters config, the UI
or run storage (a `{{ env.X }}` value would).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

import dagster as dg
from pydantic import ConfigDict, Field, field_validator

from dagster_defs.assets import build_app_assets, build_views_asset
from dagster_defs.attributes import (
    COMPONENT_VARIABLES,
    Attributes,
    RealtimeKitApp,
    RealtimeKitSchedule,
    RealtimeKitStale,
    RealtimeKitStore,
    doc,
    doc_of,
)
from dagster_defs.checks import build_app_checks
from dagster_defs.partitions import backfill_policy, daily_partitions
from dagster_defs.refresh import RealtimeKitRefresh, build_app_refresh
from dagster_defs.resources import api_resource, store_resource
from dagster_defs.scaffold import RealtimeKitScaffolder
from dagster_defs.schedules import AssetJob, ScheduleSettings, build_app_jobs, cron_condition
from dagster_defs.scope import DEFAULT_TOKEN_ENV, App, ComponentScope, slug
from dagster_defs.stale import build_app_stale
from rtk_pipeline.settings import (
    ACCOUNT_ID,
    API_TOKEN,
    APP_ID,
    BASE_URL,
    DEFAULT_WORKERS,
    Env,
    SyncSettings,
    Variable,
)

# The app `from_env` reads (RTK_APP_ID) is filed under this asset-key segment, so its keys do not change
# with the app id.
ENV_APP_NAME = "default"
_V = COMPONENT_VARIABLES
Automation = Literal["schedule", "condition", "none"]


@dataclass
class _Parts:
    """What `build_defs` collects, app by app."""

    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    checks: list[dg.AssetChecksDefinition] = field(default_factory=list)
    jobs: list[dg.JobDefinition | AssetJob] = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)


@dg.scaffold_with(RealtimeKitScaffolder)
class RealtimeKitComponent(dg.Component, Attributes):
    """Cloudflare RealtimeKit meetings and participants, synced per UTC day into DuckDB + Parquet (or Delta
    Lake), for one or several apps in one warehouse, with checks, daily schedules and a stale sensor."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    VARIABLES: ClassVar[dict[str, Variable[Any]]] = COMPONENT_VARIABLES
    MINIMUMS: ClassVar[dict[str, float]] = {
        "days_per_run": 1,
        "step_max_retries": 0,
        "step_retry_delay_s": 0,
        "freshness_grace_hours": 0,
        "rate_limit_requests": 1,
        "rate_limit_period_s": 0.001,
        "participant_workers": 1,
    }

    apps: Annotated[
        list[RealtimeKitApp] | None,
        doc(
            f"The apps. Default: one app, `{ENV_APP_NAME}`, whose ids are read when a run starts from "
            f"{ACCOUNT_ID.name} and {APP_ID.name}, and its token from {API_TOKEN.name}."
        ),
    ] = None
    partitions_start: Annotated[str, doc_of(_V["partitions_start"])] = str(_V["partitions_start"].default)
    days_per_run: Annotated[int, doc_of(_V["days_per_run"])] = _V["days_per_run"].default
    step_max_retries: Annotated[int, doc_of(_V["step_max_retries"])] = _V["step_max_retries"].default
    step_retry_delay_s: Annotated[float, doc_of(_V["step_retry_delay_s"])] = _V["step_retry_delay_s"].default
    freshness_grace_hours: Annotated[int, doc_of(_V["freshness_grace_hours"])] = _V[
        "freshness_grace_hours"
    ].default
    rate_limit_requests: Annotated[int, doc_of(_V["rate_limit_requests"])] = _V["rate_limit_requests"].default
    rate_limit_period_s: Annotated[float, doc_of(_V["rate_limit_period_s"])] = _V[
        "rate_limit_period_s"
    ].default
    participant_workers: Annotated[
        int,
        doc(
            f"Most meetings whose participants are listed at once (fewer while more list no faster). "
            f"Default: {DEFAULT_WORKERS}."
        ),
    ] = DEFAULT_WORKERS
    key_prefix: Annotated[list[str], doc("Asset-key prefix of every asset.")] = ["realtimekit"]
    group_name: Annotated[str, doc("Asset group of every asset.")] = "realtimekit"
    owners: Annotated[list[str], doc("Owners of every asset: emails or `team:name`.")] = []
    tags: Annotated[dict[str, str], doc("Tags on every asset.")] = {}
    automation: Annotated[
        Automation,
        doc(
            "How the daily sync is started: `schedule` (a schedule per app), `condition` (an "
            "AutomationCondition on the assets: on_cron over the lookback days), or `none` (no schedules "
            "and no sensors at all)."
        ),
    ] = "schedule"
    store: Annotated[RealtimeKitStore, doc("Where the tables live.")] = Field(
        default_factory=RealtimeKitStore
    )
    schedule: Annotated[RealtimeKitSchedule, doc("The daily sync.")] = Field(
        default_factory=RealtimeKitSchedule
    )
    stale: Annotated[RealtimeKitStale, doc("Stale-meeting deactivation.")] = Field(
        default_factory=RealtimeKitStale
    )
    refresh: Annotated[RealtimeKitRefresh, doc("The daily refresh of old meetings and participants.")] = (
        Field(default_factory=RealtimeKitRefresh)
    )

    @field_validator("partitions_start")
    @classmethod
    def _a_day(cls, value: str) -> str:
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
                raise ValueError("apps is empty: list at least one app, or leave it out for the default one")
            for what, values in (
                ("app_id", [a.app_id for a in apps]),
                ("name", [a.name or slug(a.app_id) for a in apps]),
            ):
                twice = sorted({v for v in values if values.count(v) > 1})
                if twice:
                    raise ValueError(f"apps: each {what} may appear once, {', '.join(twice)} appear(s) twice")
        return apps

    @classmethod
    def from_env(cls, env: Env = None, **attributes: Any) -> RealtimeKitComponent:
        """The component the variables of `rtk_pipeline.settings` describe (the process environment by
        default), read now: what `definitions.py` ships. `attributes` replace what the environment says."""
        values: dict[str, Any] = {
            **cls.env_attributes(env),
            "store": RealtimeKitStore.env_attributes(env),
            "schedule": RealtimeKitSchedule.env_attributes(env),
            "stale": RealtimeKitStale.env_attributes(env),
        }
        if APP_ID.is_set(env):
            app = {"app_id": APP_ID.read(env), "name": ENV_APP_NAME, "base_url": BASE_URL.read(env)}
            values["apps"] = [{**app, "account_id": ACCOUNT_ID.read(env) or None}]
        return cls.model_validate({**values, **attributes})

    def sync_settings(self) -> SyncSettings:
        return SyncSettings(
            workers=self.participant_workers,
            days_per_run=self.days_per_run,
            partitions_start=date.fromisoformat(self.partitions_start),
            lookback_days=self.schedule.lookback_days,
            step_max_retries=self.step_max_retries,
            step_retry_delay_s=self.step_retry_delay_s,
            freshness_grace_hours=self.freshness_grace_hours,
        )

    def build_defs(self, context: dg.ComponentLoadContext | None = None) -> dg.Definitions:
        """Everything of every app. `context` is unused: the component builds the same in Python."""
        sync = self.sync_settings()
        scope = self._scope(sync)
        apps = self._apps(scope)
        parts = _Parts(assets=[build_views_asset(scope, [app for app, _ in apps])])
        for app, _ in apps:
            self._add_app(parts, app, sync)
        resources: dict[str, Any] = {scope.resource: store_resource(scope.store)}
        for app, config in apps:
            resources[app.resource] = api_resource(
                token_env=app.token_env,
                account_id=config.account_id if config else None,
                app_id=config.app_id if config else None,
                base_url=config.base_url if config else BASE_URL.default,
                rate_limit=(self.rate_limit_requests, self.rate_limit_period_s),
                participant_workers=self.participant_workers,
            )
        return dg.Definitions(
            assets=parts.assets,
            asset_checks=parts.checks,
            jobs=parts.jobs,
            schedules=parts.schedules,
            sensors=parts.sensors,
            resources=resources,
        )

    def _add_app(self, parts: _Parts, app: App, sync: SyncSettings) -> None:
        """The one place an app's pieces are built: assets, checks, jobs, schedules, stale sensor, refresh."""
        automated = self.automation == "condition"
        parts.assets += build_app_assets(app, sync)
        app_checks = build_app_checks(app, sync.freshness_grace_hours, automated=automated)
        parts.checks += app_checks.all
        schedule = ScheduleSettings(enabled=self.schedule.enabled, cron=self.schedule.cron, sync=sync)
        app_jobs = build_app_jobs(app, app_checks, schedule)
        app_stale = build_app_stale(app, sensor=self.stale.sensor(), policy=self.stale.policy())
        app_refresh = build_app_refresh(app, self.refresh)
        parts.checks.append(app_refresh.check)
        parts.jobs += [app_jobs.sync, app_jobs.checks, app_jobs.freshness, app_stale.job, app_refresh.job]
        if self.automation == "schedule":
            parts.schedules += app_jobs.schedules
        if self.automation != "none":
            # The refresh is no asset's automation condition: it keeps its schedule under `condition` too.
            parts.schedules.append(app_refresh.schedule)
            parts.sensors.append(app_stale.sensor)

    def _scope(self, sync: SyncSettings) -> ComponentScope:
        automation = None
        if self.automation == "condition":
            with warnings.catch_warnings():
                # Automation conditions are "beta" in Dagster 1.13; choosing them is the point here.
                warnings.simplefilter("ignore", dg.BetaWarning)
                automation = cron_condition(self.schedule.cron, sync.lookback_days)
        return ComponentScope(
            prefix=tuple(self.key_prefix),
            group=self.group_name,
            partitions=daily_partitions(sync.partitions_start),
            backfill=backfill_policy(sync.days_per_run),
            store=self.store.settings(),
            owners=tuple(self.owners),
            tags=tuple(sorted(self.tags.items())),
            automation=automation,
        )

    def _apps(self, scope: ComponentScope) -> list[tuple[App, RealtimeKitApp | None]]:
        """Each app with its attributes; without `apps`, the default app, read when a run starts."""
        if not self.apps:
            return [(App(scope, ENV_APP_NAME, DEFAULT_TOKEN_ENV), None)]
        return [(App(scope, c.name or slug(c.app_id), c.token_env), c) for c in self.apps]


__all__ = [
    "RealtimeKitApp",
    "RealtimeKitComponent",
    "RealtimeKitRefresh",
    "RealtimeKitSchedule",
    "RealtimeKitStale",
    "RealtimeKitStore",
]
