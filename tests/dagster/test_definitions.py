"""The code location as Dagster loads it: validation, what it contains, and the schedule's run requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    EnvVar,
    RunRequest,
    SkipReason,
    build_schedule_context,
)

from dagster_defs.definitions import defs
from dagster_defs.partitions import daily_partitions
from dagster_defs.schedules import RANGE_END_TAG, RANGE_START_TAG, rtk_daily_sync_schedule

SYNCED = (AssetKey("rtk_meetings"), AssetKey("rtk_participants"))


def test_workspace_validates(dagster_cli, tmp_path):
    """`dagster definitions validate` on workspace.yaml, with no API settings in the environment."""
    done = dagster_cli("definitions", "validate", "-w", "workspace.yaml", env={"DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_contents():
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == {*SYNCED, AssetKey("rtk_analyst_views")}
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "rtk_sync_job",
        "rtk_checks_job",
        "rtk_freshness_job",
    }
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["rtk_daily_sync_schedule"].default_status == DefaultScheduleStatus.RUNNING
    assert schedules["rtk_freshness_schedule"].default_status == DefaultScheduleStatus.RUNNING
    assert daily_partitions.timezone == "UTC" and daily_partitions.end_offset == 0
    for key in SYNCED:
        node = graph.get(key)
        assert node.partitions_def == daily_partitions
        assert node.backfill_policy.max_partitions_per_run == 31
        assert node.pools == {"rtk_api"}
        assert node.assets_def.op.retry_policy.max_retries >= 1
    assert graph.get(AssetKey("rtk_participants")).parent_keys == {AssetKey("rtk_meetings")}
    blocking = {
        (k.asset_key.path[-1], k.name) for k in graph.asset_check_keys if graph.get_check_spec(k).blocking
    }
    assert ("rtk_meetings", "secrets_absent") in blocking and (
        "rtk_participants",
        "meeting_exists",
    ) in blocking
    assert ("rtk_meetings", "parquet_matches_table") not in blocking


def test_token_comes_from_the_environment():
    """The token is an EnvVar: the run config, the UI and the run storage only ever see its name."""
    resource = defs.resources["realtimekit"]
    assert resource.api_token == EnvVar("CLOUDFLARE_API_TOKEN")
    assert "api_token" not in repr(resource)


def test_stale_pieces_are_wired_in():
    pytest.importorskip("dagster_defs.stale")
    assert "deactivate_stale_meetings_job" in {j.name for j in defs.resolve_all_job_defs()}
    sensors = {s.name: s for s in defs.sensors}
    assert "stale_meetings_sensor" in sensors
    assert sensors["stale_meetings_sensor"].default_status in (
        DefaultSensorStatus.RUNNING,
        DefaultSensorStatus.STOPPED,
    )


def _requests(when: datetime) -> list[RunRequest] | SkipReason:
    result = rtk_daily_sync_schedule(build_schedule_context(scheduled_execution_time=when))
    return result if isinstance(result, SkipReason) else list(result)


def _ranges(requests: list[RunRequest]) -> list[tuple[str, str]]:
    return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests]


def test_schedule_syncs_yesterday_and_the_lookback():
    when = datetime(2026, 11, 27, 0, 15, tzinfo=UTC)
    requests = _requests(when)
    assert _ranges(requests) == [("2026-11-23", "2026-11-26")]  # yesterday + 3 days, one ranged run
    assert (
        daily_partitions.get_partition_keys(current_time=when)[-1] == "2026-11-26"
    )  # the newest that exists


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
