"""Workload A (issue 22): the analysts' queries, the analysts' file beside a raw glob and a native table.

One warehouse is written through the store's own commit and publish path (the exact layout the pipeline
writes: mirror, snapshots with their compacted base, analysts' file), from rows generated in DuckDB SQL.
Then, in one process, each query of the set runs against ten contenders, each warmed once and then timed
`--runs` times:
  rtk.duckdb  the analysts' file (RTK_DUCKDB_PATH), read-only, as an analyst opens it: every day in its
              native base tables, as a write leaves it whenever no session is open
  rtk.duckdb+3d
              the same file over a copy of the folder where the 3 newest days of each table were published
              again since the base (what three writes leave while a session holds the file)
  rtk.duckdb+3dx24
              the same, each day published 24 times (a session held through a day of hourly re-syncs of
              the lookback: no version is removed while a session holds the file, and every query reads
              them all)
  rtk views, no files
              the analysts' file's own views with their scan of the day folders replaced by an empty
              native table of the same columns: what their shape (the union with the days since, the
              anti join that drops those days from the base) costs a query with no file to open
  0bd6465, 0bd6465+3d
              the previous release's views over the same two folders and base (each day's newest version
              picked by a window over the days since the base, under a projection that casts every column)
  8f6a58c     an earlier release's views (no base; each day's newest file, days listed first), over one
              file per day (the mirror's files)
  ffbf680     the views before that (a window over every row picks each day's newest file), same files
  glob        a plain `read_parquet` of the mirror (<parquet>/<table>/*/*.parquet)
  native      the same rows in native DuckDB tables, with the same analyst views
Printed: a Markdown table of medians (ms), each contender's ratio against native, and the load average
(`os.getloadavg()`, 1 minute) when each figure was taken.

  python benchmarks/analysts_workload.py [--meetings 1000000] [--runs 7]   # also `run.py --workloads A`
  python benchmarks/analysts_workload.py --quick   # 2,000 meetings, 1 run, answers compared
  python benchmarks/analysts_workload.py --via execute   # each query bound once, as the duckdb CLI does

`--via sql` (the default) times `con.sql(text).to_arrow_table()`, the Python API's usual call, which binds
a query twice (once to build the relation, once to run it); `--via execute` times
`con.execute(text).to_arrow_table()`, one bind, as the duckdb CLI and `rtk-pipeline sql` run a statement.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtk_pipeline.schemas import TABLES  # noqa: E402
from rtk_pipeline.store import DuckDBStore  # noqa: E402
from rtk_pipeline.store.ddl import view_sql  # noqa: E402
from rtk_pipeline.store.duckdb_file import parquet, snapshots  # noqa: E402
from rtk_pipeline.store.duckdb_file.analysts import PARQUET_DIR_VARIABLE  # noqa: E402
from rtk_pipeline.store.duckdb_file.backend import WRITER_MEMORY_LIMIT  # noqa: E402

APP = "bench-app"
FIRST_DAY = date(2026, 9, 1)
SIZES = (100_000, 1_000_000)
QUICK = 2_000
# The week the filtered queries read, and a meeting in it (ids are generated: m-<number>).
WEEK = (FIRST_DAY + timedelta(days=20), FIRST_DAY + timedelta(days=26))

# The two earlier designs of the analysts' views, over one file per day (the mirror's own layout).
_FFBF680 = (
    "read_parquet('{root}/{table}/*/*.parquet', hive_partitioning = true, "
    "hive_types = {{'{day}': DATE}}, hive_types_autocast = false, filename = true) "
    "QUALIFY filename = max(filename) OVER (PARTITION BY {day})"
)
_8F6A58C = (
    "(WITH _rtk_listed AS (SELECT TRY_CAST(regexp_extract(file, '/{day}=([^/]*)/[^/]*$', 1) AS DATE) AS day, "
    "count(*) AS versions, max(file) AS file FROM glob('{root}/{table}/*/*.parquet') GROUP BY 1) "
    "SELECT * FROM {scan} SEMI JOIN _rtk_listed AS v ON v.versions = 1 AND filename = v.file "
    "UNION ALL SELECT * FROM {scan} SEMI JOIN _rtk_listed AS v ON v.versions > 1 AND {day} = v.day "
    "QUALIFY filename = max(filename) OVER (PARTITION BY {day}))"
)
_SCAN = (
    "read_parquet('{root}/{table}/*/*.parquet', hive_partitioning = true, hive_types = {{'{day}': DATE}}, "
    "hive_types_autocast = false, filename = true)"
)
# The previous release's views (0bd6465) over the base of the analysts' file attached as `rtk`.
_0BD6465 = (
    "SELECT {casts} FROM (WITH _rtk_days AS MATERIALIZED (SELECT * FROM {scan} "
    "QUALIFY rank() OVER (PARTITION BY {day} ORDER BY filename DESC) = 1) "
    "SELECT * FROM rtk._rtk_base.{table} ANTI JOIN (SELECT DISTINCT {day} AS day FROM _rtk_days) AS v "
    "ON {day} = v.day UNION ALL BY NAME SELECT * FROM _rtk_days WHERE id IS NOT NULL)"
)
# Days of each table published again since the base in the `rtk.duckdb+3d` contenders.
SINCE_BASE = 3
# Versions of each of those days after a session held through a day of hourly re-syncs.
HELD_DAY = 24
_GLOB = (
    "read_parquet('{root}/{table}/*/*.parquet', hive_partitioning = true, "
    "hive_types = {{'{day}': DATE}}, hive_types_autocast = false)"
)


def queries(meetings: int) -> dict[str, str]:
    """The query set of issue 22: name -> SQL over `meetings`, `participants` and the analyst views."""
    week = f"DATE '{WEEK[0]}' AND DATE '{WEEK[1]}'"
    one = f"m-{_meeting_in_week(meetings):09d}"
    return {
        "count by day": "SELECT created_day, count(*) FROM meetings GROUP BY 1 ORDER BY 1",
        "7 days by status": f"SELECT status, count(*) FROM meetings WHERE created_day BETWEEN {week} "
        "GROUP BY 1 ORDER BY 1",
        "one meeting by id": "SELECT id, title, status, created_at, created_day FROM meetings "
        f"WHERE app_id = '{APP}' AND id = '{one}'",
        "full scan": "SELECT count(*), count(DISTINCT id), max(updated_at), max(length(title)) FROM meetings",
        "participants x meetings, 7 days": "SELECT m.status, count(*) FROM meetings AS m JOIN participants "
        "AS p ON p.app_id = m.app_id AND p.meeting_id = m.id "
        f"WHERE m.created_day BETWEEN {week} AND p.meeting_created_day BETWEEN {week} GROUP BY 1 ORDER BY 1",
        "FROM meetings_per_day": "FROM meetings_per_day",
        "FROM participants_per_meeting": "FROM participants_per_meeting",
        "FROM preset_usage": "FROM preset_usage",
        "FROM meeting_last_activity": "FROM meeting_last_activity",
        "FROM stale_candidates(30, ...)": "FROM stale_candidates(30, TIMESTAMPTZ '2026-12-01 00:00:00+00')",
    }


def _days(meetings: int) -> int:
    return 60 if meetings >= 50_000 else 30


def _meeting_in_week(meetings: int) -> int:
    """The number of a meeting created on the week's third day (meetings are spread evenly over the days)."""
    per_day = meetings / _days(meetings)
    return int(per_day * ((WEEK[0] - FIRST_DAY).days + 2) + per_day / 2)


