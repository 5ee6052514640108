"""UTC daily partitions shared by every RealtimeKit asset, and the backfill chunking that goes with them.

A partition is one *complete* UTC day of meeting creation (`end_offset=0`): today's partition only appears
once the day is over, so a materialized partition never silently means "the first few hours". Participants
are partitioned by their meeting's creation day, so both tables share this definition and line up 1:1.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from dagster import BackfillPolicy, DailyPartitionsDefinition


def daily_partitions(start: date) -> DailyPartitionsDefinition:
    """Complete UTC days from `start` on (a component's `partitions_start`, else RTK_PARTITIONS_START)."""
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone="UTC", fmt="%Y-%m-%d", end_offset=0
    )


def backfill_policy(per_run: int) -> BackfillPolicy:
    """Ranged runs of at most `per_run` days (RTK_MAX_PARTITIONS_PER_RUN): a year becomes ~12 runs, each one
    wide listing."""
    return BackfillPolicy.multi_run(max_partitions_per_run=per_run)


def window_days(start: datetime, end: datetime) -> tuple[date, date]:
    """A partition time window [start, end) as the inclusive UTC day range the library takes."""
    return start.date(), (end - timedelta(days=1)).date()


def chunk_days(first: date, last: date, per_run: int) -> list[tuple[date, date]]:
    """first..last cut into consecutive inclusive ranges of at most `per_run` days (one run each)."""
    chunks = []
    while first <= last:
        end = min(first + timedelta(days=per_run - 1), last)
        chunks.append((first, end))
        first = end + timedelta(days=1)
    return chunks


def partition_day(key: str) -> date:
    return date.fromisoformat(key)
