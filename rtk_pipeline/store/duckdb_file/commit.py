"""The DuckDB commit's SQL: replace whole days of one app's rows of a table with staged rows, deduplicated
by key, in the caller's transaction; rejects follow their day. Every statement is confined to the
committing store's app (`app_id = ?`): a day of app A is replaced without touching app B's rows of that day.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.connect import one
from rtk_pipeline.store.sqltext import carrying, days_sql, lit, q
from rtk_pipeline.store.stage import STAGED_TIEBREAK, ParquetStage, staged_source


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
    source = _carrying(con, spec, source, app_id)
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
        (n,) = one(
            con,
            f"INSERT INTO {table} BY NAME SELECT {columns} FROM {source} "
            f"WHERE {day} IS NOT DISTINCT FROM ? "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {spec.winner}{tiebreak}) = 1 "
            f"ORDER BY {spec.order}",
            [each_day],
        )
        inserted += n
    con.execute("DROP VIEW _rtk_keys")
    if spec.carried:
        con.execute("DROP TABLE _rtk_carry")
    touched = set(days) | {d for (d,) in moved} | {d for (d,) in new_days}
    return {(spec.name, d) for d in touched}, inserted


def _carrying(con: duckdb.DuckDBPyConnection, spec: TableSpec, source: str, app_id: str) -> str:
    """`source` with its null `carried` columns taken from the stored rows of the same key, kept aside
    before the DELETE."""
    if not spec.carried:
        return source
    key = ", ".join(q(k) for k in spec.key)
    kept = ", ".join(q(c) for c in spec.carried)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _rtk_carry AS SELECT {key}, {kept} FROM {q(spec.name)} "
        "SEMI JOIN _rtk_keys USING (" + key + ") WHERE app_id = ?",
        [app_id],
    )
    return carrying(source, spec.key, spec.carried, "_rtk_carry")


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
