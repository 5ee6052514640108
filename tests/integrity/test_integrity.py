"""Issue 23's reproductions, ended as described: read-only commands create nothing, `sql` is sandboxed and
never holds what a sync needs, `repair` rebuilds a damaged state, and a replaced view is put back. Each runs
the CLI as a user does, against the emulator and real files."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.support.processes import REPO, cli, cli_env, run_cli, stop_group

WINDOW = ["--start", "2026-10-28", "--end", "2026-10-31"]


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def _one_line_failure(done: subprocess.CompletedProcess) -> str:
    """The error line of a failed command: its only stderr line but a backfill's progress line (the
    tests' terminal is wide: a long path is not cut)."""
    assert done.returncode != 0, done.stdout[-2000:]
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("backfill ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    return lines[0]


def _counts(env: dict[str, str]) -> dict[str, int]:
    sql = " UNION ALL ".join(
        f"SELECT '{t}' AS t, count(*) AS n FROM {t}"
        for t in ("meetings", "participants", "sync_runs", "meeting_deactivations", "rejected_records")
    )
    frame = pd.read_csv(io.StringIO(_ok(run_cli(["sql", sql, "--format", "csv"], env)).stdout))
    return dict(zip(frame["t"], frame["n"], strict=True))


@pytest.fixture
def synced(tmp_path, emulator) -> dict[str, str]:
    env = cli_env(tmp_path / "data", emulator.env(), COLUMNS="100000")
    _ok(run_cli(["backfill", *WINDOW], env))
    return env


def _snapshots(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["RTK_PARQUET_DIR"]) / ".snapshots").glob("**/*.parquet"))


def test_read_only_commands_create_nothing_when_the_state_was_left_behind(tmp_path, synced):
    """`mv data/* new/` leaves `.rtk.duckdb.state/` behind: sql and verify refuse in one line, naming the
    path looked for and the cause, and neither the new folder nor the old snapshots change."""
    old, new = tmp_path / "data", tmp_path / "new"
    new.mkdir()
    for item in old.iterdir():
        if not item.name.startswith("."):  # the shell's glob: hidden entries stay
            shutil.move(item, new / item.name)
    env = {**synced, "RTK_DUCKDB_PATH": str(new / "rtk.duckdb"), "RTK_PARQUET_DIR": str(new / "parquet")}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for args in (["sql", "FROM sync_runs"], ["verify", *WINDOW]):
        line = _one_line_failure(run_cli(args, env))
        assert str(new / ".rtk.duckdb.state" / "pipeline.duckdb") in line and "mv data/*" in line
    typo = {**synced, "RTK_DUCKDB_PATH": str(tmp_path / "dta" / "rtk.duckdb")}
    line = _one_line_failure(run_cli(["sql", "FROM meetings"], typo))
    assert "RTK_DUCKDB_PATH" in line and str(tmp_path / "dta" / "rtk.duckdb") in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "something was created"


def test_sql_is_sandboxed_and_every_error_is_one_line(synced):
    token = synced["CLOUDFLARE_API_TOKEN"]
    parquet = Path(synced["RTK_PARQUET_DIR"])
    day_file = next(parquet.glob("meetings/*/data.parquet"))
    size = day_file.stat().st_size
    for query in (
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1 AS x) TO '{day_file}' (FORMAT parquet)",
        f"ATTACH '{parquet.parent / 'other.duckdb'}' AS other (READ_WRITE)",
        "SET enable_external_access = true",
        "CREATE TABLE t AS SELECT 1",
        "SELECT 1; SELECT 2",
        "SELEC nothing",
        "FROM no_such_table",
    ):
        done = run_cli(["sql", query], synced)
        _one_line_failure(done)
        assert token not in done.stdout + done.stderr
    assert day_file.stat().st_size == size and not (parquet.parent / "other.duckdb").exists()
    assert _counts(synced)["meetings"] > 0