def build(root: Path, meetings: int) -> DuckDBStore:
    """A warehouse of `meetings` meetings (about 5 participants each) over the size's days, written
    through the store's commit path: the rows go into the pipeline's state, every day is queued and the
    store publishes the mirror, the snapshots and the analysts' file as after a sync."""
    store = DuckDBStore(root / "rtk.duckdb", root / "parquet", app_id=APP)
    days = _days(meetings)
    seconds_per_meeting = 86_400 * days / meetings
    with store.connect() as con:
        # Generating the rows is not the pipeline's work: it gets room; the publish below (Parquet days,
        # the compacted bases, the analysts' file) runs within the writer's own memory limit.
        con.execute("SET memory_limit = '2GB'")
        con.execute(
            f"""
            INSERT INTO meetings BY NAME
            SELECT printf('m-%09d', i) AS id, 'Meeting ' || i AS title,
                   CASE WHEN i % 4 = 0 THEN 'INACTIVE' ELSE 'ACTIVE' END AS status,
                   TIMESTAMPTZ '{FIRST_DAY} 00:00:00+00' + to_microseconds(CAST(i * {seconds_per_meeting}
                       * 1e6 AS BIGINT)) AS created_at,
                   created_at + INTERVAL 40 MINUTE AS updated_at,
                   i % 7 = 0 AS live_stream_on_start, i % 2 = 0 AS persist_chat, i % 3 = 0 AS record_on_start,
                   i % 5 = 0 AS summarize_on_end, i % 6 = 0 AS transcribe_on_end,
                   60 AS session_keep_alive_time_in_secs, CAST(created_at AT TIME ZONE 'UTC' AS DATE)
                   AS created_day, now() AS synced_at, now() AS participants_synced_at, '{APP}' AS app_id
            FROM range({meetings}) AS t(i)
            """
        )
        con.execute(
            f"""
            INSERT INTO participants BY NAME
            SELECT m.id AS meeting_id, m.id || '-p' || j AS id, 'user-' || (j * 7919 % 1000) AS
                   custom_participant_id, CASE WHEN j % 3 = 0 THEN 'host' ELSE 'participant' END AS
                   preset_name, 'Person ' || j AS name, m.created_at + to_minutes(j) AS created_at,
                   m.created_at + to_minutes(j + 30) AS updated_at, m.created_day AS meeting_created_day,
                   now() AS synced_at, '{APP}' AS app_id
            FROM meetings AS m, range(1, 2 + CAST(hash(m.id) % 9 AS BIGINT)) AS r(j)
            """
        )
        affected = {
            (table, day)
            for table in ("meetings", "participants")
            for (day,) in con.execute(f"SELECT DISTINCT {TABLES[table].day} FROM {table}").fetchall()
        }
        parquet.queue_exports(con, affected)
        con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
    return store


