"""Stale-meeting deactivation on the Delta backend: the audit is a Delta table, and two runs that overlap
anyway (two hosts: no shared run lock) still PATCH only stale meetings, leave every stale one INACTIVE,
settle every audit row and never leave one `pending`."""

from __future__ import annotations

import threading
from collections import Counter

from rtk_pipeline import stale
from rtk_pipeline.emulator import EmulatorConfig
from rtk_pipeline.store.delta import DeltaStore
from tests.stale.conftest import END, WORLD, World, add_handmade_meetings, fast_client


def delta_world(emulator_factory, tmp_path, host: str = "a") -> World:
    emu = emulator_factory(**WORLD)
    add_handmade_meetings(emu)
    store = DeltaStore(str(tmp_path / "lake"), app_id=emu.app_id, staging_dir=tmp_path / host)
    world = World(emu, fast_client(emu), store, END)
    world.sync()
    return world


def audit(store: DeltaStore) -> list[dict]:
    with store.connect(read_only=True) as con:
        return con.execute("SELECT * FROM meeting_deactivations ORDER BY recorded_at").df().to_dict("records")


def test_deactivation_audits_into_delta(emulator_factory, tmp_path):
    world = delta_world(emulator_factory, tmp_path)
    expected = world.truth_stale()
    assert expected, EmulatorConfig(**WORLD)
    decisions = world.run()
    assert {d.meeting_id for d in decisions if d.decision == stale.Outcome.DEACTIVATED} == expected
    assert sorted(world.patched_ids()) == sorted(expected)
    rows = audit(world.wh)
    assert {r["meeting_id"] for r in rows if r["decision"] == "deactivated"} == expected
    assert not [r for r in rows if r["decision"] == "pending"]
    with world.wh.connect(read_only=True) as con:
        status = dict(con.execute("SELECT id, status FROM meetings").fetchall())
    assert {mid for mid in expected if status[mid] == "INACTIVE"} == expected  # the table reflects it at once
    world.client.close()


def test_two_overlapping_runs_stay_idempotent(emulator_factory, tmp_path):
    world = delta_world(emulator_factory, tmp_path)
    expected = world.truth_stale()
    # A second "host": same Delta tables, its own staging folder (so its own run lock) and client.
    other = DeltaStore(str(tmp_path / "lake"), app_id=world.wh.app_id, staging_dir=tmp_path / "b")
    other_client = fast_client(world.emu)
    results, errors = {}, []

    def run(name, client, store) -> None:
        try:
            results[name] = stale.deactivate_stale(client, store, as_of=world.as_of)
        except Exception as exc:  # the test reports it below
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=run, args=("a", world.client, world.wh)),
        threading.Thread(target=run, args=("b", other_client, other)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    statuses = world.statuses()
    assert {mid for mid in expected if statuses[mid] == "INACTIVE"} == expected
    patched = Counter(world.patched_ids())
    assert set(patched) == expected, "only stale meetings are ever PATCHed"
    assert max(patched.values()) <= 2, "at most one PATCH per run and meeting"
    rows = audit(world.wh)
    assert not [r for r in rows if r["decision"] == "pending"], "every attempt is settled"
    attempts = [r["attempt_id"] for r in rows]
    assert len(attempts) == len(set(attempts)), "an audit row is stored twice"
    assert {r["meeting_id"] for r in rows if r["decision"] == "deactivated"} == expected
    world.client.close()
    other_client.close()
