"""The sensor's rules as library functions: the cursor, the cool-down, which ids are eligible, and one
tick planned against a real warehouse. The policy's one shape: every RTK_STALE_* variable declared once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from rtk_pipeline import stale
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import describe, variables
from rtk_pipeline.stale import eligibility
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _candidate(meeting_id: str) -> stale.Candidate:
    return stale.Candidate(meeting_id, "t", "ACTIVE", NOW - timedelta(days=90), NOW - timedelta(days=90))


def test_cursor_round_trips_and_an_unreadable_one_starts_afresh():
    requested = {"b": NOW, "a": NOW - timedelta(hours=1)}
    raw = eligibility.dump_cursor(requested)
    assert eligibility.load_cursor(raw) == requested
    assert raw.index('"a"') < raw.index('"b"')  # sorted: the same map always gives the same cursor
    for broken in (None, "", "not json", "[1]", '{"requested": {"a": "yesterday"}}'):
        assert eligibility.load_cursor(broken) == {}


def test_requests_older_than_the_cooldown_are_forgotten():
    requested = {"old": NOW - timedelta(hours=25), "recent": NOW - timedelta(hours=23)}
    assert eligibility.within_cooldown(requested, NOW, timedelta(hours=24)) == {"recent": requested["recent"]}
    assert eligibility.within_cooldown(requested, NOW, timedelta(0)) == {}


def test_eligible_are_the_unrequested_and_those_to_retry_soon():
    candidates = [_candidate(i) for i in ("new", "judged", "failed", "capped", "never-judged")]
    requested = dict.fromkeys(("judged", "failed", "capped", "never-judged"), NOW)
    last = {"judged": stale.DEACTIVATED, "failed": stale.FAILED, "capped": stale.SKIP_CAP}
    assert eligibility.eligible_ids(candidates, requested, last) == [
        "new",
        "failed",
        "capped",
        "never-judged",
    ]


def test_run_key_is_stable_for_the_same_cursor_and_ids():
    key = eligibility.run_key("c", ["a", "b"])
    assert key.startswith("stale-") and key == eligibility.run_key("c", ["a", "b"])
    assert key != eligibility.run_key("c", ["a"]) != eligibility.run_key(None, ["a", "b"])


def test_sensor_settings_come_from_their_variables():
    assert eligibility.SensorSettings.from_env({}) == eligibility.SensorSettings(False, 3600, 24.0)
    env = {"RTK_STALE_SENSOR": "on", "RTK_STALE_SENSOR_INTERVAL": "120", "RTK_STALE_COOLDOWN_HOURS": "1.5"}
    assert eligibility.SensorSettings.from_env(env) == eligibility.SensorSettings(True, 120, 1.5)
    assert eligibility.cooldown(env) == timedelta(minutes=90)
    with pytest.raises(ConfigError, match="RTK_STALE_SENSOR_INTERVAL must be >= 1"):
        eligibility.SensorSettings.from_env({"RTK_STALE_SENSOR_INTERVAL": "0"})


def test_every_policy_field_declares_its_variable_once():
    names = [variables(stale.StalePolicy)[f.name].name for f in dataclasses.fields(stale.StalePolicy)]
    names += [
        variables(eligibility.SensorSettings)[f.name].name
        for f in dataclasses.fields(eligibility.SensorSettings)
    ]
    assert len(names) == len(set(names)) and all(n.startswith("RTK_STALE_") for n in names)
    assert (
        describe(stale.StalePolicy, "stale_after_days")
        == "Days without activity. Default: RTK_STALE_AFTER_DAYS (30)."
    )
    assert "added to RTK_STALE_DENY_IDS" in describe(stale.StalePolicy, "deny_ids", combined=True)
    defaults = stale.StalePolicy()
    assert (defaults.stale_after_days, defaults.max_deactivations, defaults.max_sync_age_hours) == (
        stale.DEFAULT_STALE_AFTER_DAYS,
        stale.DEFAULT_MAX_DEACTIVATIONS,
        stale.DEFAULT_MAX_SYNC_AGE_HOURS,
    )
    assert stale.StalePolicy.from_env({"RTK_STALE_MAX_SYNC_AGE_HOURS": "off"}).max_sync_age_hours is None


def _plan(world, policy: stale.StalePolicy, requested=None, opened: list | None = None) -> eligibility.Tick:
    def open_store() -> DuckDBStore:
        if opened is not None:
            opened.append(True)
        return world.wh

    return eligibility.plan_tick(
        open_store, policy, requested or {}, now=datetime.now(UTC), cooldown=timedelta(hours=24)
    )


def test_plan_tick_requests_the_most_stale_up_to_the_cap_and_remembers_them(world):
    candidates = [c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30)]

    tick = _plan(world, stale.StalePolicy(max_deactivations=3))

    assert tick.ids == candidates[:3] and tick.candidates == len(candidates) and tick.skip_reason is None
    requested = eligibility.load_cursor(tick.cursor)
    assert set(requested) == set(candidates[:3])
    # Requested but never judged (the run did not happen): asked again.
    assert _plan(world, stale.StalePolicy(max_deactivations=3), requested).ids == candidates[:3]
    # Judged (a dry run keeps them stale): the cool-down holds them back, the next three are asked.
    world.run(candidate_ids=tick.ids, dry_run=True)
    assert _plan(world, stale.StalePolicy(max_deactivations=3), requested).ids == candidates[3:6]


def test_plan_tick_skips_with_a_reason_and_keeps_the_cursor(world, tmp_path):
    requested = {"m-1": datetime.now(UTC)}
    opened: list = []
    off = _plan(world, stale.StalePolicy(max_deactivations=0), requested, opened)
    assert off.ids == [] and "deactivation is off" in off.skip_reason
    assert not opened  # the warehouse is not even opened
    assert eligibility.load_cursor(off.cursor).keys() == {"m-1"}

    every = tuple(c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30))
    denied = _plan(world, stale.StalePolicy(deny_ids=every))
    assert "no ACTIVE meeting without activity for 30 days" in denied.skip_reason

    empty = type(world)(
        world.emu, world.client, DuckDBStore(tmp_path / "e.duckdb", tmp_path / "e", app_id=APP), world.as_of
    )
    assert "no successful meetings sync" in _plan(empty, stale.StalePolicy()).skip_reason