def contenders(root: Path, store: DuckDBStore) -> dict[str, duckdb.DuckDBPyConnection]:
    """Name -> an open connection whose `meetings`, `participants` and analyst views are the contender's."""
    parquet_dir = store.parquet_dir.resolve()
    native = duckdb.connect(str(root / "native.duckdb"))
    native.execute(f"ATTACH '{store.state_path}' AS state (READ_ONLY)")
    for table in ("meetings", "participants"):
        native.execute(f"CREATE TABLE {table} AS SELECT * FROM state.{table} ORDER BY {TABLES[table].order}")
    native.execute("DETACH state")
    glob, ffbf680, previous = duckdb.connect(), duckdb.connect(), duckdb.connect()
    for table in ("meetings", "participants"):
        spec = TABLES[table]
        names = {"root": parquet_dir, "table": table, "day": spec.day}
        glob.execute(f"CREATE VIEW {table} AS FROM {_GLOB.format(**names)}")
        ffbf680.execute(f"CREATE VIEW {table} AS SELECT * EXCLUDE (filename) FROM {_FFBF680.format(**names)}")
        source = _8F6A58C.format(scan=_SCAN.format(**names), **names)
        previous.execute(f"CREATE VIEW {table} AS SELECT * EXCLUDE (filename) FROM {source}")
    for con in (native, glob, ffbf680, previous):
        _with_analyst_views(con)
    analysts = duckdb.connect(str(store.duckdb_path), read_only=True)
    since_base = _since_base(root, store)
    return {
        "rtk.duckdb": analysts,
        "rtk.duckdb+3d": since_base,
        "rtk.duckdb+3dx24": _since_base(root, store, "held-day", HELD_DAY),
        "rtk views, no files": _views_without_files(store.duckdb_path),
        "0bd6465": _release_0bd6465(store.duckdb_path, parquet_dir),
        "0bd6465+3d": _release_0bd6465(root / "since-base" / "rtk.duckdb", root / "since-base" / "parquet"),
        "8f6a58c": previous,
        "ffbf680": ffbf680,
        "glob": glob,
        "native": native,
    }


