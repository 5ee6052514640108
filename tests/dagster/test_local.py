"""`rtk-pipeline demo` and `make dev` as a newcomer runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import duckdb
import httpx
import psutil
import pytest

from dagster_defs.demo import DEMO_MAX_DEACTIVATIONS, run_demo
from dagster_defs.local import emulator_config
from rtk_pipeline.emulator import Emulator
from tests.support.emulator import pass_time


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RTK_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("RTK_PARQUET_DIR", raising=False)
    assert run_demo(meetings=400, days=20, seed=3) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps at 80 columns without a terminal
    assert "all runs succeeded, all checks passed" in out
    assert "What landed" in out and "Asset checks" in out and "deactivated" in out
    assert "duckdb -readonly data/rtk.duckdb" in out and "make dev" in out
    assert "emu-token" not in out

    # The same seeded data, served again a week on (the demo lets a week pass, then refreshes): what landed is
    # exactly the API's, minus the deactivations, late room participants included.
    with Emulator(emulator_config(400, 20, 3)) as emu:
        pass_time(emu, 7)
        truth = {m["id"]: m["status"] for m in emu.meetings()}
        participants = sum(len(emu.participants(m)) for m in truth)
    con = duckdb.connect(str(tmp_path / "data" / "rtk.duckdb"), read_only=True)
    try:
        stored = dict(con.execute("SELECT id, status FROM meetings").fetchall())
        stored_participants = con.execute("SELECT count(*) FROM participants").fetchone()[0]
        deactivated = {
            m for (m,) in con.execute(
                "SELECT meeting_id FROM meeting_deactivations WHERE decision = 'deactivated'"
            ).fetchall()
        }  # fmt: skip
    finally:
        con.close()
    assert set(stored) == set(truth)
    assert stored_participants == participants
    assert 0 < len(deactivated) <= DEMO_MAX_DEACTIVATIONS
    assert {m for m, s in stored.items() if s != truth[m]} == deactivated
    assert all(stored[m] == "INACTIVE" for m in deactivated)
    assert list((tmp_path / "data" / "parquet" / "meetings").glob("created_day=*/data.parquet"))


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_dev_serves_emulator_and_ui_and_stops(stop, tmp_path, free_port, wait_for_ui):
    """Ctrl-C in the terminal (SIGINT to the whole foreground group) or `kill <pid>` of the launcher
    alone: either way the emulator, dagster dev and everything it started are gone."""
    port = free_port
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env = {
        **base,
        "RTK_DUCKDB_PATH": str(tmp_path / "data" / "rtk.duckdb"),
        "RTK_PARQUET_DIR": str(tmp_path / "pq"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from dagster_defs.dev import run_dev; raise SystemExit(run_dev(port={port}, "
         "meetings=50, days=3))"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        banner = ""
        while "Dagster UI" not in banner:
            line = proc.stdout.readline()
            assert line, "run_dev exited before printing its URLs"
            banner += line
        emulator_url = re.search(r"emulator\s+(http://127\.0\.0\.1:\d+/client/v4)", banner).group(1)
        listed = httpx.get(
            f"{emulator_url}/accounts/emu-account/realtime/kit/emu-app/meetings",
            headers={"Authorization": "Bearer emu-token"},
        ).json()
        assert listed["success"] and listed["paging"]["total_count"] == 50
        wait_for_ui(proc, f"http://127.0.0.1:{port}")
        assert (tmp_path / "data" / "dagster_home" / "dagster.yaml").is_file()

        children = _descendants(proc.pid)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends to the foreground process group
        else:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
        psutil.wait_procs(children, timeout=30)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        with pytest.raises(httpx.TransportError):
            httpx.get(emulator_url, timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
