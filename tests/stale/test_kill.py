"""A deactivation run SIGKILLed in the middle of its PATCHes: the next run settles its audit rows from the
live state and no meeting is PATCHed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from rtk_pipeline import stale
from tests.support.processes import REPO

_RUN = """
import sys
from datetime import datetime
from rtk_pipeline import stale
from tests.support.processes import REPO
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import client_for

base_url, token, account, app, duckdb_path, parquet_dir, as_of = sys.argv[1:]
client = client_for(base_url, api_token=token, account_id=account, app_id=app)
stale.deactivate_stale(client, DuckDBStore(duckdb_path, parquet_dir, app_id=app), max_deactivations=1000,
                       as_of=datetime.fromisoformat(as_of), run_id="killed")
"""


@pytest.mark.parametrize("kill_after_patches", [1, 4])
def test_run_killed_mid_patch_leaves_an_accurate_audit_and_never_patches_twice(world, kill_after_patches):
    expected = world.truth_stale()
    before = world.statuses()
    world.emu.set_faults(latency_s=0.05)  # widen the windows between audit writes and PATCHes
    args = [world.emu.base_url, world.emu.token, world.emu.account_id, world.emu.app_id]
    args += [str(world.wh.duckdb_path), str(world.wh.parquet_dir), world.as_of.isoformat()]
    proc = subprocess.Popen([sys.executable, "-c", _RUN, *args], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(world.patches()) < kill_after_patches:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never reached its PATCHes"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.2)  # requests the dead process had in flight land (as they would, long before a next tick)
    world.emu.set_faults(latency_s=0.0)
    killed_rows = world.audit("run_id = 'killed'")
    # Rows are flushed before each PATCH and settled with the next flush: the kill, right after a PATCH
    # landed, leaves exactly that attempt pending (its PATCH applied, its outcome unrecorded).
    (in_flight,) = [r for r in killed_rows if r["decision"] == "pending"]
    assert Counter(r["decision"] for r in killed_rows)["deactivated"] == kill_after_patches - 1
    assert world.emu.meeting(in_flight["meeting_id"])["status"] == "INACTIVE"

    world.run(max_deactivations=1000, run_id="next")

    per_meeting = Counter(world.patched_ids())
    assert max(per_meeting.values()) == 1  # never PATCHed twice
    assert set(per_meeting) == expected
    after = world.statuses()
    assert {i for i, s in after.items() if s != before[i]} == expected
    assert not world.audit("decision = 'pending'")
    deactivated = Counter(r["meeting_id"] for r in world.audit("decision = 'deactivated'"))
    assert set(deactivated) == expected and max(deactivated.values()) == 1
    # The pending row was settled in place by the next run, from the live status, without a PATCH.
    (settled,) = world.audit(f"attempt_id = '{in_flight['attempt_id']}'")
    assert settled["decision"] == stale.DEACTIVATED and "interrupted" in settled["detail"]
    assert per_meeting[in_flight["meeting_id"]] == 1
