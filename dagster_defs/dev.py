"""`make dev` / `rtk-pipeline dev`: the bundled emulator and `dagster dev` together, for clicking around.

The emulator (same seeded month as `rtk-pipeline demo`) runs in a thread of this process; `dagster dev`
runs as a child process with the environment pointing at it, the warehouse under data/, and a
DAGSTER_HOME at data/dagster_home holding this project's instance config (pools, run queue, run retries).
Ctrl-C stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from rich.console import Console

from dagster_defs.local import (
    demo_end,
    emulator_config,
    emulator_env,
    partitions_env,
    prepare_dagster_home,
    warehouse_paths,
)
from rtk_pipeline.emulator import Emulator

console = Console()


def run_dev(port: int = 3000, meetings: int = 3000, days: int = 30, seed: int = 7) -> int:
    """Serve the emulator and the Dagster UI until Ctrl-C; returns dagster dev's exit code."""
    duckdb_path, parquet_dir = warehouse_paths()
    home = prepare_dagster_home(duckdb_path.parent / "dagster_home")
    # The last demo's days, so the UI shows the warehouse it wrote even after the UTC day rolled over.
    config = emulator_config(meetings, days, seed, end=demo_end(duckdb_path))
    with Emulator(config) as emu:
        env = {
            **os.environ,
            **emulator_env(emu, duckdb_path, parquet_dir),
            "DAGSTER_HOME": str(home),
            # Only the emulator's days as partitions, so the UI's partition bar is the seeded month.
            **partitions_env(config),
        }
        command = [
            sys.executable, "-m", "dagster", "dev",
            "-m", "dagster_defs.definitions",
            "-h", "127.0.0.1", "-p", str(port),
        ]  # fmt: skip
        console.rule("[bold]rtk-pipeline dev")
        console.print(f"emulator     {emu.base_url}  ({meetings:,} meetings, {days} days, seed {seed})")
        console.print(f"Dagster UI   http://127.0.0.1:{port}   (DAGSTER_HOME={home})")
        console.print(f"warehouse    {duckdb_path}  +  {parquet_dir}")
        console.print(
            "try          Assets > realtimekit/default/meetings > Materialize > all partitions (a backfill, "
            "31 days per run); Ctrl-C stops everything"
        )
        child = subprocess.Popen(command, env=env)
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return child.wait()
        except KeyboardInterrupt:  # Ctrl-C: the terminal sent SIGINT to dagster dev as well
            return _stop(child, forward=False)
        except _Terminated:  # `kill <pid>` reached only this process: pass it on as a Ctrl-C
            return _stop(child, forward=True)
        finally:
            signal.signal(signal.SIGTERM, previous)


class _Terminated(Exception):
    """SIGTERM arrived."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _stop(child: subprocess.Popen, *, forward: bool) -> int:
    """Let dagster dev stop its webserver, daemon and code servers; force it if it takes too long."""
    if forward:
        child.send_signal(signal.SIGINT)
    try:
        return child.wait(timeout=30)
    except (subprocess.TimeoutExpired, KeyboardInterrupt, _Terminated):
        child.terminate()
        try:
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
