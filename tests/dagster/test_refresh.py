"""The refresh in Dagster: the job run by the `dagster` CLI brings old meetings and their late participants
into the warehouse as `rtk-pipeline refresh` does, reports the days it changed as materializations, the
schedule follows the `refresh` attribute, and `participants_fresh` warns with the count of meetings behind."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, AssetKey, AssetRecordsFilter, DagsterInstance, DefaultScheduleStatus

from dagster_defs.checks import run_totals
from dagster_defs.component import RealtimeKitComponent
from dagster_defs.refresh import CHECK
from tests.refresh.changes import api_meetings, api_participants, make_changes
from tests.support.emulator import client_for
from tests.support.names import (
    CHECKS_JOB,
    MEETINGS,
    PARTICIPANTS,
    REFRESH_JOB,
    REFRESH_OP,
    REFRESH_SCHEDULE,
    SYNC_JOB,
)
from tests.support.stores import rows


def _stored(path: Path) -> tuple[dict, dict]:
    meetings = rows(path, "SELECT id, title, status FROM meetings")
    participants = rows(path, "SELECT meeting_id, id, name, preset_name FROM participants")
    return {i: (t, s) for i, t, s in meetings}, {(m, i): (n, p) for m, i, n, p in participants}


def _truth(emu) -> tuple[dict, dict]:
    return api_meetings(emu), api_participants(emu)


def _latest(instance: DagsterInstance, asset: AssetKey, day: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[day]), limit=1
    ).records
    return records[0]


def _totals_before(instance: DagsterInstance, asset: AssetKey, record) -> dict:
    """What the checks read beside a materialization: its run's observation of the asset logged before it."""
    return run_totals(instance, asset, record.run_id, record.storage_id)


