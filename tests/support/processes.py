"""Child processes the tests start: the CLI as a user runs it, and process groups stopped by id."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """End `proc` (started with `start_new_session=True`) and what it started (code servers, run
    workers): its own process group, by id; SIGTERM first, SIGKILL if it has not ended in `timeout` s."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has ended already
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def cli_env(tmp_path: Path, emu_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment a user would set for `rtk-pipeline backfill` against the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "RTK_", "DAGSTER_"))}
    env.update(
        RTK_DUCKDB_PATH=str(tmp_path / "rtk.duckdb"),
        RTK_PARQUET_DIR=str(tmp_path / "parquet"),
        RTK_RATE_LIMIT_REQUESTS="1000000",
        RTK_RATE_LIMIT_PERIOD_S="1",
        RTK_BUDGET_DIR=str(tmp_path / "budget"),  # the token's shared budget, kept out of the user's home
        COLUMNS="160",
        PYTHONUNBUFFERED="1",
    )
    env.update(emu_env)
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtk_pipeline.cli", *args]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL `proc` after `seconds` unless it ended first; True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
