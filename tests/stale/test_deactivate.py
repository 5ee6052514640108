"""deactivate_stale against the emulator (real HTTP) and a real DuckDB warehouse synced from it.

The emulator's request log is the evidence of what was sent; its ground truth says what changed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from rtk_pipeline import stale
from rtk_pipeline.normalize import parse_timestamp
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP


def _ids(decisions, decision):
    return {d.meeting_id for d in decisions if d.decision == decision}


def test_only_stale_active_meetings_are_patched_with_exactly_the_status_body(world):
    before = world.statuses()
    expected = world.truth_stale()
    assert len(expected) >= 10, "the seeded world should hold a fair number of stale meetings"

    decisions = world.run(max_deactivations=1000)

    patches = world.patches()
    assert sorted(world.patched_ids()) == sorted(expected)  # each stale meeting once, nothing else
    for record in patches:
        assert record.body == {"status": "INACTIVE"}
        assert record.path.startswith(f"/client/v4/accounts/{world.emu.account_id}/realtime/kit/")
        assert record.status == 200
    after = world.statuses()
    assert {i for i, s in after.items() if s != before[i]} == expected
    assert all(after[i] == "INACTIVE" for i in expected)
    assert _ids(decisions, stale.DEACTIVATED) == expected
    # Every live check was a GET (meeting) and a participants listing; nothing else was written.
    assert {r.method for r in world.emu.requests} == {"GET", "PATCH"}


def test_audit_and_meetings_table_reflect_deactivation_at_once(world):
    expected = world.truth_stale()
    decisions = world.run(max_deactivations=1000, run_id="run-audit")

    rows = world.audit("decision = 'deactivated'")
    assert {r["meeting_id"] for r in rows} == expected
    row = rows[0]
    assert row["run_id"] == "run-audit"
    assert row["threshold_days"] == 30
    assert row["http_status"] == 200
    assert row["dry_run"] is False or row["dry_run"] == 0
    assert row["last_activity_at"] is not None and row["decided_at"] is not None
    assert not world.audit("decision = 'pending'")
    # The meetings table (and its Parquet day files) show INACTIVE without waiting for a sync.
    status = dict(world.wh.query_df("SELECT id, status FROM meetings").itertuples(index=False))
    assert all(status[i] == "INACTIVE" for i in expected)
    one = next(iter(expected))
    day = world.wh.query_df(f"SELECT created_day FROM meetings WHERE id = '{one}'").iloc[0, 0].date()
    table = pq.read_table(world.wh.parquet_path("meetings", day)).to_pylist()
    assert next(r for r in table if r["id"] == one)["status"] == "INACTIVE"
    # The warehouse's own candidate list is now empty for the default policy.
    assert stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of) == []
    # No secret from the PATCH responses (storage credentials) reached either table.
    dump = (
        world.wh.query_df("SELECT * FROM meetings").to_json()
        + world.wh.query_df("SELECT * FROM meeting_deactivations").to_json()
    )
    assert "EMU-SECRET" not in dump
    assert len(decisions) == len(world.audit())


def test_dry_run_sends_no_patch_and_audits_every_candidate(world):
    before = world.statuses()
    expected = world.truth_stale()

    decisions = world.run(dry_run=True, max_deactivations=1000)

    assert world.patches() == []
    assert world.statuses() == before
    assert _ids(decisions, stale.WOULD_DEACTIVATE) == expected
    rows = world.audit()
    assert {r["meeting_id"] for r in rows} == expected
    assert all(r["dry_run"] and r["decision"] == "would-deactivate" for r in rows)


def test_cap_takes_the_most_stale_first_and_leaves_the_rest_for_later(world):
    expected = world.truth_stale()
    order = [c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)]
    assert set(order) == expected

    first = world.run(max_deactivations=3)
    assert world.patched_ids() == order[:3]
    assert _ids(first, stale.SKIP_CAP) == set(order[3:])

    world.emu.clear_requests()
    world.run(max_deactivations=3)
    assert world.patched_ids() == order[3:6]


def test_dry_run_also_honours_the_cap(world):
    decisions = world.run(dry_run=True, max_deactivations=2)
    assert len(_ids(decisions, stale.WOULD_DEACTIVATE)) == 2
    assert world.patches() == []


def test_deny_list_is_never_touched_and_allow_list_limits(world):
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    board = next(c.meeting_id for c in candidates if c.title == "Board room (permanent)")
    quarterly = next(c.meeting_id for c in candidates if c.title == "Quarterly review")
    denied_id = next(c.meeting_id for c in candidates if c.meeting_id not in (board, quarterly))

    # An allow list restricts a run to matching meetings; deny still wins over allow.
    decisions = world.run(
        max_deactivations=1000,
        allow_title_patterns=["Board room", "Quarterly"],
        deny_title_patterns=["^Board room"],
    )
    assert world.patched_ids() == [quarterly]
    assert _ids(decisions, stale.SKIP_DENIED) == {board}
    assert len(_ids(decisions, stale.SKIP_NOT_ALLOWED)) == len(candidates) - 2

    world.emu.clear_requests()
    expected = world.truth_stale() - {board, denied_id}
    decisions = world.run(max_deactivations=1000, deny_ids=[denied_id], deny_title_patterns=[r"^Board room"])

    assert set(world.patched_ids()) == expected
    assert _ids(decisions, stale.SKIP_DENIED) == {board, denied_id}
    assert world.emu.meeting(board)["status"] == world.emu.meeting(denied_id)["status"] == "ACTIVE"


def test_meeting_with_new_activity_between_sync_and_job_is_not_deactivated(world):
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    edited, joined, closed = (c.meeting_id for c in candidates[:3])
    world.emu.update_meeting(edited, title="Renamed: still in use")  # moves updated_at to now
    world.emu.add_participant(joined, name="New invitee")  # does not touch the meeting itself
    world.emu.update_meeting(closed, status="INACTIVE")  # someone deactivated it by hand
    world.emu.clear_requests()
    expected = world.truth_stale()

    decisions = {d.meeting_id: d for d in world.run(max_deactivations=1000)}

    patched = set(world.patched_ids())
    assert not patched & {edited, joined, closed}
    assert patched == expected
    assert decisions[edited].decision == stale.SKIP_CHANGED
    assert decisions[joined].decision == stale.SKIP_PARTICIPANTS
    assert decisions[closed].decision == stale.SKIP_NOT_ACTIVE
    assert world.emu.meeting(edited)["status"] == world.emu.meeting(joined)["status"] == "ACTIVE"
    # What the run saw live is in the warehouse now: the renamed meeting is no longer a candidate.
    again = {c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)}
    assert edited not in again and closed not in again


def test_only_the_sensors_ids_are_judged(world):
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    fresh = world.wh.query_df(
        "SELECT id FROM meetings WHERE status = 'ACTIVE' ORDER BY updated_at DESC"
    ).iloc[0, 0]
    wanted = [candidates[5].meeting_id, candidates[1].meeting_id, fresh]

    decisions = {d.meeting_id: d for d in world.run(candidate_ids=wanted)}

    assert set(world.patched_ids()) == {candidates[5].meeting_id, candidates[1].meeting_id}
    assert decisions[fresh].decision == stale.SKIP_NOT_STALE
    assert set(decisions) == set(wanted)


def test_failed_patch_is_audited_and_retried_on_the_next_run(world):
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    first, second = candidates[0].meeting_id, candidates[1].meeting_id
    # 404 on the first PATCH; 503 on every attempt of the second (the client gives up after 3).
    world.emu.fail_next(1, 404, paths="update_meeting")
    world.emu.fail_next(3, 503, paths="update_meeting")

    decisions = {d.meeting_id: d for d in world.run(max_deactivations=2)}

    assert decisions[first].decision == stale.FAILED and decisions[first].http_status == 404
    assert decisions[second].decision == stale.FAILED and decisions[second].http_status == 503
    assert "PATCH" in decisions[first].error and "emu-token" not in decisions[first].error
    assert world.emu.meeting(first)["status"] == world.emu.meeting(second)["status"] == "ACTIVE"
    failed = world.audit("decision = 'failed'")
    assert {r["meeting_id"] for r in failed} == {first, second}

    world.emu.clear_requests()
    retry = {d.meeting_id: d for d in world.run(max_deactivations=2)}
    assert world.patched_ids() == [first, second]
    assert retry[first].decision == retry[second].decision == stale.DEACTIVATED


def test_lost_patch_answer_is_confirmed_by_a_get_instead_of_failing(world):
    target = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)[0].meeting_id
    # The server applies the PATCH but the answer arrives garbled on every attempt.
    world.emu.fail_next(3, kind="truncated", paths="update_meeting")

    decisions = {d.meeting_id: d for d in world.run(max_deactivations=1)}

    assert decisions[target].decision == stale.DEACTIVATED
    assert "GET confirmed" in decisions[target].detail
    assert world.emu.meeting(target)["status"] == "INACTIVE"


@pytest.mark.parametrize("style", ["json", "transport"])
def test_a_lost_patch_answer_is_followed_by_a_get_never_a_second_patch(world, style):
    # Every PATCH is applied, and its answer cut mid-body (invalid JSON, or the connection dropped).
    world.emu.set_faults(truncate_style=style)
    world.emu.fail_next(1000, kind="truncated", paths="update_meeting")

    decisions = world.run(max_deactivations=1000)

    landed = Counter(r.path.rsplit("/", 1)[1] for r in world.patches() if r.status == 200)
    assert landed and set(landed.values()) == {1}  # one PATCH per meeting, never a second
    assert world.patched_ids() == list(landed)
    deactivated = [d for d in decisions if d.decision == stale.DEACTIVATED]
    assert {d.meeting_id for d in deactivated} == set(landed)
    assert all("GET confirmed" in d.detail for d in deactivated)
    assert all(world.emu.meeting(i)["status"] == "INACTIVE" for i in landed)
    # Three lost answers in a row is an unhealthy API: the rest waits for the next run.
    assert len(landed) == stale.FAILURES_STOP_AFTER
    assert _ids(decisions, stale.SKIP_UNHEALTHY) == world.truth_stale()


def test_repeated_failures_stop_the_run_early(world):
    world.emu.fail_next(100, 503, paths="update_meeting")

    decisions = world.run(max_deactivations=1000)

    assert len(_ids(decisions, stale.FAILED)) == stale.FAILURES_STOP_AFTER
    assert len(world.patches()) == stale.FAILURES_STOP_AFTER * 3  # 3 attempts each, then the run stopped
    unhealthy = _ids(decisions, stale.SKIP_UNHEALTHY)
    assert unhealthy and len(unhealthy) + stale.FAILURES_STOP_AFTER == len(world.truth_stale())


def test_throttling_stops_the_run_and_never_hammers(world):
    world.emu.fail_next(1000, 429)  # every request: 429 with Retry-After: 1

    decisions = world.run(max_deactivations=1000)

    # One candidate's GET was retried up to the client's attempt budget, then the run stopped.
    assert len(world.emu.requests) <= 3
    assert len(_ids(decisions, stale.FAILED)) == 1
    assert next(d for d in decisions if d.decision == stale.FAILED).http_status == 429
    assert len(_ids(decisions, stale.SKIP_THROTTLED)) == len(world.truth_stale()) - 1
    assert world.patches() == []


def _pending_row(world, meeting_id: str) -> None:
    """What a run killed between writing its pending row and finalizing it leaves behind."""
    snap = next(
        c
        for c in stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
        if c.meeting_id == meeting_id
    )
    now = datetime.now(UTC)
    with world.wh.transaction() as con:
        con.execute(
            "INSERT INTO meeting_deactivations (attempt_id, run_id, meeting_id, title, last_activity_at, "
            "threshold_days, as_of, decision, dry_run, recorded_at, decided_at, app_id) "
            "VALUES (?, 'killed-run', ?, ?, ?, 30, ?, 'pending', false, ?, ?, ?)",
            [
                f"attempt-{meeting_id}",
                meeting_id,
                snap.title,
                snap.last_activity_at,
                world.as_of,
                now,
                now,
                world.wh.app_id,
            ],
        )


def test_pending_rows_of_a_killed_run_are_resolved_without_patching_twice(world):
    world.wh.ensure_schema()
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    landed, lost = candidates[0].meeting_id, candidates[1].meeting_id
    _pending_row(world, landed)
    _pending_row(world, lost)
    world.emu.update_meeting(
        landed, status="INACTIVE", updated_at=candidates[0].updated_at
    )  # its PATCH landed
    world.emu.clear_requests()

    decisions = world.run(max_deactivations=1000)

    patched = world.patched_ids()
    assert landed not in patched  # never PATCHed a second time
    assert patched.count(lost) == 1  # its PATCH never landed: judged again and sent once
    resolved = {r["attempt_id"]: r for r in world.audit("run_id = 'killed-run'")}
    assert resolved[f"attempt-{landed}"]["decision"] == "deactivated"
    assert resolved[f"attempt-{lost}"]["decision"] == "failed"
    assert not world.audit("decision = 'pending'")
    assert world.wh.query_df(f"SELECT status FROM meetings WHERE id = '{landed}'").iloc[0, 0] == "INACTIVE"
    assert lost in _ids(decisions, stale.DEACTIVATED)


def test_warehouse_must_be_freshly_synced(world, tmp_path):
    empty = DuckDBStore(tmp_path / "empty.duckdb", tmp_path / "empty", app_id=APP)
    with pytest.raises(stale.WarehouseNotFreshError, match="no successful meetings sync"):
        stale.deactivate_stale(world.client, empty)

    with world.wh.transaction() as con:
        con.execute("UPDATE sync_runs SET finished_at = finished_at - INTERVAL 3 DAY")
    with pytest.raises(stale.WarehouseNotFreshError, match="more than 48 h ago"):
        world.run()
    assert world.emu.requests == []
    world.run(max_sync_age_hours=None, dry_run=True)  # explicitly waived


def test_a_second_concurrent_run_is_refused(world):
    with (
        world.wh.lock("deactivate"),
        pytest.raises(stale.DeactivationBusyError, match="another deactivation run holds"),
    ):
        world.run()
    assert world.emu.requests == []


def test_participant_activity_older_than_the_threshold_still_counts_as_stale(world):
    """A participant the warehouse already knows about is not "new activity": only activity after the
    snapshot, or inside the threshold, protects a meeting."""
    candidates = stale.find_candidates(world.wh, stale_after_days=30, as_of=world.as_of)
    with_people = world.wh.query_df(
        "SELECT meeting_id FROM participants_per_meeting WHERE participants > 0"
    ).meeting_id
    target = next(c for c in candidates if c.meeting_id in set(with_people))
    world.run(candidate_ids=[target.meeting_id])
    assert world.patched_ids() == [target.meeting_id]
    assert parse_timestamp(world.emu.meeting(target.meeting_id)["updated_at"]) > world.as_of - timedelta(
        days=1
    )
