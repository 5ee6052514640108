"""Concurrency: four `rtk-pipeline backfill` processes at once against one DuckDB file (and an analyst
reading it meanwhile) all succeed, say nothing about locks, and leave exactly the ground truth."""

from __future__ import annotations

import subprocess
import threading
from datetime import date, timedelta

import pyarrow.parquet as pq
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from tests.support.emulator import APP, END
from tests.support.processes import REPO, cli, cli_env
from tests.support.stores import open_duckdb_store
from tests.support.truth import assert_matches_truth, query

pytestmark = pytest.mark.slow

DAYS = [date(2026, 10, 28) + timedelta(days=n) for n in range(4)]
WINDOWS = {
    "one day each": [(d, d) for d in DAYS],
    "overlapping": [(DAYS[0], DAYS[1]), (DAYS[1], DAYS[2]), (DAYS[2], DAYS[3]), (DAYS[0], DAYS[3])],
}


@pytest.mark.parametrize("windows", list(WINDOWS), ids=list(WINDOWS))
def test_four_backfills_at_once_end_correct_without_a_lock_error(tmp_path, windows):
    config = EmulatorConfig(meetings=160, days=4, seed=17, end=END, max_per_page=10, participants_mean=3.0)
    with Emulator(config, Faults(latency_s=0.002)) as emu:
        env = cli_env(tmp_path, emu.env())
        warehouse = open_duckdb_store(tmp_path, app_id=APP)
        reads, read_errors, stop = [0], [], threading.Event()

        def analyst() -> None:
            """Reads the warehouse in a loop while the four write; every read must just work."""
            while not stop.is_set():
                try:
                    if warehouse.duckdb_path.exists():
                        warehouse.query_df("SELECT count(*) AS n FROM meetings")
                        reads[0] += 1
                except Exception as exc:
                    read_errors.append(f"{type(exc).__name__}: {exc}")
                stop.wait(0.05)

        reader = threading.Thread(target=analyst, daemon=True)
        reader.start()
        procs = []
        for n, (first, last) in enumerate(WINDOWS[windows]):
            out = open(tmp_path / f"run{n}.out", "w+")  # noqa: SIM115 - closed below
            args = ["backfill", "--start", str(first), "--end", str(last), "--workers", "4"]
            procs.append((subprocess.Popen(cli(*args), env=env, cwd=REPO, stdout=out, stderr=out), out))
        for proc, out in procs:
            proc.wait(timeout=300)
            out.seek(0)
            text = out.read()
            out.close()
            assert proc.returncode == 0, text[-3000:]
            for word in ("lock", "Lock", "busy", "Traceback", "error"):
                assert word not in text, f"{word!r} surfaced to the user:\n{text[-3000:]}"
        stop.set()
        reader.join()
        assert not read_errors, read_errors[:3]
        assert reads[0] > 0

        assert_matches_truth(warehouse, emu, DAYS[0], DAYS[-1])
        runs = query(warehouse, "SELECT table_name, outcome FROM sync_runs")
        assert len(runs) == 8 and {r["outcome"] for r in runs} == {"success"}
        for day in DAYS:
            ids = {r["id"] for r in query(warehouse, "SELECT id FROM meetings WHERE created_day = ?", [day])}
            path = warehouse.parquet_path("meetings", day)
            assert set(pq.read_table(path).column("id").to_pylist()) == ids, day
