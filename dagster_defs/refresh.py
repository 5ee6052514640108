"""Dagster wiring of the refresh (`rtk_pipeline.refresh`): per app a job in its token's pool that calls
`refresh`, a daily schedule after the daily sync, and the asset check `participants_fresh`.

A refresh changes rows on whichever days its meetings were created, which a run over a partition range
cannot name in advance, so the job is an op job, not an asset job: the op reports a materialization of
each day it changed (both tables of the app) once the rows are committed. That is Dagster's way to record
runtime-discovered partitions of assets another job owns: the UI's partition history shows the refresh
run as the day's latest materialization, and whatever watches those partitions sees them change. Each
one carries the day's stored row count, re-read after the refresh, and the completeness evidence of the
day's last sync (its listing figures), which still holds because a refresh replaces rows by meeting id;
the per-day checks read both. Days no sync ever materialized (today, before the first partition, or not
yet backfilled) are not claimed: they are listed in the op's metadata instead.
"""

# No `from __future__ import annotations`: Dagster reads the config, context and resource annotations
# of decorated functions at definition time and rejects them as strings.

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import dagster as dg
from pydantic import ConfigDict, Field

from dagster_defs.checks import run_totals
from dagster_defs.resources import RealtimeKitResource, app_resources
from dagster_defs.scope import App
from rtk_pipeline import refresh as rtk_refresh
from rtk_pipeline.errors import RTKError
from rtk_pipeline.settings import PARTICIPANTS_MAX_AGE_DAYS, RefreshSettings
from rtk_pipeline.store import Store

_OP = "refresh"  # the op's name within an app (`App.named`)
CHECK = "participants_fresh"
TABLES = ("meetings", "participants")
# Keys of a day's sync that show its rows as they were then: not carried into a refresh's report.
_STALE_KEYS = ("preview",)
ROW_COUNT = "dagster/partition_row_count"


class RealtimeKitRefresh(dg.Resolvable, dg.Model):
    """The daily refresh of old meetings and their participants (one job and schedule per app), within a
    request budget."""

    model_config = ConfigDict(extra="forbid")

    enabled: Annotated[
        bool,
        dg.Resolver.default(description="Ship the refresh schedules running (the UI toggle overrides it)."),
    ] = True
    cron: Annotated[
        str, dg.Resolver.default(description="When, in UTC; after the daily sync, which it must not starve.")
    ] = "45 1 * * *"
    max_requests: Annotated[
        int | None,
        dg.Resolver.default(
            description="Requests per run, retries included. Default: what the token's rate limit allows "
            "in 30 minutes."
        ),
    ] = Field(default=None, ge=1)


class RefreshConfig(dg.Config):
    """Run config of the refresh job."""

    max_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests this run may send, retries included; unset = the component's `refresh."
        "max_requests`, else what the token's rate limit allows in 30 minutes.",
    )


@dataclass(frozen=True)
class AppRefresh:
    job: dg.JobDefinition
    schedule: dg.ScheduleDefinition
    check: dg.AssetChecksDefinition


def refresh_settings(realtimekit: RealtimeKitResource) -> RefreshSettings:
    """The environment's refresh settings with the token's budget as this app's client resource has it,
    so the default budget follows the component's rate limit."""
    return dataclasses.replace(
        RefreshSettings.from_env(),
        rate_limit_requests=realtimekit.rate_limit_requests,
        rate_limit_period_s=realtimekit.rate_limit_period_s,
    )


def build_app_refresh(app: App, attributes: RealtimeKitRefresh) -> AppRefresh:
    """One app's refresh job (its token's pool), its daily schedule and the `participants_fresh` check."""
    job = dg.GraphDefinition(
        name=app.named("refresh_job"), node_defs=[_refresh_op(app, attributes.max_requests)]
    ).to_job(
        description=f"App `{app.name}`: bring old meetings and the participants of ACTIVE meetings up to "
        "date within a request budget (`rtk-pipeline refresh`).",
        tags={"rtk/feature": "refresh", "rtk/app": app.name},
    )

    schedule = dg.ScheduleDefinition(
        name=app.named("daily_refresh"),
        job=job,
        cron_schedule=attributes.cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING
        if attributes.enabled
        else dg.DefaultScheduleStatus.STOPPED,
        description=f"App `{app.name}`, on `{attributes.cron}` (UTC), after the daily sync: one budgeted "
        "refresh; successive runs reach every ACTIVE meeting.",
    )
    return AppRefresh(job, schedule, _fresh_check(app))


