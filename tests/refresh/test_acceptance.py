"""Issue 19's acceptance run: after a backfill, changes made through the API to older meetings (late
participants, renames, INACTIVE, deleted participants, meetings created today) reach the warehouse with one
refresh, at no more than 1.15x the ideal requests; budgeted runs never exceed their budget and land every
new participant within twice the runs of the ideal cycle."""

from __future__ import annotations

import math

from rtk_pipeline.refresh import RefreshSettings, plan, refresh
from tests.support.emulator import client_for, pass_time
from tests.support.stores import open_duckdb_store, rows

from .changes import (
    api_meetings,
    api_participants,
    ideal_requests,
    make_changes,
    stored_meetings,
    stored_participants,
)
from .conftest import ROOMS, backfill

SETTINGS = RefreshSettings()


def test_one_refresh_makes_meetings_and_participants_equal_the_api(rooms) -> None:
    emu, store = rooms
    with client_for(emu) as client:
        changes = make_changes(emu, client)
        assert stored_participants(store, emu.app_id) != api_participants(emu)  # the backfill missed them
        ideal = ideal_requests(emu)
        report = refresh(client, store, settings=SETTINGS)

    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    assert stored_participants(store, emu.app_id) == api_participants(emu)
    assert report.requests <= 1.15 * ideal, (report.requests, ideal)
    assert report.meetings_added == len(changes.created)
    assert report.meetings_changed >= len(changes.renamed) + len(changes.deactivated)
    assert report.participants_added == len(changes.joined)
    assert report.participants_removed == len(changes.deleted)
    assert report.active_behind == 0
    assert report.budget == SETTINGS.default_budget
    # Every ACTIVE meeting's participants were listed by this run, INACTIVE ones keep their stamp.
    unstamped = rows(
        store,
        "SELECT count(*) FROM meetings WHERE app_id = ? AND participants_synced_at IS NULL",
        [emu.app_id],
    )
    assert unstamped == [(0,)]


def test_budgeted_runs_stay_within_the_budget_and_reach_every_new_participant(rooms) -> None:
    emu, store = rooms
    budget = 200
    with client_for(emu) as client:
        changes = make_changes(emu, client)
        cycle_runs = math.ceil(ideal_requests(emu) / budget)
        predicted = plan(store, max_requests=budget, settings=SETTINGS)
        assert predicted.cycle_runs >= cycle_runs
        runs = 0
        wanted = set(changes.joined)
        while wanted - set(stored_participants(store, emu.app_id)):
            report = refresh(client, store, max_requests=budget, settings=SETTINGS)
            runs += 1
            assert report.requests <= budget
            assert runs <= 2 * cycle_runs, f"new participants still missing after {runs} runs"
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)


def test_late_arrivals_in_older_rooms_land_with_one_refresh(emulator_factory, tmp_path) -> None:
    """The emulator's reusable rooms keep gaining participants after the backfill (its clock moved two
    weeks on): one refresh makes the whole participants table equal the API's truth."""
    emu = emulator_factory(**ROOMS, rooms=0.5)
    store = open_duckdb_store(tmp_path / "wh")
    backfill(emu, store)
    pass_time(emu, 14)
    assert stored_participants(store, emu.app_id) != api_participants(emu), "no room gained anyone"
    with client_for(emu) as client:
        report = refresh(client, store, settings=SETTINGS)
    assert report.participants_added > 0
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    assert stored_participants(store, emu.app_id) == api_participants(emu)
