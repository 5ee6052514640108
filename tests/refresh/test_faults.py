"""The refresh under the emulator's faults and drift (5xx, 429s, truncated answers, participants deleted
and meetings created while paging), and SIGKILLed mid-run: every meeting's participants are stored whole,
either as before the run or as the API holds them, and a re-run converges to the API."""

from __future__ import annotations

import random
import subprocess

from rtk_pipeline.refresh import RefreshSettings, refresh
from tests.support.emulator import client_for
from tests.support.processes import cli, cli_env, kill_after, run_cli
from tests.support.stores import open_duckdb_store

from .changes import (
    api_meetings,
    api_participants,
    assert_converged,
    make_changes,
    stored_meetings,
    stored_participants,
)
from .conftest import FAULTS, backfill

SMALL = {"meetings": 160, "days": 12, "seed": 29}


def test_refresh_under_faults_and_drift_converges(emulator_factory, tmp_path):
    emu = emulator_factory(**SMALL)
    store = open_duckdb_store(tmp_path)
    backfill(emu, store)
    with client_for(emu) as client:
        make_changes(emu, client, joins=15, renames=5, deactivations=5, deletions=5, creations=2)
        emu.set_faults(**FAULTS)
        first = refresh(client, store, settings=RefreshSettings())
        assert first.requests <= first.budget
        emu.set_faults(**dict.fromkeys(FAULTS, 0.0))
        refresh(client, store, settings=RefreshSettings())  # what drift added during the first run
    assert emu.stats["faults"], "no fault was served"
    assert_converged(store, emu)


def _by_meeting(pairs: dict) -> dict[str, frozenset]:
    out: dict[str, set] = {}
    for meeting_id, participant_id in pairs:
        out.setdefault(meeting_id, set()).add(participant_id)
    return {m: frozenset(p) for m, p in out.items()}


def test_sigkill_mid_refresh_keeps_every_meeting_whole_and_a_rerun_converges(emulator_factory, tmp_path):
    emu = emulator_factory(**SMALL, latency_s=0.01)
    store = open_duckdb_store(tmp_path)
    backfill(emu, store)
    before = _by_meeting(stored_participants(store, emu.app_id))
    with client_for(emu) as client:
        make_changes(emu, client, joins=30, renames=5, deactivations=5, deletions=10, creations=2)
    after = _by_meeting(api_participants(emu))
    env = cli_env(tmp_path, emu.env())
    rng = random.Random(5)
    for _ in range(4):
        proc = subprocess.Popen(cli("refresh", "--max-requests", "60"), env=env, stdout=subprocess.DEVNULL)
        kill_after(proc, rng.uniform(0.3, 2.0))
        stored = _by_meeting(stored_participants(store, emu.app_id))
        for meeting_id in set(stored) | set(after):
            got = stored.get(meeting_id, frozenset())
            assert got in (before.get(meeting_id, frozenset()), after.get(meeting_id, frozenset())), (
                meeting_id
            )
    done = run_cli(["refresh"], env)
    assert done.returncode == 0, done.stderr
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    assert stored_participants(store, emu.app_id) == api_participants(emu)
    # The Parquet mirror holds the same participants, day file by day file.
    import pyarrow.dataset as ds

    mirror = ds.dataset(tmp_path / "parquet" / "participants", format="parquet", partitioning="hive")
    pairs = set(zip(*mirror.to_table(columns=["meeting_id", "id"]).to_pydict().values(), strict=True))
    assert pairs == set(api_participants(emu))
