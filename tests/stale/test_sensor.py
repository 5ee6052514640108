"""The stale-meetings sensor evaluated with build_sensor_context against a real warehouse, and the job it
requests executed in process against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from dagster_defs.component import RealtimeKitComponent
from dagster_defs.definitions import build_defs
from dagster_defs.resources import RealtimeKitResource, StoreResource
from rtk_pipeline import stale
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP
from tests.support.names import API_RESOURCE, STALE_JOB, STALE_OP, STALE_SENSOR, WAREHOUSE_RESOURCE


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(autouse=True)
def policy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RTK_STALE_AFTER_DAYS", "RTK_STALE_DRY_RUN", "RTK_STALE_DENY_TITLE", "RTK_STALE_DENY_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RTK_STALE_MAX_PER_RUN", "5")


def _resources(world) -> dict:
    return {
        WAREHOUSE_RESOURCE: StoreResource(
            duckdb_path=str(world.wh.duckdb_path), parquet_dir=str(world.wh.parquet_dir)
        ),
        API_RESOURCE: RealtimeKitResource(
            api_token=world.emu.token,
            account_id=world.emu.account_id,
            app_id=world.emu.app_id,
            base_url=world.emu.base_url,
            rate_limit_requests=100_000,
            rate_limit_period_s=1.0,
            max_attempts=2,
            max_retry_wait_s=0.2,
        ),
    }


def _defs(world=None) -> dg.Definitions:
    """The project's definitions as the code location builds them (one app, from the environment); with
    a world, its stale job and sensor bound to resources pointing at that world's emulator and warehouse
    (fast client retries)."""
    full = build_defs()
    if world is None:
        return full
    return dg.Definitions(
        jobs=[j for j in full.jobs if j.name == STALE_JOB],
        sensors=list(full.sensors),
        resources=_resources(world),
    )


def _sensor(defs: dg.Definitions) -> dg.SensorDefinition:
    return {s.name: s for s in defs.sensors}[STALE_SENSOR]


def _evaluate(instance, world, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=_resources(world))
    return _sensor(_defs())(context)


def _execute(instance, world, result: dg.SensorResult) -> dg.ExecuteInProcessResult:
    (request,) = result.run_requests
    return (
        _defs(world)
        .resolve_job_def(STALE_JOB)
        .execute_in_process(
            run_config=request.run_config,
            instance=instance,
            tags=request.tags,
            raise_on_error=False,
        )
    )


def _requested_ids(result: dg.SensorResult) -> list[str]:
    (request,) = result.run_requests
    return request.run_config["ops"][STALE_OP]["config"]["meeting_ids"]


def _candidates(world) -> list[str]:
    return [c.meeting_id for c in stale.find_candidates(world.wh, stale_after_days=30)]


def test_sensor_skips_while_the_warehouse_is_not_fresh(instance, world, tmp_path):
    empty = DuckDBStore(tmp_path / "empty.duckdb", tmp_path / "empty", app_id=APP)
    world_without_sync = type(world)(world.emu, world.client, empty, world.as_of)
    result = _evaluate(instance, world_without_sync)
    assert not result.run_requests
    assert "no successful meetings sync" in result.skip_reason.skip_message

    with world.wh.transaction() as con:
        con.execute("UPDATE sync_runs SET finished_at = finished_at - INTERVAL 3 DAY")
    result = _evaluate(instance, world)
    assert "too old to judge staleness" in result.skip_reason.skip_message
    assert world.emu.requests == []


def test_sensor_requests_the_most_stale_ids_and_its_job_deactivates_them(instance, world):
    candidates = _candidates(world)

    first = _evaluate(instance, world)

    assert _requested_ids(first) == candidates[:5]
    config = first.run_requests[0].run_config["ops"][STALE_OP]["config"]
    assert (
        config["stale_after_days"] == 30 and config["max_deactivations"] == 5 and config["dry_run"] is False
    )
    run = _execute(instance, world, first)
    assert run.success
    assert world.patched_ids() == candidates[:5]
    audit = world.audit()
    assert {r["run_id"] for r in audit} == {run.run_id}

    # The next tick requests the next five: the first five are INACTIVE in the warehouse now.
    second = _evaluate(instance, world, first.cursor)
    assert _requested_ids(second) == candidates[5:10]


def test_cursor_stops_the_sensor_from_requesting_the_same_ids_again(instance, world, monkeypatch):
    monkeypatch.setenv("RTK_STALE_DRY_RUN", "1")  # candidates stay stale: only the cursor holds them back
    candidates = _candidates(world)
    cursor, requested = None, []
    while True:
        result = _evaluate(instance, world, cursor)
        if not result.run_requests:
            break
        requested += _requested_ids(result)
        assert _execute(instance, world, result).success
        cursor = result.cursor
    assert requested == candidates  # each once, most stale first
    assert "judged within the last 1 day" in result.skip_reason.skip_message
    assert world.patches() == []
    # Same cursor, same answer: nothing is requested twice within the cool-down.
    assert not _evaluate(instance, world, cursor).run_requests


def test_failed_deactivations_become_eligible_again_on_the_next_tick(instance, world):
    candidates = _candidates(world)
    world.emu.fail_next(1, 404, paths="update_meeting")

    first = _evaluate(instance, world)
    run = _execute(instance, world, first)

    assert not run.success  # a failed PATCH fails the run, so it shows red
    failed = [r["meeting_id"] for r in world.audit("decision = 'failed'")]
    assert failed == [candidates[0]]
    second = _evaluate(instance, world, first.cursor)
    assert _requested_ids(second) == [candidates[0], *candidates[5:9]]
    assert _execute(instance, world, second).success
    assert world.emu.meeting(candidates[0])["status"] == "INACTIVE"


def test_sensor_waits_while_a_deactivation_run_is_in_progress(instance, world):
    queued = instance.create_run_for_job(job_def=_defs(world).resolve_job_def(STALE_JOB), run_config={})
    result = _evaluate(instance, world)
    assert not result.run_requests
    assert queued.run_id in result.skip_reason.skip_message


def test_denied_meetings_are_never_requested(instance, world, monkeypatch):
    monkeypatch.setenv("RTK_STALE_DENY_TITLE", "^Board room")
    board = next(
        c.meeting_id
        for c in stale.find_candidates(world.wh, stale_after_days=30)
        if c.title == "Board room (permanent)"
    )
    monkeypatch.setenv("RTK_STALE_MAX_PER_RUN", "1000")
    assert board not in _requested_ids(_evaluate(instance, world))


def test_sensor_settings_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("RTK_STALE_SENSOR", raising=False)
    assert _sensor(_defs()).default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("RTK_STALE_SENSOR_INTERVAL", "120")
    monkeypatch.setenv("RTK_STALE_SENSOR", "on")
    sensor = _sensor(_defs())
    assert sensor.minimum_interval_seconds == 120
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # The component's attribute wins over the variable.
    off = _sensor(RealtimeKitComponent(stale={"enabled": False}).build_defs())
    assert off.default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("RTK_STALE_DENY_TITLE", "([unclosed")
    with pytest.raises(ConfigError, match="RTK_STALE_DENY_TITLE is not a valid regular expression"):
        stale.StalePolicy.from_env()