def _execute(dagster_cli, env: dict[str, str]) -> None:
    done = dagster_cli("job", "execute", "-m", "dagster_defs.definitions", "-j", REFRESH_JOB, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_cli_job_refreshes_old_meetings_like_the_command(
    emu, rtk_env, disk_instance, run_job, window, dagster_cli
):
    """Issue 19's acceptance changes, then `dagster job execute` of the refresh job: the warehouse equals
    the API, as after `rtk-pipeline refresh` (tests/refresh), and the UI shows what changed."""
    first, last = window
    assert run_job(disk_instance, first, last).success
    with client_for(emu) as client:
        changes = make_changes(emu, client)
    path = Path(rtk_env["RTK_DUCKDB_PATH"])
    assert _stored(path) != _truth(emu)  # the daily sync of recent days would not see any of it

    _execute(dagster_cli, rtk_env)
    assert _stored(path) == _truth(emu)

    (run,) = disk_instance.get_runs(limit=1)
    assert run.job_name == REFRESH_JOB and run.is_success
    # Each changed day is a new materialization of both tables, from the refresh run, with its rows.
    days = {emu.meeting(meeting_id)["created_at"][:10] for meeting_id, _ in changes.joined}
    for day in sorted(days):
        for asset, table in ((MEETINGS, "meetings"), (PARTICIPANTS, "participants")):
            record = _latest(disk_instance, asset, day)
            assert record.run_id == run.run_id
            metadata = record.asset_materialization.metadata
            carried = _totals_before(disk_instance, asset, record)
            stored = rows(
                path,
                f"SELECT count(*) FROM {table} WHERE {_day_column(table)} = ?",
                [date.fromisoformat(day)],
            )
            assert metadata["dagster/partition_row_count"].value == stored[0][0]
            assert "api_total_count" in carried  # the sync's completeness evidence, carried
    # The figures of `--json` are the op's metadata, and the check is judged right after.
    (output,) = [
        e
        for e in disk_instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.is_successful_output
    ]
    figures = output.dagster_event.event_specific_data.metadata
    assert figures["participants_added"].value == len(changes.joined)
    assert figures["participants_removed"].value == len(changes.deleted)
    assert figures["meetings_added"].value == len(changes.created)
    assert {"requests", "budget", "active_behind", "oldest_active_sync"} <= set(figures)
    # Meetings created today are in no partition yet: named, not claimed.
    assert datetime.now(UTC).date().isoformat() in figures["changed_days_not_materialized"].value
    evaluation = _latest_evaluation(disk_instance, run.run_id)
    assert evaluation.passed and evaluation.metadata["active_behind"].value == 0

    # Nothing changed since: a second run still leaves the API's rows.
    _execute(dagster_cli, rtk_env)
    assert _stored(path) == _truth(emu)


def _day_column(table: str) -> str:
    return "created_day" if table == "meetings" else "meeting_created_day"


def _latest_evaluation(instance: DagsterInstance, run_id: str):
    evaluations = [
        e.dagster_event.event_specific_data
        for e in instance.all_logs(run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    (evaluation,) = [e for e in evaluations if e.check_name == CHECK]
    return evaluation


@pytest.mark.parametrize(
    ("attribute", "cron", "status"),
    [
        ("", "45 1 * * *", DefaultScheduleStatus.RUNNING),
        ("refresh: {cron: '30 3 * * 1', max_requests: 200}", "30 3 * * 1", DefaultScheduleStatus.RUNNING),
        ("refresh: {enabled: false}", "45 1 * * *", DefaultScheduleStatus.STOPPED),
    ],
)
def test_the_schedule_follows_the_attribute(attribute, cron, status):
    defs = RealtimeKitComponent.resolve_from_yaml(attribute or "{}").build_defs()
    schedule = {s.name: s for s in defs.schedules}[REFRESH_SCHEDULE]
    assert schedule.cron_schedule == cron and schedule.default_status == status
    assert schedule.job_name == REFRESH_JOB
    (node,) = defs.resolve_job_def(REFRESH_JOB).nodes
    assert node.definition.pool == "rtk_api"  # the token's pool, like the sync and stale jobs


def test_each_app_has_its_refresh_in_its_tokens_pool():
    component = RealtimeKitComponent.resolve_from_yaml(
        """
        apps:
          - {app_id: prod-1, token_env: RTK_TOKEN_PROD}
          - {app_id: staging-2}
        """
    )
    defs = component.build_defs()
    pools = {
        name: defs.resolve_job_def(name).nodes[0].definition.pool
        for name in ("realtimekit_prod_1_refresh_job", "realtimekit_staging_2_refresh_job")
    }
    assert pools == {
        "realtimekit_prod_1_refresh_job": "rtk_api_rtk_token_prod",
        "realtimekit_staging_2_refresh_job": "rtk_api",
    }
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert {
        ("realtimekit/prod_1/participants", CHECK),
        ("realtimekit/staging_2/participants", CHECK),
    } <= checks


@pytest.mark.parametrize(
    ("attribute", "named"),
    [("refresh: {max_requests: 0}", "max_requests"), ("refresh: {every: day}", "every")],
)
def test_bad_refresh_attributes_are_refused(attribute, named):
    with pytest.raises(Exception, match=named):
        RealtimeKitComponent.resolve_from_yaml(attribute)


def test_participants_fresh_warns_with_the_count(emu, rtk_env, instance, run_job, window):
    """Meetings synced, participants never listed: every ACTIVE meeting is behind, and the check says so."""
    from dagster_defs.definitions import build_defs

    first, last = window
    result = (
        build_defs()
        .resolve_job_def(SYNC_JOB)
        .execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": first.isoformat(),
                  "dagster/asset_partition_range_end": last.isoformat()},
            asset_selection=[MEETINGS],
        )
    )  # fmt: skip
    assert result.success
    result = run_job(instance, first, last, job=CHECKS_JOB)
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK]
    active = sum(m["status"] == "ACTIVE" for m in emu.meetings())
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.metadata["active_behind"].value == active
    assert f"{active} of {active} ACTIVE meeting(s)" in evaluation.description


def test_a_request_failed_for_good_fails_the_run_in_one_line(emu, rtk_env, instance, run_job, window, token):
    """A refused token fails the run red with the library's one line (never the token), and the
    warehouse keeps what it held."""
    first, last = window
    assert run_job(instance, first, last).success
    path = Path(rtk_env["RTK_DUCKDB_PATH"])
    before = _stored(path)
    with client_for(emu) as client:
        make_changes(emu, client, joins=3, renames=1, deactivations=0, deletions=0, creations=0)
    emu.fail_next(1000, status=403)
    result = run_job(
        instance, job=REFRESH_JOB, run_config={"ops": {REFRESH_OP: {"config": {"max_requests": 50}}}}
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("RefreshFailedError") and "\n" not in message and token not in message
    assert _stored(path) == before
