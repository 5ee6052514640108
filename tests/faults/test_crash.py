"""Crash consistency: `rtk-pipeline backfill` SIGKILLed at random points, many times, over changing data.

Between runs the emulator's data changes on every day (a title, a new participant, a deleted participant,
a new meeting), so each day has distinguishable versions. After every kill: the pipeline's DuckDB state
opens, each day of each table holds exactly the version it held before the run or the new one, in full;
every Parquet day file, and every day the analysts' file (rtk.duckdb) answers, holds one whole version,
never newer than the state's (they may lag: the next writer publishes what a killed one queued); no
half-written file is visible to a dataset reader. A final run converges to the ground truth in all three.
"""

from __future__ import annotations

import random
import subprocess
import time
from datetime import date, timedelta

import duckdb
import pyarrow.dataset as ds
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.store.duckdb_file.analysts import state_path
from tests.support.emulator import END
from tests.support.processes import cli, cli_env, kill_after, run_cli
from tests.support.truth import truth_meetings, truth_participants, ts

from .conftest import mutate

KILLS = 20
FIRST, LAST = date(2026, 10, 26), date(2026, 10, 31)
Version = dict[tuple[str, date], frozenset]


def truth_versions(emu: Emulator) -> Version:
    """Per (table, day): the rows the API holds now, projected to what distinguishes versions."""
    meetings = truth_meetings(emu, FIRST, LAST)
    out: dict[tuple[str, date], set] = {}
    for day in _days():
        out[("meetings", day)] = set()
        out[("participants", day)] = set()
    for mid, m in meetings.items():
        out[("meetings", ts(m["created_at"]).date())].add((mid, m.get("title"), ts(m["updated_at"])))
    for (mid, pid), p in truth_participants(emu, meetings).items():
        day = ts(meetings[mid]["created_at"]).date()
        out[("participants", day)].add((mid, pid, p.get("name"), ts(p["updated_at"])))
    return {k: frozenset(v) for k, v in out.items()}


def _days() -> list[date]:
    return [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]