def _with_analyst_views(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """`con` with the analyst views and macro over its `meetings` and `participants`, in UTC as the
    pipeline's own sessions."""
    con.execute("SET TimeZone = 'UTC'")
    for ddl in view_sql():
        con.execute(ddl)
    return con


def _since_base(
    root: Path, store: DuckDBStore, folder: str = "since-base", versions: int = 1
) -> duckdb.DuckDBPyConnection:
    """The analysts' file over a copy of the folder in which the newest days of each table are published
    again since the base, `versions` times each: the day versions re-syncs of unchanged days leave while
    a session holds the file (hard links, as the store's own publish makes), read through
    `rtk_parquet_dir` as the README says for a copy."""
    copy = root / folder
    shutil.copytree(store.parquet_dir, copy / "parquet", copy_function=os.link)
    shutil.copy(store.duckdb_path, copy / "rtk.duckdb")
    for table in ("meetings", "participants"):
        days = sorted((copy / "parquet" / table).glob("*=2*"))[-SINCE_BASE:]
        for day in days:
            target = copy / "parquet" / snapshots.FOLDER / table / day.name
            target.mkdir(parents=True)
            for number in range(1, versions + 1):
                os.link(day / "data.parquet", target / f"v-{number:012d}.parquet")
    con = duckdb.connect(str(copy / "rtk.duckdb"), read_only=True)
    con.execute(f"SET VARIABLE {PARQUET_DIR_VARIABLE} = '{(copy / 'parquet').resolve()}'")
    return con


def _release_0bd6465(analysts_file: Path, parquet_dir: Path) -> duckdb.DuckDBPyConnection:
    """The previous release's views over the base in `analysts_file` and the snapshots in `parquet_dir`."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{analysts_file}' AS rtk (READ_ONLY)")
    for table in ("meetings", "participants"):
        spec = TABLES[table]
        columns = con.execute(f"DESCRIBE rtk._rtk_base.{table}").fetchall()
        casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t, *_ in columns)
        scan = _SCAN.format(root=f"{parquet_dir.resolve()}/{snapshots.FOLDER}", table=table, day=spec.day)
        sql = _0BD6465.format(casts=casts, scan=scan, day=spec.day, table=table)
        con.execute(f"CREATE VIEW {table} AS {sql}")
    return _with_analyst_views(con)


# The views' scan of the day folders, as DuckDB stores a view's text.
_VIEW_SCAN = re.compile(r"read_parquet\(.*?\(filename = true\)\)")


def _views_without_files(analysts_file: Path) -> duckdb.DuckDBPyConnection:
    """The analysts' file's own `meetings` and `participants` views over its base, their scan of the day
    folders replaced by an empty native table with the scan's columns."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{analysts_file}' AS rtk (READ_ONLY)")
    for table in ("meetings", "participants"):
        [(sql,)] = con.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = 'rtk' AND view_name = $1", [table]
        ).fetchall()
        con.execute(
            f"CREATE TABLE none_{table} AS SELECT *, '' AS filename FROM rtk._rtk_base.{table} LIMIT 0"
        )
        sql, found = _VIEW_SCAN.subn(f"none_{table}", sql.replace("_rtk_base.", "rtk._rtk_base."))
        assert found == 1, f"the {table} view no longer has the scan this contender replaces"
        con.execute(sql)
    return _with_analyst_views(con)


