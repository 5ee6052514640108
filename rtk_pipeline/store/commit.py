"""The commit's SQL: replace whole days of one app's rows of a table with staged rows, deduplicated by key,
in the caller's transaction; rejects follow their day; the `sync_runs` row is built from the caller's dict
and the stages. Every statement is confined to the committing store's app (`app_id = ?`): a day of app A is
replaced without touching app B's rows of that day.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from rtk_pipeline import normalize
from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.secrets import scrub_text
from rtk_pipeline.store.connection import days_sql, files_sql, lit, q
from rtk_pipeline.store.stage import ParquetStage
from rtk_pipeline.store.tables import APP_ID, SYNC_RUNS_SCHEMA, TABLES, TableSpec

# Among staged duplicates with equal updated_at and synced_at, the row written last wins (part files sort in
# write order, and stage folders in creation order).
STAGED_TIEBREAK = ", filename DESC, file_row_number DESC"


def describe(stages: list[ParquetStage]) -> str:
    tables = sorted({stage.table for stage in stages})
    days = sorted(frozenset().union(*(stage.days for stage in stages)))
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    return f"{', '.join(tables)} for {span}"


def ready(stages: Sequence[ParquetStage], app_id: str | None = None) -> list[ParquetStage]:
    """The stages and their companion reject stages, each checked uncommitted, of the committing store's
    app (when `app_id` is given) and flushed to its parts (all of them dropped if one is not: a commit never
    half-uses a stage)."""
    everything = list(dict.fromkeys(part for stage in stages for part in stage._stages()))
    try:
        for stage in everything:
            if stage.committed or not stage._cleanup.alive:
                raise WarehouseError(f"{stage!r} is already committed or discarded")
            if app_id is not None and stage.app_id != app_id:
                raise ValueError(f"{stage!r} holds rows of app {stage.app_id!r}; commit it to that app's")
            stage._flush()
    except BaseException:
        for stage in everything:
            stage.discard()
        raise
    return everything


def staged_source(stages: list[ParquetStage]) -> str:
    files = [part for stage in stages for part in stage.parts()]
    return f"read_parquet({files_sql(files)}, filename = true, file_row_number = true)"


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return normalize.parse_timestamp(value)


_TIMESTAMP_COLUMNS = ("window_start", "window_end", "started_at", "finished_at")


def of_app(sync_run: Mapping[str, Any], app_id: str) -> dict[str, Any]:
    """The caller's sync_runs fields stamped with the store's app (another app's id is refused)."""
    given = sync_run.get(APP_ID)
    if given is not None and given != app_id:
        raise ValueError(f"a sync_runs row of app {given!r} cannot be recorded by a store of {app_id!r}")
    return {**sync_run, APP_ID: app_id}


def sync_run_table(sync_run: dict, stages: list[ParquetStage], outcome: str, *, rows: int) -> pa.Table:
    """One sync_runs row from the caller's dict (which names its app_id: the store's); what it leaves out
    is filled from the stages."""
    unknown = set(sync_run) - set(SYNC_RUNS_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown sync_runs field(s): {', '.join(sorted(unknown))}")
    if not sync_run.get("app_id"):
        raise ValueError("a sync_runs row names its app_id (the store's)")
    data = [s for s in stages if s.table != "rejected_records"]
    days = sorted(frozenset().union(*(s.days for s in data))) if data else []
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
    row.update({k: v for k, v in sync_run.items() if v is not None})
    for column in _TIMESTAMP_COLUMNS:
        row[column] = _utc(row.get(column))
    if row.get("seconds") is None and row.get("started_at") is not None:
        row["seconds"] = (row["finished_at"] - row["started_at"]).total_seconds()
    row["error"] = scrub_text(None if row.get("error") is None else str(row["error"]))
    return pa.Table.from_pylist([row], schema=SYNC_RUNS_SCHEMA)


def replace_staged(
    con: duckdb.DuckDBPyConnection, stages: list[ParquetStage], app_id: str
) -> tuple[set[tuple[str, date]], int]:
    by_table: dict[str, list[ParquetStage]] = {}
    for stage in stages:
        by_table.setdefault(stage.table, []).append(stage)
    affected: set[tuple[str, date]] = set()
    inserted = 0
    for table, group in by_table.items():
        if table == "rejected_records":
            continue
        days = frozenset().union(*(stage.days for stage in group))
        touched, rows = replace_days(con, TABLES[table], staged_source(group), days, app_id)
        affected |= touched
        inserted += rows
    all_days = frozenset().union(*(stage.days for stage in stages))
    data_tables = [t for t in by_table if t != "rejected_records"]
    _replace_rejects(con, by_table.get("rejected_records", []), data_tables, all_days, app_id)
    return affected, inserted


def replace_days(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    source: str,
    days: frozenset[date],
    app_id: str,
    *,
    tiebreak: str = STAGED_TIEBREAK,
) -> tuple[set[tuple[str, date]], int]:
    """Delete `app_id`'s rows of `days` and every stored row whose key is in `source`; insert `source`
    deduplicated (its rows are the app's: a stage stamps them, and keys start with app_id).

    Returns the (table, day) pairs whose content changed and the number of rows inserted.
    """
    table, day = q(spec.name), q(spec.day)
    key = ", ".join(q(k) for k in spec.key)
    columns = ", ".join(q(n) for n in spec.schema.names)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _rtk_keys AS SELECT DISTINCT {key} FROM {source}")
    elsewhere = f"AND t.{day} NOT IN ({days_sql(days)})" if days else ""
    moved = con.execute(
        f"SELECT DISTINCT t.{day} FROM {table} AS t SEMI JOIN _rtk_keys USING ({key}) "
        f"WHERE t.app_id = ? {elsewhere}",
        [app_id],
    ).fetchall()
    new_days = con.execute(f"SELECT DISTINCT {day} FROM {source}").fetchall()
    con.execute(
        f"DELETE FROM {table} WHERE app_id = ? "
        f"AND ({day} IN ({days_sql(days)}) OR ({key}) IN (SELECT {key} FROM _rtk_keys))",
        [app_id],
    )
    # One INSERT per day: the dedup window and the clustering sort then hold one day's rows, not the
    # run's (a single statement for 1M meetings added ~390 MB). Keys belong to one day (created_at
    # never changes), so deduplicating within a day is deduplicating within the stage.
    inserted = 0
    for (each_day,) in sorted(new_days, key=lambda row: (row[0] is None, row[0])):
        (n,) = con.execute(
            f"INSERT INTO {table} BY NAME SELECT {columns} FROM {source} "
            f"WHERE {day} IS NOT DISTINCT FROM ? "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {spec.winner}{tiebreak}) = 1 "
            f"ORDER BY {spec.order}",
            [each_day],
        ).fetchone()
        inserted += n
    con.execute("DROP VIEW _rtk_keys")
    touched = set(days) | {d for (d,) in moved} | {d for (d,) in new_days}
    return {(spec.name, d) for d in touched}, inserted


def _replace_rejects(
    con: duckdb.DuckDBPyConnection,
    stages: list[ParquetStage],
    data_tables: list[str],
    days: frozenset[date],
    app_id: str,
) -> None:
    """A day's rejects (of the app) belong to the day: committing a table's days replaces its rejects for
    them, so a record fixed upstream leaves the table. Undated rejects (created_at unreadable) replace
    their twins.
    """
    source = staged_source(stages) if stages else None
    scope = set(data_tables)
    if source:
        scope |= {t for (t,) in con.execute(f"SELECT DISTINCT table_name FROM {source}").fetchall()}
    if not scope:
        return
    names = ", ".join(lit(t) for t in sorted(scope))
    twins = f"OR (day IS NULL AND raw IN (SELECT raw FROM {source} WHERE day IS NULL))" if source else ""
    con.execute(
        f"DELETE FROM rejected_records WHERE app_id = ? AND table_name IN ({names}) "
        f"AND (day IN ({days_sql(days)}) {twins})",
        [app_id],
    )
    if source:
        spec = TABLES["rejected_records"]
        key = ", ".join(q(k) for k in spec.key)
        columns = ", ".join(q(n) for n in spec.schema.names)
        con.execute(
            f"INSERT INTO rejected_records BY NAME SELECT {columns} FROM {source} QUALIFY row_number() "
            f"OVER (PARTITION BY {key} ORDER BY {spec.winner}{STAGED_TIEBREAK}) = 1 "
            f"ORDER BY {spec.order}"
        )


def insert_sync_run(con: duckdb.DuckDBPyConnection, row: pa.Table) -> None:
    con.register("_rtk_sync_run", row)
    try:
        con.execute("INSERT INTO sync_runs BY NAME SELECT * FROM _rtk_sync_run")
    finally:
        con.unregister("_rtk_sync_run")