def duckdb_versions(path) -> Version:
    """The same projection read from a DuckDB file (which must open after any kill): the pipeline's state,
    or the analysts' file (views over the published snapshots)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        meetings = con.execute("SELECT created_day, id, title, updated_at FROM meetings").fetchall()
        people = con.execute(
            "SELECT meeting_created_day, meeting_id, id, name, updated_at FROM participants"
        ).fetchall()
    finally:
        con.close()
    out: dict[tuple[str, date], set] = {(t, d): set() for t in ("meetings", "participants") for d in _days()}
    for day, *row in meetings:
        out.setdefault(("meetings", day), set()).add(tuple(row))
    for day, *row in people:
        out.setdefault(("participants", day), set()).add(tuple(row))
    return {k: frozenset(v) for k, v in out.items()}


def parquet_versions(root) -> Version:
    """Every day file read whole, and the folder read as a Hive dataset the way an analyst would."""
    out: Version = {}
    columns = {
        "meetings": ["id", "title", "updated_at"],
        "participants": ["meeting_id", "id", "name", "updated_at"],
    }
    for table, names in columns.items():
        folder = root / table
        for day in _days():
            day_dir = folder / f"{'created_day' if table == 'meetings' else 'meeting_created_day'}={day}"
            visible = (
                sorted(p.name for p in day_dir.iterdir() if not p.name.startswith("."))
                if day_dir.exists()
                else []
            )
            assert visible in ([], ["data.parquet"]), f"{day_dir} exposes {visible}"
            if visible:
                rows = ds.dataset(day_dir / "data.parquet").to_table(columns=names).to_pylist()
                out[(table, day)] = frozenset(tuple(r[n] for n in names) for r in rows)
            else:
                out[(table, day)] = frozenset()
        if folder.exists():  # the whole folder is readable as one dataset (no stray temporary file in it)
            ds.dataset(folder, partitioning="hive").to_table(columns=names)
    return out


def settle(held: dict, got: Version, versions: list[Version], new: int, where: str) -> list[str]:
    """DuckDB: each day holds its previous version or the new one, whole; record which. Returns the days
    that moved to the new version."""
    moved = []
    for key, rows in got.items():
        old = held[key]
        if rows == versions[old][key]:
            continue
        assert rows == versions[new][key], (
            f"{where} {key}: neither version {old} nor {new} "
            f"(missing {len(versions[new][key] - rows)}, unexpected {len(rows - versions[new][key])})"
        )
        held[key] = new
        moved.append(f"{key[0]}:{key[1]}")
    return moved


def settle_parquet(held: dict, got: Version, versions: list[Version], db_held: dict, where: str) -> None:
    """Parquet: each day file holds one whole version, no older than the one it held and no newer than
    DuckDB's. (It may lag DuckDB by several versions: a run killed after its DuckDB commit leaves the
    export queued, and the next writer exports whatever DuckDB holds by then.)"""
    for key, rows in got.items():
        candidates = [v for v in range(held[key], db_held[key] + 1) if versions[v][key] == rows]
        assert candidates, f"{where} {key}: not a whole version between {held[key]} and {db_held[key]}"
        held[key] = candidates[-1]


@pytest.mark.slow
def test_sigkill_at_random_points_keeps_every_day_whole_and_a_rerun_converges(tmp_path):
    config = EmulatorConfig(
        meetings=150, days=6, seed=21, end=END, max_per_page=10, participants_mean=3.0, token="crash-token"
    )
    with Emulator(config, Faults(latency_s=0.002)) as emu:
        env = cli_env(tmp_path, emu.env())
        args = [
            "backfill",
            "--start",
            str(FIRST),
            "--end",
            str(LAST),
            "--days-per-run",
            "2",
            "--workers",
            "4",
        ]
        started = time.monotonic()
        done = run_cli(args, env)
        full_run = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        versions = [truth_versions(emu)]
        db_held = dict.fromkeys(versions[0], 0)
        pq_held = dict.fromkeys(versions[0], 0)
        analysts_held = dict.fromkeys(versions[0], 0)
        assert duckdb_versions(state_path(tmp_path / "rtk.duckdb")) == versions[0]
        assert duckdb_versions(tmp_path / "rtk.duckdb") == versions[0]
        assert parquet_versions(tmp_path / "parquet") == versions[0]

        rng = random.Random(2026)
        killed, mixed, lagged = 0, 0, 0
        for n in range(1, KILLS + 1):
            mutate(emu, FIRST, LAST, f"v{n}")
            versions.append(truth_versions(emu))
            assert all(versions[n][k] != versions[n - 1][k] for k in versions[n]), "every day must change"
            with open(tmp_path / "stderr.txt", "w+b") as stderr:
                proc = subprocess.Popen(cli(*args), env=env, stdout=subprocess.DEVNULL, stderr=stderr)
                killed += kill_after(proc, rng.uniform(0.1, full_run * 1.1))
                stderr.seek(0)
                assert proc.returncode in (0, -9), f"run {n} failed: {stderr.read().decode()[-2000:]}"
            state = duckdb_versions(state_path(tmp_path / "rtk.duckdb"))
            moved = settle(db_held, state, versions, n, f"run {n} DuckDB")
            settle_parquet(
                pq_held, parquet_versions(tmp_path / "parquet"), versions, db_held, f"run {n} Parquet"
            )
            # The analysts' file reads what was published: like the mirror, it may lag the state (a run killed
            # after its commit leaves the export queued for the next writer), never half a day.
            analysts = duckdb_versions(tmp_path / "rtk.duckdb")
            settle_parquet(analysts_held, analysts, versions, db_held, f"run {n} analysts' file")
            mixed += 0 < len(moved) < len(db_held)
        assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed before they finished"

        done = run_cli(args, env)
        assert done.returncode == 0, done.stderr
        final = len(versions) - 1
        assert duckdb_versions(state_path(tmp_path / "rtk.duckdb")) == versions[final]
        assert duckdb_versions(tmp_path / "rtk.duckdb") == versions[final]
        assert parquet_versions(tmp_path / "parquet") == versions[final]
        staging = tmp_path / ".rtk.duckdb.staging"
        assert not staging.exists() or not any(staging.iterdir()), "killed runs' stages were never swept"
        # The file also opens read-write and its sync_runs tell the story of the final run.
        con = duckdb.connect(str(tmp_path / "rtk.duckdb"))
        outcomes = con.execute("SELECT outcome, count(*) FROM sync_runs GROUP BY 1").fetchall()
        con.close()
        assert dict(outcomes).get("success", 0) >= 6
        print(
            f"{killed} kills; {mixed} left a mix of old and new days, {lagged} a Parquet day behind DuckDB; "
            f"full run {full_run:.1f}s"
        )
