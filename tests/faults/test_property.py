"""Property: under any mix of faults, drift and latency, a completed sync holds every row that existed for
its whole duration exactly once, each equal to a version the API served; a failed sync changes nothing.

Hypothesis draws a small dataset (paging shape, order, page base), fault rates, drift rates and a little
latency; each example gets its own emulator. All examples share one warehouse: every example's days are
among the same three, so each sync meets the rows an earlier example left there, which a completed sync
must replace whole and a failed one must leave exactly as they were. With drift the truth moves while we
sync, so the check is bracketed by the ground truth taken just before and just after the sync.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import APP, END, client_for, emulator_days
from tests.support.stores import open_duckdb_store
from tests.support.truth import (
    assert_matches_truth,
    expected_meeting,
    expected_participant,
    reading,
    stored_meetings,
    stored_participants,
    truth_meetings,
    truth_participants,
    ts,
)

from .conftest import attempt, check_attempt, snapshot

rates = st.sampled_from([0.0, 0.0, 0.02, 0.05, 0.1])

datasets = st.fixed_dictionaries(
    {
        "meetings": st.integers(0, 24),
        "days": st.integers(1, 3),
        "participants_mean": st.sampled_from([0.0, 1.0, 3.0]),
        "max_per_page": st.integers(2, 8),
        "page_base": st.sampled_from([0, 1]),
        "order": st.sampled_from(["created_desc", "updated_desc"]),
        "seed": st.integers(0, 10_000),
    }
)
fault_mixes = st.fixed_dictionaries(
    {
        "p429": rates,
        "p5xx": rates,
        "p_reset": st.sampled_from([0.0, 0.02, 0.05]),
        "p_truncated": st.sampled_from([0.0, 0.02, 0.05]),
        "truncate_style": st.sampled_from(["json", "transport"]),
        "p_non_json": st.sampled_from([0.0, 0.02, 0.05]),
        "p_success_false": st.sampled_from([0.0, 0.0, 0.0, 0.01]),
        "drift_insert": st.sampled_from([0.0, 0.1, 0.3]),
        "drift_update": st.sampled_from([0.0, 0.1, 0.3]),
        "drift_delete": st.sampled_from([0.0, 0.1, 0.3]),
        "latency_s": st.sampled_from([0.0, 0.0, 0.001]),
        "retry_after": st.sampled_from(["0", "date", None]),
        "retry_after_s": st.just(0.0),
        "seed": st.integers(0, 10_000),
    }
)


def drifting(faults: dict) -> bool:
    return any(faults[k] for k in ("drift_insert", "drift_update", "drift_delete"))


def check_moving_truth(warehouse: DuckDBStore, first, last, before: dict, after: dict, people: tuple) -> None:
    """Rows of both truths (they existed for the whole sync) are stored exactly once; every stored row is
    one the API held at the start or the end, with that version's values."""
    stored = {k: v for k, v in stored_meetings(warehouse).items() if first <= v["created_day"] <= last}
    assert set(before) & set(after) <= set(stored) <= set(before) | set(after)
    for meeting_id, row in stored.items():
        versions = [expected_meeting(t[meeting_id]) for t in (before, after) if meeting_id in t]
        if any({k: row.get(k) for k in want} == want for want in versions):
            continue
        # A meeting updated twice during the sync (drift_update touches only updated_at) may be stored as
        # the version the API served in between: equal to the last one but for an updated_at between them.
        latest = versions[-1]
        first_seen = versions[0]["updated_at"]
        assert {k: row.get(k) for k in latest if k != "updated_at"} == {
            k: v for k, v in latest.items() if k != "updated_at"
        }, meeting_id
        assert first_seen <= row["updated_at"] <= latest["updated_at"], meeting_id
    people_before, people_after = people
    mine = {
        k: v for k, v in stored_participants(warehouse).items() if first <= v["meeting_created_day"] <= last
    }
    both = {k for k in set(people_before) & set(people_after) if k[0] in stored}
    assert both <= set(mine) <= set(people_before) | set(people_after)
    for key, row in mine.items():
        record = people_after.get(key) or people_before[key]
        meeting = after.get(key[0]) or before[key[0]]
        want = expected_participant(key[0], ts(meeting["created_at"]).date(), record)
        assert {k: row.get(k) for k in want} == want, key


@pytest.fixture(scope="module")
def shared_warehouse(tmp_path_factory) -> DuckDBStore:
    root = tmp_path_factory.mktemp("property")
    return open_duckdb_store(root, app_id=APP)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # 200 examples take ~90 s on an idle 2-core machine, several times that when busy
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=datasets, faults=fault_mixes)
def test_random_faults_never_lose_double_or_corrupt_a_row(shared_warehouse, data, faults):
    warehouse = shared_warehouse
    with Emulator(EmulatorConfig(**data, end=END)) as emu:
        first, last = emulator_days(emu)
        before_rows = snapshot(warehouse)
        before = truth_meetings(emu, first, last)
        people_before = truth_participants(emu, before)
        emu.set_faults(**faults)
        with client_for(emu, max_attempts=8, timeout=2.0) as client:
            outcome = attempt(warehouse, lambda: sync_range(client, warehouse, first, last, workers=2))
        emu.set_faults(**{f: 0.0 for f in ("drift_insert", "drift_update", "drift_delete", "latency_s")})
        if outcome.error is not None or not drifting(faults):
            check_attempt(outcome, warehouse, emu, first, last, before_rows)
            return
        after = truth_meetings(emu, first, last)
        people_after = truth_participants(emu, after)
        with reading(warehouse):
            check_moving_truth(warehouse, first, last, before, after, (people_before, people_after))


def test_a_clean_run_of_the_property_setup_equals_the_ground_truth(tmp_path):
    """The property's harness on a fixed example without faults: the strict ground-truth comparison."""
    config = EmulatorConfig(meetings=20, days=2, participants_mean=3.0, max_per_page=3, page_base=0, end=END)
    with Emulator(config, Faults()) as emu:
        warehouse = open_duckdb_store(tmp_path, app_id=APP)
        first, last = emulator_days(emu)
        assert last - first == timedelta(days=1)
        with client_for(emu) as client:
            sync_range(client, warehouse, first, last, workers=2)
        assert_matches_truth(warehouse, emu, first, last)
