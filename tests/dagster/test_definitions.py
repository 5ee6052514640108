"""The code location as Dagster loads it: validation, what it contains, and the schedule's run requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EnvVar,
    RunRequest,
    SkipReason,
    build_schedule_context,
)

from dagster_defs.definitions import build_defs, defs
from dagster_defs.schedules import RANGE_END_TAG, RANGE_START_TAG
from tests.support.names import (
    API_RESOURCE,
    CHECKS_JOB,
    DAILY_SCHEDULE,
    FRESHNESS_JOB,
    FRESHNESS_SCHEDULE,
    MEETINGS,
    PARTICIPANTS,
    STALE_JOB,
    STALE_SENSOR,
    SYNC_JOB,
    VIEWS,
)

SYNCED = (MEETINGS, PARTICIPANTS)


def test_workspace_validates(dagster_cli, tmp_path):
    """`dagster definitions validate` on workspace.yaml, with no API settings in the environment."""
    done = dagster_cli("definitions", "validate", "-w", "workspace.yaml", env={"DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_contents():
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == {*SYNCED, VIEWS}
    assert {j.name for j in defs.resolve_all_job_defs()} >= {SYNC_JOB, CHECKS_JOB, FRESHNESS_JOB}
    schedules = {s.name: s for s in defs.schedules}
    assert schedules[DAILY_SCHEDULE].default_status == DefaultScheduleStatus.RUNNING
    assert schedules[FRESHNESS_SCHEDULE].default_status == DefaultScheduleStatus.RUNNING
    daily = graph.get(MEETINGS).partitions_def
    assert daily.timezone == "UTC" and daily.end_offset == 0
    assert daily.start.date().isoformat() == "2025-01-01"
    for key in SYNCED:
        node = graph.get(key)
        assert node.partitions_def == daily
        assert node.backfill_policy.max_partitions_per_run == 31
        assert node.pools == {"rtk_api"}
        assert node.assets_def.op.retry_policy.max_retries >= 1
    assert graph.get(PARTICIPANTS).parent_keys == {MEETINGS}
    blocking = {
        (k.asset_key.path[-1], k.name) for k in graph.asset_check_keys if graph.get_check_spec(k).blocking
    }
    assert ("meetings", "secrets_absent") in blocking and ("participants", "meeting_exists") in blocking
    assert ("meetings", "parquet_matches_table") not in blocking


def test_token_comes_from_the_environment():
    """The token is an EnvVar: the run config, the UI and the run storage only ever see its name."""
    resource = defs.resources[API_RESOURCE]
    assert resource.api_token == EnvVar("CLOUDFLARE_API_TOKEN")
    assert "api_token" not in repr(resource)


@pytest.mark.parametrize(("setting", "status"), [(None, "STOPPED"), ("on", "RUNNING"), ("off", "STOPPED")])
def test_the_stale_sensor_ships_stopped_unless_turned_on(monkeypatch, setting, status):
    """Adding the pipeline to a deployment must not PATCH meetings before someone chose that."""
    if setting is None:
        monkeypatch.delenv("RTK_STALE_SENSOR", raising=False)
    else:
        monkeypatch.setenv("RTK_STALE_SENSOR", setting)
    built = build_defs()
    assert STALE_JOB in {j.name for j in built.resolve_all_job_defs()}
    (sensor,) = built.sensors
    assert sensor.name == STALE_SENSOR
    assert sensor.default_status == getattr(DefaultSensorStatus, status)


def _requests(when: datetime) -> list[RunRequest] | SkipReason:
    schedule = {s.name: s for s in build_defs().schedules}[DAILY_SCHEDULE]
    result = schedule(build_schedule_context(scheduled_execution_time=when))
    return result if isinstance(result, SkipReason) else list(result)


def _ranges(requests: list[RunRequest]) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests]


def test_schedule_syncs_yesterday_and_the_lookback():
    when = datetime(2026, 11, 27, 0, 15, tzinfo=UTC)
    requests = _requests(when)
    assert _ranges(requests) == [("2026-11-23", "2026-11-26")]  # yesterday + 3 days, one ranged run
    daily = defs.resolve_asset_graph().get(MEETINGS).partitions_def
    assert daily.get_partition_keys(current_time=when)[-1] == "2026-11-26"  # the newest that exists


def test_schedule_lookback_is_configurable(monkeypatch):
    monkeypatch.setenv("RTK_LOOKBACK_DAYS", "0")
    assert _ranges(_requests(datetime(2026, 11, 27, 0, 15, tzinfo=UTC))) == [("2026-11-26", "2026-11-26")]
    monkeypatch.setenv("RTK_LOOKBACK_DAYS", "40")
    # 41 days do not fit one run of at most 31 partitions: two consecutive ranged runs.
    assert _ranges(_requests(datetime(2026, 11, 27, 0, 15, tzinfo=UTC))) == [
        ("2026-10-17", "2026-11-16"),
        ("2026-11-17", "2026-11-26"),
    ]


def test_schedule_respects_the_first_partition():
    assert _ranges(_requests(datetime(2025, 1, 3, 0, 15, tzinfo=UTC))) == [("2025-01-01", "2025-01-02")]
    assert isinstance(_requests(datetime(2025, 1, 1, 0, 15, tzinfo=UTC)), SkipReason)
