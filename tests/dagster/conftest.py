"""Fixtures for the Dagster layer: an emulator, the environment the resources read, a real on-disk
DagsterInstance with the project's instance config, and helpers to run the real job over a range."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult

from dagster_defs.local import PROJECT_ROOT, prepare_dagster_home
from rtk_pipeline.emulator import Emulator
from tests.support import ports
from tests.support.names import SYNC_JOB
from tests.support.processes import stop_group

# A token that cannot appear by accident, so finding it anywhere means it leaked.
TOKEN = "tok-LEAKCHECK-7f3a9c2e5b1d"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The shared emulator fixture's data: 300 meetings created on the 10 UTC days up to 2026-11-01.
FIRST_DAY, LAST_DAY = date(2026, 10, 22), date(2026, 10, 31)


@pytest.fixture
def emu(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory(token=TOKEN)


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    return prepare_dagster_home(tmp_path / "dagster_home")


@pytest.fixture
def rtk_env(
    emu: Emulator, tmp_path: Path, dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the resources' EnvVars at the emulator and a fresh warehouse; returns the variables."""
    env = {
        **emu.env(),
        "RTK_DUCKDB_PATH": str(tmp_path / "wh" / "rtk.duckdb"),
        "RTK_PARQUET_DIR": str(tmp_path / "wh" / "parquet"),
        "RTK_RATE_LIMIT_REQUESTS": "100000",
        "RTK_RATE_LIMIT_PERIOD_S": "10",
        "RTK_BUDGET_DIR": str(tmp_path / "budget"),
        "DAGSTER_HOME": str(dagster_home),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def instance(rtk_env: dict[str, str]) -> Iterator[DagsterInstance]:
    """In-memory instance: the SQLite event log costs ~75 ms per check evaluation on this kind of disk,
    and a 10-day run records ~100 of them. Tests about storage and processes use `disk_instance`."""
    with DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def disk_instance(rtk_env: dict[str, str], dagster_home: Path) -> Iterator[DagsterInstance]:
    """The real thing: SQLite storage under a temp DAGSTER_HOME with the project's dagster.yaml."""
    with DagsterInstance.from_config(str(dagster_home)) as inst:
        yield inst


@pytest.fixture
def run_job(rtk_env: dict[str, str]) -> Callable[..., ExecuteInProcessResult]:
    """`run_job(instance, first, last, job=..., run_config=...)`: the real job over the partitions
    first..last in one run (one backfill chunk, or what the schedule launches), in this process."""
    from dagster_defs.definitions import build_defs
    from dagster_defs.schedules import range_tags

    def run(
        instance: DagsterInstance,
        first: date | None = None,
        last: date | None = None,
        job: str = SYNC_JOB,
        run_config: dict | None = None,
    ) -> ExecuteInProcessResult:
        return (
            build_defs()
            .resolve_job_def(job)
            .execute_in_process(
                instance=instance,
                tags=range_tags(first, last) if first and last else {},
                run_config={**QUIET, **(run_config or {})},
                raise_on_error=False,
            )
        )

    return run


@pytest.fixture
def dagster_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`dagster_cli(*args, env=..., timeout=...)`: the `dagster` CLI in a subprocess from the project
    root, with exactly `env` on top of PATH/HOME/LANG."""

    def run(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        return subprocess.run(
            [sys.executable, "-m", "dagster", *args],
            cwd=PROJECT_ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def evaluations(result: ExecuteInProcessResult) -> dict[tuple[str, str, str | None], bool]:
    """(asset, check, partition) -> passed, for every check evaluation of a run."""
    return {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture
def check_results() -> Callable[[ExecuteInProcessResult], dict[tuple[str, str, str | None], bool]]:
    return evaluations


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


def _wait_for_ui(proc: subprocess.Popen, url: str, timeout: float = 240) -> None:
    """Poll `url`/server_info until the Dagster webserver answers; fail if `proc` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the server process exited with {proc.returncode}"
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"no answer from {url} within {timeout:g} s"
        time.sleep(0.5)


@pytest.fixture
def wait_for_ui() -> Callable[..., None]:
    return _wait_for_ui


@pytest.fixture
def window() -> tuple[date, date]:
    """The emulator fixture's days: its data spans exactly these partitions."""
    return FIRST_DAY, LAST_DAY


@pytest.fixture
def token() -> str:
    return TOKEN


@pytest.fixture
def webserver(rtk_env: dict[str, str], disk_instance, free_port: int, wait_for_ui) -> Iterator[str]:
    """A webserver in its own process group (it starts a code server of its own); killed at teardown."""
    port = free_port
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env={**base, **rtk_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ui(proc, url)
        yield url
    finally:
        stop_group(proc)
