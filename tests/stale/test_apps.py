"""Stale meetings are judged and deactivated per app: two apps of the same seed (the same meeting ids) in
one warehouse, each with its own emulator. Deactivating app A's stale meetings PATCHes only A's API,
audits under A, and leaves B's candidates, audit and freshness alone."""

from __future__ import annotations

import pytest

from rtk_pipeline import stale
from tests.stale.conftest import END, WORLD, World, fast_client
from tests.support.stores import open_duckdb_store


@pytest.fixture
def two(emulator_factory, tmp_path):
    worlds = {}
    for app in ("app-A", "app-B"):
        emu = emulator_factory(**WORLD, app_id=app)
        wh = open_duckdb_store(tmp_path, app_id=app)
        worlds[app] = World(emu, fast_client(emu), wh, END)
    yield worlds
    for world in worlds.values():
        world.client.close()


def _candidates(world: World) -> list[str]:
    return [c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)]


def test_stale_candidates_and_deactivations_are_per_app(two):
    a, b = two["app-A"], two["app-B"]
    a.sync()
    # B has not synced: its store is not fresh, whatever A's sync says.
    with pytest.raises(stale.WarehouseNotFreshError):
        b.run(max_deactivations=1000)
    b.sync()
    expected = a.truth_stale()
    assert expected and expected == b.truth_stale()  # the same ids are stale in both apps
    assert set(_candidates(a)) == expected == set(_candidates(b))

    # A's run holds A's lock; B's run is not kept waiting by it.
    with a.wh.lock("deactivate"):
        with pytest.raises(stale.DeactivationBusyError):
            a.run(max_deactivations=1000)
        b.run(max_deactivations=1000, dry_run=True)
    decisions = a.run(max_deactivations=1000)
    assert {d.meeting_id for d in decisions if d.decision == "deactivated"} == expected
    assert set(a.patched_ids()) == expected and b.patches() == []
    assert {m for m, s in a.statuses().items() if s == "INACTIVE"} >= expected
    assert all(s == "ACTIVE" for m, s in b.statuses().items() if m in expected)
    assert _candidates(a) == [] and set(_candidates(b)) == expected  # B's rows kept their ACTIVE status

    with a.wh.connect(read_only=True) as con:
        audit = dict(
            con.execute(
                "SELECT app_id, count(*) FILTER (WHERE NOT dry_run) FROM meeting_deactivations GROUP BY 1"
            ).fetchall()
        )
    assert audit == {"app-A": len(decisions), "app-B": 0}  # B's rows are its dry run's
    assert b.wh.latest_decisions(dict.fromkeys(expected, a.as_of.replace(year=2000))) == dict.fromkeys(
        expected, "would-deactivate"
    )
