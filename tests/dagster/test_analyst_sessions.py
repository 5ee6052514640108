"""Analysts never block the pipeline: an analyst's process holds RTK_DUCKDB_PATH open (read-only, as a
notebook does, or read-write, as `duckdb data/rtk.duckdb` does) across a CLI backfill, a `deactivate-stale`
run and a Dagster partition run. All three succeed with no lock error, and the held session's next query
returns the new rows, compared with what the emulator holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dagster_defs.schedules import range_tags
from tests.support.names import SYNC_JOB

NEW_DAY = date(2026, 11, 1)  # a partition after the emulator's ten days


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "RTK_", "DAGSTER_"))}
    return subprocess.run(
        [sys.executable, "-m", "rtk_pipeline.cli", *args],
        env={**clean, **env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=240,
    )


def _ok(done: subprocess.CompletedProcess) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "conflicting lock" not in output.lower() and "stayed locked" not in output, output[-3000:]


def _days(meetings: list[dict]) -> list[list]:
    per_day = Counter(datetime.fromisoformat(m["created_at"]).astimezone(UTC).date() for m in meetings)
    return [[day.isoformat(), n] for day, n in sorted(per_day.items())]


PER_DAY = "SELECT created_day, count(*) FROM meetings GROUP BY ALL ORDER BY 1"


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_held_session_blocks_no_run_and_sees_the_new_rows(
    emu, rtk_env, dagster_cli, analyst_session, window, tmp_path, mode
):
    first, last = window
    _ok(_cli(rtk_env, "backfill", "--start", str(first), "--end", "2026-10-24", "--no-participants"))
    session = analyst_session(Path(rtk_env["RTK_DUCKDB_PATH"]), mode)
    truth = emu.meetings()
    assert session.query(PER_DAY) == _days(truth)[:3]

    _ok(_cli(rtk_env, "backfill", "--start", str(first), "--end", str(last)))
    assert session.query(PER_DAY) == _days(truth)
    people = sum(len(emu.participants(m["id"])) for m in truth)
    assert session.query("SELECT count(*) FROM participants") == [[people]]

    _ok(_cli(rtk_env, "deactivate-stale", "--stale-after-days", "30", "--max", "3"))
    inactive = sum(m["status"] == "INACTIVE" for m in emu.meetings())
    assert session.query("SELECT count(*) FROM meetings WHERE status = 'INACTIVE'") == [[inactive]]
    decided = "SELECT count(*) FROM meeting_deactivations WHERE decision = 'deactivated' AND NOT dry_run"
    assert session.query(decided) == [[3]]

    runs_before = session.query("SELECT count(*) FROM sync_runs")[0][0]
    added = emu.add_meeting(created_at=datetime(2026, 11, 1, 9, tzinfo=UTC), title="after the window")
    # A partition run in its own process; steps in that process (a subprocess per step costs ~10 s here).
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"execution": {"config": {"in_process": {}}}}))
    done = dagster_cli(
        "job", "execute", "-m", "dagster_defs.definitions", "-j", SYNC_JOB,
        "--tags", json.dumps(range_tags(NEW_DAY, NEW_DAY)), "-c", str(config),
        env=rtk_env,
    )  # fmt: skip
    _ok(done)
    assert session.query(f"SELECT id FROM meetings WHERE created_day = DATE '{NEW_DAY}'") == [[added["id"]]]
    assert session.query("SELECT count(*) FROM sync_runs")[0][0] > runs_before
    assert session.query("SELECT count(*) FROM meetings_per_day") == [[len(_days(truth)) + 1]]
