"""The `sync_runs` row of a commit or a failed run: the sync's `SyncRun`, stamped with the store's app, and
what it leaves out filled from the stages. Both backends write it with this one function."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from rtk_pipeline.schemas import SYNC_RUNS_SCHEMA
from rtk_pipeline.secrets import scrub_text
from rtk_pipeline.store.records import SyncRun
from rtk_pipeline.store.stage import ParquetStage
from rtk_pipeline.utc import as_utc

_TIMESTAMP_COLUMNS = ("window_start", "window_end", "started_at", "finished_at")


def _instant(value: datetime | date | None) -> datetime | None:
    """A day as its UTC midnight, an instant in UTC."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return as_utc(value)


def of_app(sync_run: SyncRun | None, app_id: str) -> SyncRun:
    """The run stamped with the store's app (a run of another app is refused)."""
    run = sync_run or SyncRun()
    if run.app_id is not None and run.app_id != app_id:
        raise ValueError(f"a sync_runs row of app {run.app_id!r} cannot be recorded by a store of {app_id!r}")
    return dataclasses.replace(run, app_id=app_id)


def sync_run_table(run: SyncRun, stages: Sequence[ParquetStage], outcome: str, *, rows: int) -> pa.Table:
    """One sync_runs row from the run (stamped by `of_app`); what it leaves out is filled from the
    stages."""
    if not run.app_id:
        raise ValueError("a sync_runs row names its app_id (the store's)")
    data = [s for s in stages if s.table != "rejected_records"]
    days = sorted(frozenset[date]().union(*(s.days for s in data))) if data else []
    finished = datetime.now(UTC)
    row: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "table_name": ",".join(sorted({s.table for s in data})) or "unknown",
        "window_start": days[0] if days else None,
        "window_end": days[-1] + timedelta(days=1) if days else None,
        "days": len(days),
        "rows": rows,
        "rejected": sum(s.rows_written for s in stages if s.table == "rejected_records"),
        "finished_at": finished,
        "outcome": outcome,
    }
    row.update({k: v for k, v in dataclasses.asdict(run).items() if v is not None})
    for column in _TIMESTAMP_COLUMNS:
        row[column] = _instant(row.get(column))
    if row.get("seconds") is None and row.get("started_at") is not None:
        row["seconds"] = (row["finished_at"] - row["started_at"]).total_seconds()
    row["error"] = scrub_text(None if row.get("error") is None else str(row["error"]))
    return pa.Table.from_pylist([row], schema=SYNC_RUNS_SCHEMA)


def failed_run_table(run: SyncRun) -> pa.Table:
    """The 'failed' sync_runs row of a run (stamped by `of_app`): no stages, no rows."""
    return sync_run_table(dataclasses.replace(run, outcome="failed"), [], "failed", rows=0)
