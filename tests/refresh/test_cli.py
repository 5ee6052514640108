"""`rtk-pipeline refresh` as a user runs it: --json figures, --plan from the warehouse alone (read-only),
--max-requests, exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from tests.support.emulator import END, client_for
from tests.support.processes import cli_env, run_cli

from .changes import api_participants, join, older_active, stored_participants

KEYS = {
    "meetings_listed",
    "meetings_changed",
    "meetings_added",
    "meetings_refreshed",
    "participants_added",
    "participants_removed",
    "requests",
    "budget",
    "active_meetings",
    "active_behind",
    "oldest_active_sync",
}
TOKEN = "TOPSECRET-REFRESH-TOKEN-7"


@pytest.fixture(scope="module")
def emu():
    with Emulator(EmulatorConfig(meetings=120, days=10, seed=5, end=END, token=TOKEN)) as emulator:
        yield emulator


def _backfilled(emu, tmp_path):
    env = cli_env(tmp_path, emu.env())
    done = run_cli(["backfill", "--start", "2026-10-22", "--end", "2026-10-31"], env)
    assert done.returncode == 0, done.stderr
    return env


def test_refresh_json_prints_the_figures_and_lands_late_participants(emu, tmp_path):
    env = _backfilled(emu, tmp_path)
    with client_for(emu) as client:
        late = join(client, older_active(emu)[0], "cli")
    done = run_cli(["refresh", "--json"], env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == KEYS
    assert figures["participants_added"] == 1 and figures["requests"] <= figures["budget"]
    assert figures["active_behind"] == 0 and figures["oldest_active_sync"].endswith("+00:00")
    from tests.support.stores import open_duckdb_store

    store = open_duckdb_store(tmp_path, app_id=emu.app_id)
    assert late in {p for _, p in stored_participants(store, emu.app_id)}
    assert stored_participants(store, emu.app_id) == api_participants(emu)
    assert TOKEN not in done.stdout + done.stderr


def test_max_requests_caps_a_run(emu, tmp_path):
    env = _backfilled(emu, tmp_path)
    done = run_cli(["refresh", "--json", "--max-requests", "5"], env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["budget"] == 5 and figures["requests"] <= 5


def test_plan_sends_nothing_and_counts_the_cycle(emu, tmp_path):
    env = _backfilled(emu, tmp_path)
    before = len(emu.requests)
    done = run_cli(["refresh", "--plan", "--json", "--max-requests", "50"], env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {"active_meetings", "cycle_requests", "cycle_runs", "budget", "oldest_active_sync"}
    active = sum(1 for m in emu.meetings() if m["status"] == "ACTIVE")
    assert figures["active_meetings"] == active
    assert figures["cycle_requests"] >= active + 2  # a listing of 2 pages, a page per ACTIVE meeting
    assert figures["cycle_runs"] == -(-figures["cycle_requests"] // 50)
    assert len(emu.requests) == before


def test_plan_without_a_warehouse_is_one_line_and_creates_nothing(emu, tmp_path):
    done = run_cli(["refresh", "--plan"], cli_env(tmp_path, emu.env()))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1
    assert "backfill" in done.stderr
    assert not (tmp_path / "rtk.duckdb").exists() and not (tmp_path / "parquet").exists()


def test_a_request_failed_for_good_is_one_line_and_exit_one(emu, tmp_path):
    env = _backfilled(emu, tmp_path)
    env["CLOUDFLARE_API_TOKEN"] = "not-the-token"
    done = run_cli(["refresh"], env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "Traceback" not in done.stderr
    assert "not-the-token" not in done.stderr + done.stdout
