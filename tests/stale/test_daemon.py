"""A real `dagster-daemon run` with a temporary DAGSTER_HOME: the stale-meetings sensor ticks on its own,
its runs PATCH the emulator's stale meetings, and nobody clicks anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from dagster_defs import stale as dstale
from tests.stale.conftest import END, World, add_handmade_meetings, fast_client, sync_world
from tests.support.emulator import APP
from tests.support.names import STALE_JOB, STALE_SENSOR
from tests.support.processes import REPO, stop_group
from tests.support.stores import open_duckdb_store

DAEMON = Path(sys.executable).with_name("dagster-daemon")
JOB = STALE_JOB
BUSY = dstale.BUSY_STATUSES


@pytest.mark.slow
def test_daemon_sensor_deactivates_stale_meetings_on_its_own(emulator_factory, tmp_path):
    emu = emulator_factory(meetings=30, days=90, seed=9, end=END, participants_mean=2.0)
    add_handmade_meetings(emu)
    wh = open_duckdb_store(tmp_path, app_id=APP)
    sync_world(emu, wh.duckdb_path, wh.parquet_dir)
    client = fast_client(emu)  # only for the World's ground-truth helpers; the daemon has its own
    world = World(emu, client, wh, datetime.now(UTC))  # the sensor judges against the real clock
    expected = world.truth_stale()
    before = world.statuses()
    assert len(expected) > 5

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_defs" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        f"  - python_file:\n      relative_path: {REPO / 'tests' / 'stale' / 'daemon_definitions.py'}\n"
        f"      working_directory: {REPO}\n"
    )
    env = {
        **os.environ,
        **emu.env(),
        "DAGSTER_HOME": str(home),
        "RTK_DUCKDB_PATH": str(tmp_path / "rtk.duckdb"),
        "RTK_PARQUET_DIR": str(tmp_path / "parquet"),
        "RTK_STALE_SENSOR_INTERVAL": "2",
        # About three runs, however many meetings the clock makes stale (the world ends at today's midnight
        # and is judged against now): several ticks and runs, so the cursor and the busy guard take part.
        "RTK_STALE_MAX_PER_RUN": str(max(2, -(-len(expected) // 3))),
        "RTK_RATE_LIMIT_REQUESTS": "100000",
        "RTK_RATE_LIMIT_PERIOD_S": "1",
    }
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen(
        [str(DAEMON), "run", "-w", str(workspace)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            inactive = {i for i in expected if emu.meeting(i)["status"] == "INACTIVE"}
            if inactive == expected:
                break
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (
                f"{len(inactive)}/{len(expected)} deactivated after 240 s\n"
                + (tmp_path / "daemon.log").read_text()[-3000:]
            )
            time.sleep(1)
        with dg.DagsterInstance.from_config(str(home)) as instance:  # let the last run record its end
            while instance.get_runs(filters=dg.RunsFilter(job_name=JOB, statuses=BUSY)):
                assert time.monotonic() < deadline, "a deactivation run never finished"
                time.sleep(0.5)
    finally:
        stop_group(proc)  # the daemon and what it started (code server, run workers)
        log.close()

    after = world.statuses()
    assert {i for i, s in after.items() if s != before[i]} == expected
    patched = [r.path.rsplit("/", 1)[1] for r in emu.requests if r.method == "PATCH"]
    assert sorted(patched) == sorted(expected)  # each once
    client.close()
    # Several runs, one after the other (the cap of 8 per run), each started by a sensor tick.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=JOB))
        assert len(runs) >= 2
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * len(runs)
        assert all(r.tags.get("dagster/sensor_name") == STALE_SENSOR for r in runs)
    audit = wh.query_df("SELECT run_id, meeting_id FROM meeting_deactivations WHERE decision = 'deactivated'")
    assert sorted(audit.meeting_id) == sorted(expected)
    assert set(audit.run_id) <= {r.run_id for r in runs}
