"""Runs as separate processes against one on-disk DagsterInstance and one DuckDB file: concurrent
partition runs under the rtk_api pool, Dagster's step retries on a transient API fault, and no
token anywhere in Dagster's storage afterwards."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from dagster_defs.local import PROJECT_ROOT
from dagster_defs.schedules import range_tags
from tests.support.names import API_RESOURCE, M_STEP, P_STEP, SYNC_JOB

RANGES = [
    (date(2026, 10, 22), date(2026, 10, 23)),
    (date(2026, 10, 24), date(2026, 10, 25)),
    (date(2026, 10, 26), date(2026, 10, 28)),
    (date(2026, 10, 29), date(2026, 10, 31)),
]
API_STEPS = {M_STEP, P_STEP}


def _execute(env: dict[str, str], first: date, last: date, *extra: str) -> subprocess.Popen:
    """`dagster job execute` of the sync job over first..last: its own process, its own run."""
    return subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "dagster_defs.definitions",
         "-j", SYNC_JOB, "--tags", json.dumps(range_tags(first, last)), *extra],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _env(rtk_env: dict[str, str], **extra: str) -> dict[str, str]:
    import os

    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return {**base, **rtk_env, **extra}


def _step_intervals(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key not in API_STEPS:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[entry.step_key] = entry.timestamp
    return {step: (starts[step], ends[step]) for step in starts}


def _api_traffic(emu) -> dict[tuple[int, str], tuple[float, float, str]]:
    """(run's range, endpoint) -> (first, last request arrival, label), from the emulator's request log: a
    meetings listing by its window, a participants listing by its meeting's creation day."""
    day_of = {m["id"]: date.fromisoformat(m["created_at"][:10]) for m in emu.meetings()}

    def run_of(day: date) -> int:
        return next(n for n, (first, last) in enumerate(RANGES) if first <= day <= last)

    seen: dict[tuple[int, str], tuple[float, float, str]] = {}
    for record in emu.requests:
        if record.endpoint == "list_meetings":
            # the window's middle: a listing's window may reach a little past its run's days
            low, high = (datetime.fromisoformat(record.query[k]) for k in ("start_time", "end_time"))
            day = (low + (high - low) / 2).date()
        elif record.endpoint == "list_participants":
            day = day_of[record.path.rstrip("/").split("/")[-2]]
        else:
            continue
        key = (run_of(day), record.endpoint)
        first, last, _ = seen.get(key, (record.timestamp, record.timestamp, ""))
        seen[key] = (min(first, record.timestamp), max(last, record.timestamp), f"run {key[0]} {key[1]}")
    return seen


def _config_file(tmp_path: Path, config: dict) -> str:
    """Run config as a file for `dagster job execute -c` (JSON is YAML)."""
    path = tmp_path / "run_config.yaml"
    path.write_text(json.dumps(config))
    return str(path)


def _wait_all(procs: list[subprocess.Popen], timeout: float) -> list[str]:
    """Outputs of all processes; any still running at the timeout (or on error) is killed."""
    try:
        return [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.mark.slow
def test_four_concurrent_partition_runs(emu, rtk_env, disk_instance, dagster_home, token, tmp_path):
    """Four runs at once, each its own process, into one DuckDB file: all succeed, the pool lets one API
    step run at a time across them, no DuckDB lock error, and the data equals the API's. One run uses
    the multiprocess executor (every step a process of its own, as under `dagster dev`), the others
    the in-process executor, which keeps the test within a minute on two cores.

    The instance storage exists before the processes start (as under `dagster dev`): four processes
    creating a fresh SQLite DAGSTER_HOME at the same instant race on its schema."""
    emu.set_faults(latency_s=0.003)  # keep the API steps busy long enough to contend
    in_process = ("-c", _config_file(tmp_path, {"execution": {"config": {"in_process": {}}}}))
    procs = [
        _execute(_env(rtk_env), first, last, *(() if n == 0 else in_process))
        for n, (first, last) in enumerate(RANGES)
    ]
    outputs = _wait_all(procs, timeout=250)
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
        assert "could not set lock" not in output.lower()

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 4 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        intervals = sorted(iv for run in runs for iv in _step_intervals(instance, run.run_id).values())
        assert len(intervals) == 8  # every run's two API steps started and ended
        # What the pool protects is the token's traffic: the requests of each run's API step, as the
        # emulator received them, never interleave with another's. (The step events' own timestamps are
        # taken when Dagster writes them and can overlap by a moment under load: a CI run saw 0.32 s.)
        traffic = sorted(_api_traffic(emu).values())
        assert len(traffic) == 8, traffic
        for (_, end, step), (start, _, other) in itertools.pairwise(traffic):
            assert start >= end, f"{step} and {other} sent requests at once despite the pool limit of 1"
        evaluations = [
            entry.dagster_event.event_specific_data
            for run in runs
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        per_partition = [e for e in evaluations if e.partition is not None]
        assert len(per_partition) == 10 * 10 and all(e.passed for e in per_partition)

    con = duckdb.connect(rtk_env["RTK_DUCKDB_PATH"], read_only=True)
    try:
        meetings = {row[0] for row in con.execute("SELECT id FROM meetings").fetchall()}
        participants = con.execute("SELECT meeting_id, id FROM participants ORDER BY 1, 2").fetchall()
    finally:
        con.close()
    truth = emu.meetings()
    assert meetings == {m["id"] for m in truth}
    assert participants == sorted((m["id"], p["id"]) for m in truth for p in emu.participants(m["id"]))

    # Nothing Dagster stored (run and event storage, compute logs, schedules) holds the token.
    assert _files_containing(dagster_home, token) == []


@pytest.mark.slow
def test_transient_fault_is_retried_by_dagster(emu, rtk_env, disk_instance, dagster_home, tmp_path):
    """The API fails once more than the client will retry: the step fails, Dagster's RetryPolicy
    re-runs it, and the run succeeds with every row."""
    emu.fail_next(1, status=503, paths="list_meetings")
    config = {
        "execution": {"config": {"in_process": {}}},
        "resources": {
            API_RESOURCE: {
                "config": {
                    # Overriding one field means restating the required ones, as env references.
                    "api_token": {"env": "CLOUDFLARE_API_TOKEN"},
                    "account_id": {"env": "CLOUDFLARE_ACCOUNT_ID"},
                    "app_id": {"env": "RTK_APP_ID"},
                    "base_url": {"env": "RTK_BASE_URL"},
                    "rate_limit_requests": 100_000,
                    "rate_limit_period_s": 10,
                    "max_attempts": 1,
                }
            }
        },
    }
    env = _env(rtk_env, RTK_STEP_RETRY_DELAY_S="0.2")
    proc = _execute(env, date(2026, 10, 22), date(2026, 10, 31), "-c", _config_file(tmp_path, config))
    (output,) = _wait_all([proc], timeout=200)
    assert proc.returncode == 0, output[-3000:]

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        kinds = [
            (e.step_key, e.dagster_event.event_type)
            for e in instance.all_logs(run.run_id)
            if e.dagster_event is not None
        ]
    assert (M_STEP, DagsterEventType.STEP_UP_FOR_RETRY) in kinds
    assert (M_STEP, DagsterEventType.STEP_RESTARTED) in kinds
    assert next(r.status for r in emu.requests if r.endpoint == "list_meetings") == 503
    con = duckdb.connect(rtk_env["RTK_DUCKDB_PATH"], read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM meetings").fetchone()[0] == len(emu.meetings())
    finally:
        con.close()


def test_permanent_error_is_not_retried(emu, rtk_env, instance, run_job, monkeypatch):
    """A wrong token fails the step at once: no Dagster retry, a message naming the cause, no token."""
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "wrong-token-0123456789")
    result = run_job(instance, date(2026, 10, 22), date(2026, 10, 23))
    assert not result.success
    events = [e for e in result.all_events if e.step_key == M_STEP]
    assert not [e for e in events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    (failure,) = [e for e in events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.to_string()
    assert "AuthError" in message and "401" in message
    assert "wrong-token-0123456789" not in message