def test_a_backfill_succeeds_beside_a_long_sql_query(tmp_path, synced):
    """A long analyst query (still running when the backfill ends) neither fails nor delays the backfill."""
    slow = "SELECT count(*) FROM range(2000000000) a, meetings m WHERE a.range % 7 = length(m.id)"
    query = subprocess.Popen(
        cli("sql", slow),
        env=synced,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        time.sleep(3)
        assert query.poll() is None, query.communicate()
        started = time.monotonic()
        done = _ok(run_cli(["backfill", "--start", "2026-10-30", "--end", "2026-10-31"], synced))
        assert "stayed locked" not in done.stderr
        assert query.poll() is None, "the query ended before the backfill: it proves nothing"
        assert time.monotonic() - started < 60
    finally:
        stop_group(query)


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "random"])
def test_repair_rebuilds_a_damaged_state_with_every_committed_row(synced, damage):
    before = _counts(synced)
    state = Path(synced["RTK_DUCKDB_PATH"]).parent / ".rtk.duckdb.state" / "pipeline.duckdb"
    size = state.stat().st_size
    if damage == "truncated":
        os.truncate(state, size // 2)
    else:
        state.write_bytes(b"\0" * size if damage == "zeroed" else os.urandom(size))
    for args in (["verify", *WINDOW], ["backfill", *WINDOW]):
        line = _one_line_failure(run_cli(args, synced))
        assert str(state) in line and "rtk-pipeline repair" in line
    done = _ok(run_cli(["repair"], synced))
    assert "rebuilt" in done.stdout and list(state.parent.glob("pipeline.duckdb.damaged-*"))
    assert _counts(synced) == before
    _ok(run_cli(["backfill", *WINDOW], synced))
    after = _counts(synced)
    assert after["meetings"] == before["meetings"] and after["sync_runs"] > before["sync_runs"]


def test_repair_of_a_missing_state_and_of_a_whole_one(synced):
    before = _counts(synced)
    state_dir = Path(synced["RTK_DUCKDB_PATH"]).parent / ".rtk.duckdb.state"
    assert "nothing to rebuild" in _ok(run_cli(["repair"], synced)).stdout
    shutil.rmtree(state_dir)
    _ok(run_cli(["repair"], synced))
    assert _counts(synced) == before


def test_a_replaced_or_dropped_view_is_back_after_the_next_write(synced):
    expected = pd.read_csv(
        io.StringIO(_ok(run_cli(["sql", "meetings_per_day", "--format", "csv"], synced)).stdout)
    )
    with duckdb.connect(synced["RTK_DUCKDB_PATH"]) as analyst:  # as the README allows: read-write
        analyst.execute("CREATE OR REPLACE VIEW meetings_per_day AS SELECT 1 AS oops")
        analyst.execute("DROP VIEW preset_usage")
        analyst.execute("DROP VIEW sync_runs")
        analyst.execute("CREATE TABLE sync_runs AS SELECT 1 AS oops")
    _ok(run_cli(["backfill", "--start", "2026-10-31", "--end", "2026-10-31"], synced))
    answer = pd.read_csv(
        io.StringIO(_ok(run_cli(["sql", "meetings_per_day", "--format", "csv"], synced)).stdout)
    )
    pd.testing.assert_frame_equal(answer, expected)
    _ok(run_cli(["sql", "preset_usage"], synced))
    assert "run_id" in _ok(run_cli(["sql", "sync_runs", "--format", "csv"], synced)).stdout


def test_delta_repair_says_what_it_found(tmp_path, emulator):
    env = cli_env(
        tmp_path, emulator.env(), COLUMNS="100000", RTK_STORE="delta", RTK_TABLE_URI=str(tmp_path / "lake")
    )
    line = _one_line_failure(run_cli(["sql", "FROM meetings"], env))
    assert "RTK_TABLE_URI" in line and not (tmp_path / "lake").exists()
    _ok(run_cli(["backfill", *WINDOW], env))
    done = _ok(run_cli(["repair"], env))
    assert "the Delta log is the state" in done.stdout and "meetings: version" in done.stdout


# A pipeline write folding days into the analysts' file: its write lock, then the file read-write, for 4 s.
_WRITE = """
import sys, time, duckdb, filelock
path = sys.argv[1]
with filelock.FileLock(path + ".lock"):
    con = duckdb.connect(path)
    print("holding", flush=True)
    time.sleep(4)
    con.close()
"""


def test_sql_beside_a_read_write_session_says_so_at_once(synced, analyst_session):
    """An analyst's read-write session may last all day: `sql` says in one line who holds the file and
    what to do, within seconds instead of waiting out its 30 s, and nothing is lost."""
    before = _counts(synced)
    session = analyst_session(Path(synced["RTK_DUCKDB_PATH"]), "rw")  # as `duckdb data/rtk.duckdb` does
    started = time.monotonic()
    line = _one_line_failure(run_cli(["sql", "SELECT count(*) FROM meetings"], synced))
    took = time.monotonic() - started
    session.close()
    assert synced["RTK_DUCKDB_PATH"] in line and "read-write in another process" in line
    assert f"(PID {session.proc.pid})" in line and "read-only" in line and took < 15, (took, line)
    assert _counts(synced) == before


def test_sql_waits_for_a_pipeline_write_holding_the_file(synced):
    """The pipeline opens the analysts' file only under its write lock, briefly: a reader then waits, past
    the grace it gives a session, and answers when the write is done."""
    before = _counts(synced)
    holder = subprocess.Popen(
        [sys.executable, "-c", _WRITE, synced["RTK_DUCKDB_PATH"]],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        assert _counts(synced) == before  # waited ~4 s for the holder, then answered
        assert holder.poll() is not None, "the holder was still there: the answer proves nothing"
    finally:
        stop_group(holder)
