"""Named reads behind the quality rules, the Dagster previews and the demo's summary, each confined to the
store's app: a check of app A never reports (or counts) app B's rows. The same SQL serves both backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from itertools import pairwise
from typing import Any

import pyarrow as pa

from rtk_pipeline.schemas import APP_ID, TABLES
from rtk_pipeline.store.connect import iter_rows, one
from rtk_pipeline.store.reads.base import BaseReads
from rtk_pipeline.store.records import DayMismatch, KeyReport, TableCount, TextCell, ViewSummary
from rtk_pipeline.store.sqltext import q

SAMPLE = 20  # ids kept per finding


def _sample(values: Sequence[Any] | None) -> tuple[str, ...]:
    return tuple(sorted(values or [])[:SAMPLE])


class CheckReads(BaseReads):
    """What the quality rules, the Dagster previews and the demo's summary read (one connection per call,
    or the pinned one inside `reading()`)."""

    # -- quality rules -------------------------------------------------------------------------------------

    def rows_by_day(self, table: str, first: date, last: date) -> dict[date, int]:
        day = q(TABLES[table].day)
        found = self._per_day(
            f"SELECT {day}, count(*) FROM {q(table)} "
            f"WHERE {day} BETWEEN $1 AND $2 AND app_id = $3 GROUP BY 1",
            first,
            last,
        )
        return {d: n for d, (n,) in found.items()}

    def key_reports(self, table: str, first: date, last: date) -> dict[date, KeyReport]:
        """NULL keys, rows beyond one per key, and keys of the day stored under another day too."""
        spec = TABLES[table]
        key, day, last_key = ", ".join(spec.key), spec.day, spec.key[-1]
        nulls = " OR ".join(f"{k} IS NULL" for k in spec.key)
        counts = self._per_day(
            f"""
            WITH k AS (
                SELECT {day}, {key}, count(*) AS n FROM {table}
                WHERE {day} BETWEEN $1 AND $2 AND app_id = $3 GROUP BY ALL
            )
            SELECT {day}, sum(n) FILTER (WHERE {nulls}), sum(n - 1),
                   list({last_key} ORDER BY {last_key}) FILTER (WHERE n > 1)
            FROM k GROUP BY 1
            """,
            first,
            last,
        )
        elsewhere = self._per_day(
            f"""
            SELECT m.{day}, count(*) FROM {table} m JOIN {table} o USING ({key})
            WHERE m.{day} BETWEEN $1 AND $2 AND m.app_id = $3 AND o.{day} <> m.{day} GROUP BY 1
            """,
            first,
            last,
        )
        return {
            d: KeyReport(
                null_keys=int(counts.get(d, (0,))[0] or 0),
                duplicate_rows=int(counts.get(d, (0, 0))[1] or 0),
                duplicate_ids=_sample(counts.get(d, (0, 0, None))[2]),
                also_elsewhere=int(elsewhere.get(d, (0,))[0]),
            )
            for d in set(counts) | set(elsewhere)
        }

    def created_outside_day(self, first: date, last: date) -> dict[date, DayMismatch]:
        found = self._per_day(
            """
            SELECT created_day, count(*), list(id ORDER BY id)[1:20]
            FROM meetings
            WHERE created_day BETWEEN $1 AND $2 AND app_id = $3
              AND CAST(timezone('UTC', created_at) AS DATE) <> created_day
            GROUP BY 1
            """,
            first,
            last,
        )
        return {d: DayMismatch(rows=n, sample_ids=_sample(ids)) for d, (n, ids) in found.items()}

    def participants_misfiled(self, first: date, last: date) -> dict[date, DayMismatch]:
        """A meeting stored twice is `key_reports`' finding, not its participants'."""
        found = self._per_day(
            """
            WITH m AS (SELECT id, list(created_day) AS days FROM meetings WHERE app_id = $3 GROUP BY id)
            SELECT p.meeting_created_day,
                   count(*) FILTER (WHERE m.id IS NULL),
                   count(*) FILTER (WHERE NOT list_contains(m.days, p.meeting_created_day)),
                   list(DISTINCT p.meeting_id)
                       FILTER (WHERE m.id IS NULL OR NOT list_contains(m.days, p.meeting_created_day))
            FROM participants p LEFT JOIN m ON m.id = p.meeting_id
            WHERE p.meeting_created_day BETWEEN $1 AND $2 AND p.app_id = $3
            GROUP BY 1
            """,
            first,
            last,
        )
        return {
            d: DayMismatch(rows=orphans, other_rows=wrong, sample_ids=_sample(ids))
            for d, (orphans, wrong, ids) in found.items()
        }

    def text_cells(self, table: str, first: date, last: date) -> Iterator[TextCell]:
        spec = TABLES[table]
        with self.connections.connection() as con:
            columns = [
                name
                for name, dtype in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
                    [table],
                ).fetchall()
                if dtype in ("VARCHAR", "JSON") and name != APP_ID  # the store's, not the API's text
            ]
            selected = ", ".join(f"{q(c)}::VARCHAR" for c in columns)
            scans = [
                (
                    table,
                    columns,
                    f"SELECT {q(spec.day)}, {q(spec.key[-1])}, {selected} FROM {q(table)} "
                    f"WHERE {q(spec.day)} BETWEEN ? AND ? AND app_id = ?",
                    [first, last, self.app_id],
                ),
                (
                    "rejected_records",
                    ["raw"],
                    "SELECT day, record_id, raw::VARCHAR FROM rejected_records "
                    "WHERE table_name = ? AND day BETWEEN ? AND ? AND app_id = ?",
                    [table, first, last, self.app_id],
                ),
            ]
            for name, names, sql, params in scans:
                for day, row_id, *texts in iter_rows(con, sql, params):
                    for column, text in zip(names, texts, strict=True):
                        if text:
                            yield TextCell(name, column, day, row_id, text)

    # -- previews and summaries -------------------------------------------------------------------------

    def day_previews(
        self, table: str, first: date, last: date, columns: Sequence[str], limit: int
    ) -> dict[date, pa.Table]:
        """The first `limit` rows (by created_at, id) of each day, only `columns`, as Arrow: the Dagster
        metadata renders them without pandas (~70 MB of a materialization's peak)."""
        day = q(TABLES[table].day)
        with self.connections.connection() as con:
            rows = con.sql(
                f"SELECT {day} AS day, {', '.join(q(c) for c in columns)} FROM {q(table)} "
                f"WHERE {day} BETWEEN $1 AND $2 AND app_id = $3 "
                f"QUALIFY row_number() OVER (PARTITION BY {day} ORDER BY created_at, id) <= {int(limit)} "
                f"ORDER BY {day}, created_at, id",
                params=[first, last, self.app_id],
            ).to_arrow_table()
        days = rows.column("day").to_pylist()  # ordered: each day's rows are one run
        starts = [i for i, d in enumerate(days) if i == 0 or d != days[i - 1]]
        return {
            days[s]: rows.slice(s, e - s).drop_columns(["day"]) for s, e in pairwise([*starts, len(days)])
        }

    def rejects_by_day(self, table: str, first: date, last: date) -> dict[date, int]:
        found = self._per_day(
            "SELECT day, count(*) FROM rejected_records WHERE day BETWEEN $1 AND $2 AND app_id = $3 "
            "AND table_name = $4 GROUP BY day",
            first,
            last,
            table,
        )
        return {d: n for d, (n,) in found.items()}

    def table_counts(self, tables: Sequence[str]) -> dict[str, TableCount]:
        with self.connections.connection() as con:
            return {
                name: TableCount(
                    rows=one(con, f"SELECT count(*) FROM {q(name)} WHERE app_id = ?", [self.app_id])[0],
                    rejected=one(
                        con,
                        "SELECT count(*) FROM rejected_records WHERE table_name = ? AND app_id = ?",
                        [name, self.app_id],
                    )[0],
                )
                for name in tables
            }

    def view_summaries(self, limit: int) -> list[ViewSummary]:
        """Every analyst view of the main schema, counted and previewed for the app (one that fails to
        compile raises)."""
        with self.connections.connection() as con:
            views = con.execute(
                "SELECT v.view_name, coalesce(bool_or(c.column_name = 'app_id'), false) "
                "FROM duckdb_views() v "
                "LEFT JOIN duckdb_columns() c ON c.table_oid = v.view_oid "
                "WHERE NOT v.internal AND v.schema_name = 'main' GROUP BY 1 ORDER BY 1"
            ).fetchall()
            summaries = []
            for name, per_app in views:
                rows = f"FROM {q(name)}" + (" WHERE app_id = $app" if per_app else "")
                app = {"app": self.app_id} if per_app else None
                summaries.append(
                    ViewSummary(
                        name,
                        con.sql(f"SELECT count(*) {rows}", params=app).fetchall()[0][0],
                        con.sql(f"SELECT * {rows} LIMIT {int(limit)}", params=app).to_arrow_table(),
                    )
                )
            return summaries