def _refresh_op(app: App, max_requests: int | None) -> dg.OpDefinition:
    """The op: `refresh` for one app, its figures as metadata, the days it changed as materializations,
    then `participants_fresh` judged on what it left."""

    @dg.op(
        name=app.named(_OP),
        pool=app.pool,
        required_resource_keys={app.resource, app.store_resource},
        description="Re-list meetings and ACTIVE meetings' participants, replacing them by id, within a "
        "request budget.",
    )
    def refresh(context: dg.OpExecutionContext, config: RefreshConfig) -> dg.Output[dict]:
        realtimekit, store = app_resources(context, app)
        settings = refresh_settings(realtimekit)
        budget = config.max_requests or max_requests
        try:
            with realtimekit.client() as client:
                report = rtk_refresh.refresh(client, store, max_requests=budget, settings=settings)
        except RTKError as exc:
            # One line, no retry: the library kept what was stored, and the next run starts over.
            raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from None
        figures = report.as_json()
        context.log.info("refresh: %s", figures)
        skipped = _report_days(context, app, store, report.changed_days)
        # Dagster accepts a check evaluation here (it routes it by type) though its annotation omits it.
        context.log_event(_evaluation(app, rtk_refresh.plan(store, settings=settings), settings))  # type: ignore[arg-type]
        metadata: dict[str, Any] = {
            name: dg.MetadataValue.int(value) for name, value in figures.items() if isinstance(value, int)
        }
        metadata["oldest_active_sync"] = dg.MetadataValue.text(figures["oldest_active_sync"] or "(none)")
        metadata["changed_days"] = dg.MetadataValue.json([d.isoformat() for d in report.changed_days])
        metadata["changed_days_not_materialized"] = dg.MetadataValue.json(skipped)
        metadata["json"] = dg.MetadataValue.json(figures)
        return dg.Output(figures, metadata=metadata)

    return refresh


def _report_days(context: dg.OpExecutionContext, app: App, store: Store, days: tuple[date, ...]) -> list[str]:
    """Report a materialization of each table for each changed day a sync of it materialized before;
    return the days left out (not a partition, or never synced)."""
    if not days:
        return []
    keys = sorted(d.isoformat() for d in days if app.scope.partitions.has_partition_key(d.isoformat()))
    reported: set[str] = set()
    for table in TABLES:
        last = _last_materializations(context.instance, app.key(table), keys)
        counts = store.rows_by_day(table, min(days), max(days))
        for key in sorted(last):
            synced, totals = last[key]
            metadata = {k: v for k, v in synced.items() if k not in _STALE_KEYS}
            metadata[ROW_COUNT] = dg.MetadataValue.int(counts.get(date.fromisoformat(key), 0))
            metadata["refreshed_by"] = dg.MetadataValue.text(context.run_id)
            if totals:  # the sync run's listing totals, where the checks look for them: just before
                context.log_event(dg.AssetObservation(asset_key=app.key(table), metadata=totals))
            context.log_event(
                dg.AssetMaterialization(asset_key=app.key(table), partition=key, metadata=metadata)
            )
        reported |= set(last)
    return sorted({d.isoformat() for d in days} - reported)


def _last_materializations(
    instance: dg.DagsterInstance, asset: dg.AssetKey, keys: list[str]
) -> dict[str, tuple[dict[str, dg.MetadataValue], dict]]:
    """The latest materialization's metadata of each of these partitions that has one, with the totals of
    the run that wrote it (a query each: a shared limit could cut off a partition behind another's many
    newer materializations)."""
    out: dict[str, tuple[dict[str, dg.MetadataValue], dict]] = {}
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[key]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
        if materialization is not None:
            totals = run_totals(instance, asset, records[0].run_id, records[0].storage_id)
            out[key] = (dict(materialization.metadata), totals)
    return out


def _evaluation(
    app: App, plan: rtk_refresh.RefreshPlan, settings: RefreshSettings
) -> dg.AssetCheckEvaluation:
    """`participants_fresh` as an evaluation: WARN with the count of ACTIVE meetings whose participants were
    last listed more than the max age ago (or never)."""
    max_age = settings.participants_max_age_days
    behind = plan.active_behind
    oldest = plan.oldest_active_sync.isoformat() if plan.oldest_active_sync else "(none)"
    said = (
        f"{behind} of {plan.active_meetings} ACTIVE meeting(s) have participants older than {max_age} day(s) "
        f"({PARTICIPANTS_MAX_AGE_DAYS.name}); a full refresh cycle takes {plan.cycle_runs} run(s)"
    )
    return dg.AssetCheckEvaluation(
        asset_key=app.key("participants"),
        check_name=CHECK,
        passed=behind == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if behind == 0 else said,
        metadata={
            "active_behind": dg.MetadataValue.int(behind),
            "active_meetings": dg.MetadataValue.int(plan.active_meetings),
            "max_age_days": dg.MetadataValue.int(max_age),
            "oldest_active_sync": dg.MetadataValue.text(oldest),
            "cycle_requests": dg.MetadataValue.int(plan.cycle_requests),
            "cycle_runs": dg.MetadataValue.int(plan.cycle_runs),
        },
    )


def _fresh_check(app: App) -> dg.AssetChecksDefinition:
    """The check on the participants asset; it runs with the sync and checks jobs, and the refresh op
    reports it too, judged right after the refresh."""

    @dg.asset_check(
        asset=app.key("participants"),
        name=CHECK,
        blocking=False,
        required_resource_keys={app.resource, app.store_resource},
        description="WARNs when ACTIVE meetings' participants were last listed more than "
        f"{PARTICIPANTS_MAX_AGE_DAYS.name} days ago (default {PARTICIPANTS_MAX_AGE_DAYS.default}), and says "
        "how many: the refresh job catches them up.",
    )
    def fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        realtimekit, store = app_resources(context, app)
        settings = refresh_settings(realtimekit)
        evaluation = _evaluation(app, rtk_refresh.plan(store, settings=settings), settings)
        return dg.AssetCheckResult(
            passed=evaluation.passed,
            severity=evaluation.severity,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return fresh
