"""When one meetings listing costs more than half a run's budget, the refresh lists windows across runs: every
run stays within its budget, the window cursor moves forward run after run, and once the cycle is through
every meeting row equals the API. A single creation day holding more pages than half the budget (here, more
than the whole budget) is cut inside the day, so the cycle still advances instead of listing that day again
and again; `--plan` counts the windows' runs in the cycle."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

from rtk_pipeline.refresh import RefreshSettings, plan, refresh
from rtk_pipeline.refresh.cost import listing_share, states
from rtk_pipeline.refresh.cycle import created, runs
from tests.support.emulator import END, client_for
from tests.support.stores import open_duckdb_store

from .changes import api_meetings, stored_meetings
from .conftest import backfill

SETTINGS = RefreshSettings()
LAST_DAY = (END - timedelta(days=1)).date()  # the emulators' data ends at END


def _renamed_everywhere(emu, client, every: int) -> list[str]:
    """Every `every`-th meeting renamed through the API (old and new days alike), and two created today."""
    ids = [m["id"] for m in emu.meetings()][::every]
    for n, meeting_id in enumerate(ids):
        client.update_meeting(meeting_id, {"title": f"Renamed while windowed {n}"})
    for n in range(2):
        client.create_meeting({"title": f"Created during the cycle {n}"})
    return ids


def _run_cycle(emu, store, budget: int, max_runs: int) -> list:
    """Budgeted refreshes until the window cursor comes back to the start: each run's requests and the
    cursor after it."""
    seen = []
    with client_for(emu) as client:
        for _ in range(max_runs):
            report = refresh(client, store, max_requests=budget, settings=SETTINGS)
            assert report.requests <= budget, (report.requests, budget)
            seen.append((report.requests, store.refresh_cursor()))
            if seen[-1][1] is None:
                return seen
    raise AssertionError(f"the windows did not come round in {max_runs} runs: {seen}")


def _planned_runs(store, budget: int) -> int:
    return len(list(runs(created(states(store.meeting_states())), None, listing_share(budget))))


def test_a_listing_larger_than_half_the_budget_advances_through_windows_across_runs(
    emulator_factory, tmp_path
):
    emu = emulator_factory(meetings=1200, days=12, seed=31, participants_mean=0.5, rooms=0)
    store = open_duckdb_store(tmp_path)
    backfill(emu, store)
    budget = 10  # a listing of 13 pages; each run may list 5
    with client_for(emu) as client:
        renamed = _renamed_everywhere(emu, client, every=37)
    assert stored_meetings(store, emu.app_id) != api_meetings(emu)
    windowed = _planned_runs(store, budget)
    assert windowed >= 3
    assert plan(store, max_requests=budget, settings=SETTINGS).cycle_runs >= windowed

    seen = _run_cycle(emu, store, budget, max_runs=windowed + 1)
    cursors = [cursor for _, cursor in seen[:-1]]
    assert len(cursors) >= 2 and cursors == sorted(set(cursors)), seen  # forward, one run after another
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    titles = stored_meetings(store, emu.app_id)
    assert all(titles[m][0].startswith("Renamed while windowed") for m in renamed)


def test_a_day_with_more_pages_than_the_budget_is_cut_inside_the_day_and_never_stalls(
    emulator_factory, tmp_path
):
    # 600 meetings created on one UTC day (2026-10-31): 6 pages, more than the whole budget of 4.
    emu = emulator_factory(meetings=600, days=1, seed=37, participants_mean=0.2, rooms=0)
    store = open_duckdb_store(tmp_path)
    backfill(emu, store)
    assert {m.day for m in states(store.meeting_states())} == {LAST_DAY}
    budget = 4
    with client_for(emu) as client:
        renamed = _renamed_everywhere(emu, client, every=29)
    windowed = _planned_runs(store, budget)
    assert windowed >= 3  # the day is listed in pieces, a share's worth per run
    assert plan(store, max_requests=budget, settings=SETTINGS).cycle_runs >= windowed

    seen = _run_cycle(emu, store, budget, max_runs=windowed + 1)
    cursors = [cursor for _, cursor in seen[:-1]]
    assert all(c is not None and c.date() == LAST_DAY for c in cursors), seen
    assert cursors == sorted(set(cursors)), seen  # inside the day, forward every run
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    titles = stored_meetings(store, emu.app_id)
    assert all(titles[m][0].startswith("Renamed while windowed") for m in renamed)


def test_windows_tile_the_timeline_and_each_run_fits_its_share() -> None:
    """Whatever the days hold (quiet days, a busy one, one instant shared by many), a cycle's windows follow
    each other without a gap from open start to open end, and a run's windows fit its share unless one
    instant alone holds more."""
    rng = random.Random(19)
    start = END - timedelta(days=30)
    created = [start + timedelta(seconds=rng.uniform(0, 30 * 86400)) for _ in range(900)]
    busy = END - timedelta(days=5)
    created += [busy + timedelta(seconds=rng.uniform(0, 86400)) for _ in range(1500)]
    created += [busy + timedelta(hours=3)] * 50  # one instant of 50 meetings
    created.sort()
    for share in (1, 2, 5, 40):
        planned = list(runs(created, None, share))
        flat = [window for run in planned for window, _ in run]
        assert flat[0][0] is None and flat[-1][1] is None
        assert all(a[1] == b[0] for a, b in itertools.pairwise(flat)), share
        ends = [hi for _, hi in flat[:-1]]
        assert ends == sorted(set(ends)), share  # forward, never a window of no length
        for run in planned:
            assert sum(cost for _, cost in run) <= share or len(run) == 1, (share, run)
        assert all(pages <= share for run in planned for _, pages in run), share
        # Resuming from any run's end gives the rest of the same cycle.
        resumed = list(runs(created, planned[0][-1][0][1], share)) if len(planned) > 1 else []
        assert resumed == planned[1:], share
