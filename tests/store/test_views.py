"""Analyst views and the stale-candidates macro on a small hand-built warehouse with known answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

NOW = datetime.now(UTC).replace(microsecond=0)
D1, D2 = (NOW - timedelta(days=60)).date(), (NOW - timedelta(days=59)).date()


@pytest.fixture
def world(warehouse, api):
    """Five meetings over two days; participants on three of them."""
    flags = dict.fromkeys(
        ("live_stream_on_start", "persist_chat", "record_on_start", "summarize_on_end", "transcribe_on_end"),
        False,
    )
    m = {
        "A": api.meeting(D1, **{**flags, "record_on_start": True, "transcribe_on_end": True}),
        "B": api.meeting(
            D1, **{**flags, "live_stream_on_start": True, "summarize_on_end": True}, status="INACTIVE"
        ),
        "C": api.meeting(D1, **{**flags, "persist_chat": True}, status="ARCHIVED"),
        "E": api.meeting(D2, **flags),
        "F": api.meeting(D2, **{**flags, "summarize_on_end": True, "transcribe_on_end": True}),
    }
    api.sync_meetings(warehouse, [D1, D2], list(m.values()))
    start1 = datetime(D1.year, D1.month, D1.day, 10, 30, tzinfo=UTC)
    people = {
        (m["A"]["id"], D1): [
            api.participant(start1, preset_name="host"),
            api.participant(start1, preset_name="participant", updated_at=api.iso(NOW - timedelta(days=25))),
        ],
        (m["B"]["id"], D1): [api.participant(start1, preset_name="host")],
        (m["F"]["id"], D2): [api.participant(NOW - timedelta(days=5), preset_name="host")],
    }
    api.sync_participants(warehouse, [D1, D2], people)
    return {k: v["id"] for k, v in m.items()}


def test_meetings_per_day(world, warehouse):
    got = warehouse.query_df("meetings_per_day")
    assert got.columns.tolist() == [
        "app_id", "day", "total", "active", "inactive", "other_status", "recording", "livestream",
        "transcribe", "summarize", "transcription", "persist_chat",
    ]  # fmt: skip
    assert [(row[0], row[1].date(), *row[2:]) for row in got.itertuples(index=False)] == [
        (warehouse.app_id, D1, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1),
        (warehouse.app_id, D2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0),
    ]


def test_participants_per_meeting_counts_zero_for_meetings_without_any(world, warehouse):
    got = warehouse.query_df("SELECT meeting_id, participants, presets FROM participants_per_meeting")
    counts = {row.meeting_id: (row.participants, row.presets) for row in got.itertuples()}
    ids = world
    assert counts == {
        ids["A"]: (2, 2),
        ids["B"]: (1, 1),
        ids["C"]: (0, 0),
        ids["E"]: (0, 0),
        ids["F"]: (1, 1),
    }


def test_preset_usage(world, warehouse):
    got = warehouse.query_df("SELECT preset_name, participants, meetings FROM preset_usage")
    assert [tuple(r) for r in got.itertuples(index=False)] == [("host", 3, 3), ("participant", 1, 1)]


def test_last_activity_takes_the_latest_of_meeting_and_participant_timestamps(world, warehouse, api):
    got = warehouse.query_df("SELECT meeting_id, last_activity_at FROM meeting_last_activity")
    last = {row.meeting_id: row.last_activity_at.to_pydatetime() for row in got.itertuples()}
    assert last[world["A"]] == NOW - timedelta(days=25)  # a participant's update
    assert last[world["F"]] == NOW - timedelta(days=5)  # a participant's creation
    assert last[world["E"]] == datetime(D2.year, D2.month, D2.day, 10, 5, tzinfo=UTC)  # the meeting's update


def test_stale_candidates_macro_and_default_view(world, warehouse):
    def stale(sql, params=None):
        return warehouse.query_df(sql, params)

    at_30 = stale("SELECT meeting_id, idle_days FROM stale_candidates(?, ?)", [30, NOW])
    e_idle = math.floor(
        (NOW - datetime(D2.year, D2.month, D2.day, 10, 5, tzinfo=UTC)).total_seconds() / 86400
    )
    assert [tuple(r) for r in at_30.itertuples(index=False)] == [(world["E"], e_idle)]
    at_20 = stale("stale_candidates(20, now())")  # INACTIVE and ARCHIVED meetings never qualify
    assert at_20.meeting_id.tolist() == [world["E"], world["A"]]
    assert stale("stale_meeting_candidates").meeting_id.tolist() == [world["E"]]
    assert stale("stale_candidates(0.5, now() - INTERVAL 4 DAY)").meeting_id.tolist() == [
        world["E"], world["A"], world["F"]
    ]  # fmt: skip
