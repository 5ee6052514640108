"""Jobs and schedules per app: the daily sync of recent days, and the freshness checks on their own clock."""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations of
# decorated functions at definition time and rejects them as strings.

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    AssetSelection,
    AutomationCondition,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from dagster_defs.checks import AppChecks, freshness_cron
from dagster_defs.partitions import chunk_days
from dagster_defs.scope import App
from rtk_pipeline.settings import SyncSettings

# What `define_asset_job` returns: Dagster does not export its type's name.
AssetJob = Any

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class ScheduleSettings:
    """The daily sync of one component: on or off, when; how far back it re-syncs, in runs of how many
    days, and the freshness deadline come from its sync settings."""

    enabled: bool
    cron: str
    sync: SyncSettings


@dataclass(frozen=True)
class AppJobs:
    sync: AssetJob
    checks: AssetJob
    freshness: AssetJob
    schedules: list[ScheduleDefinition]


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the partitions first..last (what a multi-run backfill does)."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def schedule_windows(now: datetime, lookback: int, per_run: int, first_day: date) -> list[tuple[date, date]]:
    """Yesterday (UTC) and the `lookback` days before it, clipped to the first partition and cut into
    runs of at most `per_run` days."""
    last = now.astimezone(UTC).date() - timedelta(days=1)
    first = max(last - timedelta(days=lookback), first_day)
    return chunk_days(first, last, per_run)


def cron_condition(cron: str, lookback_days: int) -> AutomationCondition:
    """`on_cron` over the days the schedule would sync: yesterday and the `lookback_days` before it
    (plain `on_cron` only ever considers the latest partition)."""
    window = AutomationCondition.in_latest_time_window(timedelta(days=lookback_days + 1))
    return AutomationCondition.on_cron(cron, "UTC").replace("in_latest_time_window", window)


def build_app_jobs(app: App, checks: AppChecks, settings: ScheduleSettings) -> AppJobs:
    """One app's jobs and schedules: its runs never wait for, or fail with, another app's."""
    tables = [app.key("meetings"), app.key("participants")]
    sync = define_asset_job(
        app.named("sync_job"),
        selection=AssetSelection.assets(*tables, app.scope.views_key),
        description=f"App `{app.name}`: meetings, then participants, then the analyst views, with every "
        "check, for a range of days.",
    )
    checks_job = define_asset_job(
        app.named("checks_job"),
        selection=AssetSelection.checks_for_assets(*tables),
        description=f"App `{app.name}`: every check of the synced tables for a range of days, no sync.",
    )
    freshness = define_asset_job(
        app.named("freshness_job"),
        selection=AssetSelection.checks(*checks.freshness),
        description=f"App `{app.name}`: only the freshness checks (is the most recent closed day there?).",
    )
    first_day = app.scope.partitions.start.date()
    status = DefaultScheduleStatus.RUNNING if settings.enabled else DefaultScheduleStatus.STOPPED
    lookback, per_run = settings.sync.lookback_days, settings.sync.days_per_run

    @schedule(
        name=app.named("daily_sync"),
        job=sync,
        cron_schedule=settings.cron,
        execution_timezone="UTC",
        default_status=status,
        description=(
            f"App `{app.name}`, on `{settings.cron}` (UTC): sync yesterday plus {lookback} "
            "earlier days (participants keep joining old meetings, meetings change status), in ranged "
            f"runs of at most {per_run} days."
        ),
    )
    def daily_sync(context: ScheduleEvaluationContext):
        now = context.scheduled_execution_time or datetime.now(UTC)
        windows = schedule_windows(now, lookback, per_run, first_day)
        if not windows:
            return SkipReason(f"no closed UTC day since the first partition ({first_day})")
        return [RunRequest(run_key=f"{a}...{b}", tags=range_tags(a, b)) for a, b in windows]

    @schedule(
        name=app.named("freshness"),
        job=freshness,
        cron_schedule=freshness_cron(settings.sync.freshness_grace_hours),
        execution_timezone="UTC",
        default_status=status,
        description="Shortly after the freshness deadline (`freshness_grace_hours` past midnight UTC).",
    )
    def freshness_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest()

    return AppJobs(sync, checks_job, freshness, [daily_sync, freshness_schedule])
