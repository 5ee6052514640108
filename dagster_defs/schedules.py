"""Jobs and schedules: the daily sync of recent days, and the freshness checks on their own clock."""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations of
# decorated functions at definition time and rejects them as strings.

from datetime import UTC, date, datetime, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from dagster_defs.assets import rtk_analyst_views, rtk_meetings, rtk_participants
from dagster_defs.checks import FRESHNESS_GRACE_HOURS, freshness_checks
from dagster_defs.partitions import chunk_days, daily_partitions, lookback_days, max_partitions_per_run

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

rtk_sync_job = define_asset_job(
    "rtk_sync_job",
    selection=AssetSelection.assets(rtk_meetings, rtk_participants, rtk_analyst_views),
    description="Meetings, then participants, then the analyst views, with every check, for a range of days.",
)

rtk_checks_job = define_asset_job(
    "rtk_checks_job",
    selection=AssetSelection.checks_for_assets(rtk_meetings, rtk_participants),
    description="Every check of the synced tables for a range of days, no sync: re-judge what is stored.",
)

rtk_freshness_job = define_asset_job(
    "rtk_freshness_job",
    selection=AssetSelection.checks(*freshness_checks),
    description="Only the freshness checks: is the most recent closed day there?",
)


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags that make one run cover the partitions first..last (what a multi-run backfill does)."""
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def schedule_windows(now: datetime, lookback: int, per_run: int) -> list[tuple[date, date]]:
    """Yesterday (UTC) and the `lookback` days before it, clipped to the first partition and cut into
    runs of at most `per_run` days."""
    last = now.astimezone(UTC).date() - timedelta(days=1)
    first = max(last - timedelta(days=lookback), daily_partitions.start.date())
    return chunk_days(first, last, per_run)


@schedule(
    job=rtk_sync_job,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Every day at 00:15 UTC: sync yesterday plus RTK_LOOKBACK_DAYS earlier days (participants keep "
        "joining old meetings, meetings change status), in ranged runs of at most "
        "RTK_MAX_PARTITIONS_PER_RUN days."
    ),
)
def rtk_daily_sync_schedule(context: ScheduleEvaluationContext):
    now = context.scheduled_execution_time or datetime.now(UTC)
    windows = schedule_windows(now, lookback_days(), max_partitions_per_run())
    if not windows:
        return SkipReason(f"no closed UTC day since the first partition ({daily_partitions.start.date()})")
    return [RunRequest(run_key=f"{first}...{last}", tags=range_tags(first, last)) for first, last in windows]


@schedule(
    job=rtk_freshness_job,
    cron_schedule=f"5 {int(FRESHNESS_GRACE_HOURS) % 24} * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Shortly after the freshness deadline (RTK_FRESHNESS_GRACE_HOURS past midnight UTC).",
)
def rtk_freshness_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    return RunRequest()
