"""Four `rtk-pipeline backfill` processes at once on a real S3 endpoint (moto_server), each with its own
working folder: two on disjoint days, two racing on the same days, while the emulator injects 503s and
drift. All exit 0, the Delta tables equal the emulator's ground truth with no duplicate, and `sync_runs`
has every run."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.store.delta.objectstore import TableRoot
from tests.support.emulator import END
from tests.support.processes import cli, cli_env
from tests.support.truth import (
    assert_rows_equal,
    expected_meeting,
    expected_participant,
    truth_meetings,
    truth_participants,
    ts,
)

pytestmark = pytest.mark.slow

DAYS = [date(2026, 10, 25) + timedelta(days=n) for n in range(7)]
WINDOWS = [(DAYS[0], DAYS[1]), (DAYS[2], DAYS[3]), (DAYS[4], DAYS[6]), (DAYS[4], DAYS[6])]  # last two race
DRIFT = "drift insert"  # the emulator's title for a meeting it inserts while a listing is paged


def rows(store: DeltaStore, sql: str) -> list[dict]:
    with store.connect(read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def decoded(row: dict, *json_columns: str) -> dict:
    row.pop("synced_at", None)
    return {k: json.loads(v) if k in json_columns and v is not None else v for k, v in row.items()}


def test_four_writers_on_s3_end_equal_to_the_ground_truth(tmp_path, s3):
    config = EmulatorConfig(meetings=210, days=7, seed=23, end=END, max_per_page=10, participants_mean=2.0)
    faults = Faults(
        p5xx=0.05, statuses_5xx=(503,), drift_update=0.1, drift_insert=0.02, latency_s=0.002, seed=5
    )
    started = datetime.now(UTC)
    with Emulator(config, faults) as emu:
        procs = []
        for n, (first, last) in enumerate(WINDOWS):
            work = tmp_path / f"host{n}"  # nothing local is shared: own folder, own staging (TMPDIR)
            (work / "tmp").mkdir(parents=True)
            env = cli_env(work, emu.env(), RTK_STORE="delta", RTK_TABLE_URI=s3.uri("lake"), **s3.env)
            env["TMPDIR"] = str(work / "tmp")
            log = work / "backfill.out"
            args = cli("backfill", "--start", str(first), "--end", str(last), "--workers", "4")
            with log.open("wb") as out:  # the child keeps its own copy of the descriptor
                procs.append((subprocess.Popen(args, env=env, cwd=work, stdout=out, stderr=out), log))
        for proc, log in procs:
            code = proc.wait(timeout=600)
            text = log.read_text(errors="replace")
            assert code == 0, text[-3000:]
            assert s3.env["AWS_SECRET_ACCESS_KEY"] not in text
        assert emu.stats["by_status"].get(503, 0) > 0, "the emulator injected no 503"
        assert emu.stats["drift"].get("update", 0) > 0, "the emulator moved no meeting while paging"

        store = DeltaStore(
            TableRoot.from_env(s3.uri("lake"), s3.env), app_id=emu.app_id, staging_dir=tmp_path / "reader"
        )
        meetings = rows(store, "SELECT * FROM meetings")
        ids = [m["id"] for m in meetings]
        assert len(ids) == len(set(ids)), "a meeting is stored twice"
        stored = {m["id"]: decoded(m, "ai_config", "recording_config", "extra") for m in meetings}
        truth = truth_meetings(emu, DAYS[0], DAYS[-1])
        # Two writers on the same days: the last commit wins whole, and it holds a listing that may predate a
        # change the other writer's paging caused (the next sync of the day picks it up). So a meeting the
        # emulator inserted while paging may be absent, and one it touched may keep its previous updated_at;
        # every other meeting matches exactly, and nothing is stored twice or invented.
        inserted = {mid for mid, m in truth.items() if m.get("title") == DRIFT}
        touched = {mid for mid, m in truth.items() if m.get("updated_at") and ts(m["updated_at"]) >= started}
        touched -= inserted
        assert set(stored) - set(truth) == set()
        expected = {mid: expected_meeting(m) for mid, m in truth.items() if mid not in inserted}
        for mid in touched:
            assert stored[mid].pop("updated_at") <= expected[mid].pop("updated_at")
        assert_rows_equal({k: v for k, v in stored.items() if k not in inserted}, expected, "meetings")
        people = rows(store, "SELECT * FROM participants")
        keys = [(p["meeting_id"], p["id"]) for p in people]
        assert len(keys) == len(set(keys)), "a participant is stored twice"
        listed = {mid: m for mid, m in truth.items() if mid in stored}
        days = {mid: ts(m["created_at"]).date() for mid, m in listed.items()}
        assert_rows_equal(
            {(p["meeting_id"], p["id"]): decoded(p, "extra") for p in people},
            {
                k: expected_participant(k[0], days[k[0]], p)
                for k, p in truth_participants(emu, listed).items()
            },
            "participants",
        )

        runs = rows(store, "SELECT table_name, outcome, window_start FROM sync_runs")
        assert len(runs) == 2 * len(WINDOWS) and {r["outcome"] for r in runs} == {"success"}
