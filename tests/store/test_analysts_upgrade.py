"""An analysts' file and snapshots written by main@ffbf680 (whose views ran a window over every row) keep
working: the first write of this release rewrites the views, and the old snapshots read the same rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.support.stores import open_duckdb_store

REPO = Path(__file__).resolve().parents[2]
BEFORE = "ffbf680"
APP = "upgrade-app"
OLD_WRITER = """
import sys
from datetime import date
from pathlib import Path
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.store.duckdb_file import parquet
root = Path(sys.argv[1])
store = DuckDBStore(root / "rtk.duckdb", root / "parquet", app_id=sys.argv[2])
for version in (1, 2):  # two commits, one day each
    with store.connect() as con:
        con.execute(
            "INSERT INTO meetings BY NAME SELECT 'm' || i AS id, 'v' || $v AS title, "
            "TIMESTAMPTZ '2026-10-01 12:00:00+00' + to_days($v - 1) AS created_at, "
            "CAST(created_at AS DATE) AS created_day, now() AS synced_at, $app AS app_id "
            "FROM range(3) AS t(i)",
            {"v": version, "app": sys.argv[2]},
        )
        parquet.queue_exports(con, {("meetings", date(2026, 10, version))})
"""


def _old_tree(tmp_path: Path) -> Path:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from harness import checkout
    finally:
        sys.path.pop(0)
    try:
        return checkout(BEFORE, tmp_path / "before")
    except subprocess.CalledProcessError:
        pytest.skip(f"no git history with {BEFORE} here")


def _view_sql(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'meetings'").fetchall()[0][0]
    finally:
        con.close()


def _counts(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT created_day, count(*), min(title) FROM meetings GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()


def test_a_file_of_the_window_release_is_rewritten_on_the_first_write_and_reads_the_same_rows(tmp_path):
    tree = _old_tree(tmp_path)
    data = tmp_path / "data"
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-c", OLD_WRITER, str(data), APP], check=True, env=env, cwd=tmp_path, timeout=120
    )  # not from the work tree: `-c` puts the working directory first on sys.path
    old = _view_sql(data / "rtk.duckdb")
    assert "OVER (PARTITION BY" in old and "_rtk_versions" not in old  # the window over every row
    before = _counts(data / "rtk.duckdb")
    assert [n for _, n, _ in before] == [3, 3]

    store = open_duckdb_store(data, app_id=APP)
    with store.connect():  # any write of this release brings the definitions up to date
        pass
    assert "_rtk_versions" in _view_sql(data / "rtk.duckdb")  # the base and the days since it
    assert _counts(data / "rtk.duckdb") == before
    con = duckdb.connect(str(data / "rtk.duckdb"), read_only=True)
    try:  # the rows are in the file's own base now, read natively
        assert con.execute("SELECT count(*) FROM _rtk_base.meetings").fetchall() == [(6,)]
    finally:
        con.close()