def _median_ms(con: duckdb.DuckDBPyConnection, text: str, runs: int, via: str) -> float:
    def once() -> None:
        if via == "sql":
            con.sql(text).to_arrow_table()
        else:  # DuckDB warns that this copies the rows once more: the same copy for every contender
            with warnings.catch_warnings(action="ignore", category=UserWarning):
                con.execute(text).to_arrow_table()

    once()  # warm: the first run pays for opening files and compiling
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def same_answers(cons: dict[str, duckdb.DuckDBPyConnection], sql: dict[str, str]) -> None:
    """Every contender answers every query with native's rows (a faster wrong answer is no answer)."""
    for name, text in sql.items():
        answers = {c: sorted(con.sql(text).fetchall(), key=repr) for c, con in cons.items()}
        wrong = [c for c, rows in answers.items() if rows != answers["native"]]
        if wrong:
            raise AssertionError(f"{name}: {', '.join(wrong)} answer differently from native")


def measure(
    cons: dict[str, duckdb.DuckDBPyConnection], sql: dict[str, str], runs: int, via: str
) -> list[dict]:
    """Per query: each contender's median ms and the 1-minute load average when it was taken."""
    rows = []
    for name, text in sql.items():
        row: dict = {"query": name}
        for contender, con in cons.items():
            ms = _median_ms(con, text, runs, via)
            row[contender] = (ms, os.getloadavg()[0])
        rows.append(row)
    return rows


def table(rows: list[dict], meetings: int, participants: int, runs: int, via: str) -> str:
    names = [k for k in rows[0] if k != "query"]
    lines = [
        f"### Workload A: analysts' queries, {meetings:,} meetings / {participants:,} participants over "
        f"{_days(meetings)} days (median of {runs} runs via `con.{via}`, ms; ratio against native; "
        "1-min load average)\n",
        "| query | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for row in rows:
        native = row["native"][0]
        cells = [f"{ms:.1f} ({ms / native:.1f}x) @{load:.1f}" for ms, load in (row[n] for n in names)]
        lines.append(f"| {row['query']} | " + " | ".join(cells) + " |")
    worst = max(row["rtk.duckdb"][0] / row["native"][0] for row in rows)
    lines.append(f"\nworst rtk.duckdb / native: {worst:.2f}x (target <= 2)")
    return "\n".join(lines)


def report(meetings: int, runs: int, *, check: bool = False, via: str = "sql") -> str:
    with tempfile.TemporaryDirectory(prefix="rtk-bench-a-") as tmp:
        root = Path(tmp)
        store = build(root, meetings)
        cons = contenders(root, store)
        try:
            [(participants,)] = cons["native"].execute("SELECT count(*) FROM participants").fetchall()
            if check:
                same_answers(cons, queries(meetings))
            rows = measure(cons, queries(meetings), runs, via)
        finally:
            for con in cons.values():
                con.close()
    return table(rows, meetings, participants, runs, via)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK:,} meetings, 1 run, answers compared (a smoke test)"
    )
    parser.add_argument("--meetings", default=",".join(str(n) for n in SIZES), help="comma-separated sizes")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query and contender")
    parser.add_argument(
        "--via", choices=("sql", "execute"), default="sql", help="con.sql (binds twice) or con.execute (once)"
    )
    args = parser.parse_args(argv)
    sizes = [QUICK] if args.quick else [int(n) for n in args.meetings.split(",")]
    for meetings in sizes:
        runs = 1 if args.quick else args.runs
        print(report(meetings, runs, check=args.quick, via=args.via), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
