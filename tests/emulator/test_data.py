"""The seeded data: deterministic, realistic in the ways a sync can trip over, and its ground truth."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from tests.support.emulator import END


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


@pytest.fixture(scope="module")
def big() -> Emulator:
    """2,000 meetings over 30 days; ground truth only, so it is never started."""
    return Emulator(EmulatorConfig(meetings=2000, days=30, seed=11, end=END))


def test_same_seed_same_data_other_seed_other_data():
    def snapshot(seed: int) -> tuple[list[dict], list[list[dict]]]:
        emu = Emulator(EmulatorConfig(meetings=150, days=5, seed=seed, end=END))
        meetings = emu.meetings(secrets=True)
        return meetings, [emu.participants(m["id"], secrets=True) for m in meetings[:40]]

    assert snapshot(5) == snapshot(5)
    assert snapshot(5)[0] != snapshot(6)[0]


def test_same_seed_same_data_whatever_is_read_first():
    cfg = EmulatorConfig(meetings=100, days=5, seed=5, end=END)
    one, two = Emulator(cfg), Emulator(cfg)
    mids = [m["id"] for m in one.meetings()]
    forward = [one.participants(mid) for mid in mids]
    backward = [two.participants(mid) for mid in reversed(mids)][::-1]
    assert forward == backward


def test_meetings_span_the_configured_days_with_a_realistic_spread(big):
    meetings = big.meetings()
    created = [parse(m["created_at"]) for m in meetings]
    assert all(END - timedelta(days=30) <= c < END for c in created)
    per_day = Counter(c.date() for c in created)
    assert len(per_day) == 30 and min(per_day.values()) > 0
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.5 * sum(weekend) / len(weekend)
    on_midnight = [c for c in created if c.time() == datetime.min.time()]
    assert 5 <= len(on_midnight) <= 100
    assert len(on_midnight) > len(set(on_midnight)), "several meetings share a midnight: ties to break"


def test_status_titles_flags_and_optional_fields_vary(big):
    meetings = big.meetings()
    inactive = sum(m["status"] == "INACTIVE" for m in meetings) / len(meetings)
    assert 0.15 <= inactive <= 0.25
    titles = [m.get("title", "<absent>") for m in meetings]
    assert titles.count("<absent>") > 10 and titles.count(None) > 10
    assert any(t and any(ord(ch) > 0xFFFF for ch in t) for t in titles), "emoji"
    assert any(t and any("\u0400" <= ch <= "\u04ff" for ch in t) for t in titles), "Cyrillic"
    assert "" in titles
    for field in ("live_stream_on_start", "persist_chat", "record_on_start", "summarize_on_end"):
        values = Counter(m.get(field, "<absent>") for m in meetings)
        assert set(values) == {True, False, "<absent>"}, field
    assert any("session_keep_alive_time_in_secs" not in m for m in meetings)


def test_updated_at_is_never_before_created_at_and_some_are_days_later(big):
    gaps = [parse(m["updated_at"]) - parse(m["created_at"]) for m in big.meetings()]
    assert min(gaps) >= timedelta(0)
    assert sum(g == timedelta(0) for g in gaps) > len(gaps) // 3
    assert sum(g >= timedelta(days=1) for g in gaps) > len(gaps) // 10
    assert all(parse(m["updated_at"]) < END for m in big.meetings())


def test_participant_counts_are_skewed(big):
    counts = [len(big.participants(m["id"])) for m in big.meetings()]
    assert sum(c == 0 for c in counts) > len(counts) // 4
    assert any(c > 100 for c in counts), "some meetings need several pages"
    assert 2.0 <= sum(counts) / len(counts) <= 8.0


def test_participants_join_after_their_meeting_was_created(big):
    for meeting in big.meetings()[::10]:
        for p in big.participants(meeting["id"]):
            assert parse(meeting["created_at"]) <= parse(p["created_at"]) <= parse(p["updated_at"]) < END
            assert p["custom_participant_id"] and p["preset_name"]


def test_participants_mean_zero_means_none(api_for, emulator_factory):
    emu = emulator_factory(participants_mean=0)
    assert all(emu.participants(m["id"]) == [] for m in emu.meetings())


def test_credentials_are_served_but_ground_truth_scrubs_them(big):
    raw = json.dumps(big.meetings(secrets=True))
    assert "EMU-SECRET-" in raw
    assert "EMU-SECRET-" not in json.dumps(big.meetings())
    with_storage = [m for m in big.meetings(secrets=True) if "recording_config" in m]
    kinds = {k for m in with_storage for k in m["recording_config"].get("storage_config", {})}
    assert {"access_key", "secret", "password", "private_key"} <= kinds
    mid = next(m["id"] for m in with_storage if "storage_config" in m["recording_config"])
    assert "EMU-SECRET-" in json.dumps(big.meeting(mid, secrets=True))
    assert "EMU-SECRET-" not in json.dumps(big.meeting(mid))
    some = next(m["id"] for m in big.meetings() if big.participants(m["id"]))
    assert all(p["token"].startswith("EMU-PTOKEN-") for p in big.participants(some, secrets=True))
    assert all("token" not in p for p in big.participants(some))


def test_secrets_off_means_no_storage_credentials():
    emu = Emulator(EmulatorConfig(meetings=300, days=10, seed=7, end=END, secrets=False))
    assert all("EMU-SECRET-" not in json.dumps(emu.meeting(m["id"], secrets=True)) for m in emu.meetings())
    assert any("x_region" in m for m in emu.meetings()), "newer fields do not depend on secrets"


def test_a_few_meetings_carry_fields_newer_than_the_reference(big):
    newer = [m for m in big.meetings() if "x_region" in m]
    assert 0 < len(newer) < 200
    assert all({"ai_config", "transcribe_on_end", "recording_config"} <= set(m) for m in newer)


def test_ground_truth_of_unknown_meetings_raises(emulator):
    with pytest.raises(KeyError):
        emulator.meeting("00000000-0000-4000-8000-000000000000")
    with pytest.raises(KeyError):
        emulator.participants("nope")


def test_helpers_write_ground_truth_with_chosen_times(emulator, api):
    m = emulator.add_meeting(created_at="2026-10-03T00:00:00Z", title="helper", status="INACTIVE")
    assert m["created_at"] == "2026-10-03T00:00:00.000Z" and m["status"] == "INACTIVE"
    stale = emulator.update_meeting(m["id"], updated_at=datetime(2026, 10, 4, tzinfo=UTC), title="old")
    assert stale["updated_at"] == "2026-10-04T00:00:00.000Z" and stale["title"] == "old"
    p = emulator.add_participant(m["id"], created_at="2026-10-03T01:00:00Z", name="Ann")
    assert p["token"].startswith("EMU-PTOKEN-") and p["created_at"] == "2026-10-03T01:00:00.000Z"
    assert api.get(f"/meetings/{m['id']}/participants").json()["data"] == emulator.participants(m["id"])
    assert emulator.delete_participant(m["id"], p["id"]) is True
    assert emulator.delete_participant(m["id"], p["id"]) is False
    shown = emulator.add_meeting(title="all fields", list_all_fields=True, x_region="eu-west-1")
    listed = api.get("/meetings", params={"search": "all fields"}).json()["data"][0]
    assert listed["x_region"] == "eu-west-1" and listed["id"] == shown["id"]


def test_the_clock_is_strictly_increasing_and_controllable(emulator, api):
    emulator.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    mid = emulator.meetings()[0]["id"]
    stamps = [api.patch(f"/meetings/{mid}", json={}).json()["data"]["updated_at"] for _ in range(3)]
    assert stamps == ["2026-12-01T09:00:00.000Z", "2026-12-01T09:00:00.001Z", "2026-12-01T09:00:00.002Z"]
    emulator.clock.advance(3600)
    assert api.post("/meetings").json()["data"]["created_at"].startswith("2026-12-01T10:00:00")
    with pytest.raises(ValueError):
        emulator.clock.set(datetime(2026, 11, 30, tzinfo=UTC))
    emulator.clock.resume()
    assert emulator.clock.now() >= datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_the_clock_starts_at_the_end_of_future_data():
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    emu = Emulator(EmulatorConfig(meetings=3, days=2, seed=1, end=future))
    assert emu.clock.now() >= future


def test_config_is_validated():
    for bad in ({"days": 0}, {"page_base": 2}, {"order": "random"}, {"max_per_page": 0}, {"token": ""}):
        with pytest.raises(ValueError):
            EmulatorConfig(**bad)
    assert "emu-token" not in repr(EmulatorConfig())
    assert EmulatorConfig().end.second == 0 and EmulatorConfig(end=datetime(2026, 1, 1)).end.tzinfo is UTC
