"""The refresh's DuckDB writes (issue 19): replace the participants of some meetings, and stamp when their
participants were listed, in the caller's transaction; the rest of each day is untouched."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import duckdb
import pyarrow as pa

from rtk_pipeline.schemas import TABLES
from rtk_pipeline.store.duckdb_file.commit import replace_days


def replace_participants(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    meeting_ids: Sequence[str],
    listed_at: datetime,
    app_id: str,
) -> set[tuple[str, date]]:
    """Every stored participant of `meeting_ids` (of `app_id`) gives way to `rows`; the meetings are
    stamped. Returns the (table, day) pairs changed."""
    ids = list(meeting_ids)
    con.execute("DELETE FROM participants WHERE app_id = ? AND list_contains(?, meeting_id)", [app_id, ids])
    con.register("_rtk_listed", rows)
    try:
        replace_days(con, TABLES["participants"], "_rtk_listed", frozenset(), app_id, tiebreak="")
    finally:
        con.unregister("_rtk_listed")
    days = mark_synced(con, ids, listed_at, app_id)
    return {(table, day) for day in days for table in ("meetings", "participants")}


def mark_synced(
    con: duckdb.DuckDBPyConnection, meeting_ids: Sequence[str], listed_at: datetime, app_id: str
) -> set[date]:
    """Set participants_synced_at of those meetings; returns their days. One UPDATE joined to the ids
    (a hash join), not `list_contains(<every id>, id)` per row and a second scan for the days: at W1's
    20,000 meetings that added ~5 MB to a write's peak (RESULTS.md)."""
    listed = pa.table({"id": pa.array(sorted(set(meeting_ids)), pa.string())})
    con.register("_rtk_listed_ids", listed)
    try:
        rows = con.execute(
            "UPDATE meetings AS m SET participants_synced_at = ? FROM _rtk_listed_ids AS l "
            "WHERE m.app_id = ? AND m.id = l.id RETURNING m.created_day",
            [listed_at, app_id],
        ).fetchall()
    finally:
        con.unregister("_rtk_listed_ids")
    return {day for (day,) in rows}
