"""SIGKILL of a Delta writer at points spread over its run (listing, staging, the commits) leaves every day
of every table whole: the rows of the last complete commit, old or new, never a mix; a re-run converges."""

from __future__ import annotations

import subprocess
import time
from datetime import date, timedelta

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.store.delta.objectstore import TableRoot
from tests.faults.conftest import mutate
from tests.support.emulator import END
from tests.support.processes import cli, cli_env
from tests.support.truth import ts

pytestmark = pytest.mark.slow

FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)
KILLS = 5


def per_day(store: DeltaStore) -> dict[tuple[str, date], frozenset]:
    """(table, day) -> the day's rows, by key and a value that every new version changes."""
    out: dict[tuple[str, date], set] = {}
    with store.connect(read_only=True) as con:
        for day, mid, title in con.execute("SELECT created_day, id, title FROM meetings").fetchall():
            out.setdefault(("meetings", day), set()).add((mid, title))
        for day, mid, pid in con.execute(
            "SELECT meeting_created_day, meeting_id, id FROM participants"
        ).fetchall():
            out.setdefault(("participants", day), set()).add((mid, pid))
    return {k: frozenset(v) for k, v in out.items()}


def backfill(env: dict[str, str], cwd) -> subprocess.Popen:
    args = cli("backfill", "--start", str(FIRST), "--end", str(LAST), "--workers", "2")
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_mid_commit_leaves_every_day_whole(tmp_path, s3):
    config = EmulatorConfig(meetings=90, days=3, seed=41, end=END, max_per_page=10, participants_mean=2.0)
    with Emulator(config, Faults(latency_s=0.004)) as emu:
        env = cli_env(tmp_path, emu.env(), RTK_STORE="delta", RTK_TABLE_URI=s3.uri("kill"), **s3.env)
        store = DeltaStore(
            TableRoot.from_env(s3.uri("kill"), s3.env), app_id=emu.app_id, staging_dir=tmp_path / "reader"
        )
        t0 = time.monotonic()
        assert backfill(env, tmp_path).wait(timeout=300) == 0
        duration = time.monotonic() - t0
        versions = [per_day(store)]  # every state a day may legitimately be in: a complete commit's

        def check(when: str) -> None:
            seen = per_day(store)
            for key, rows in seen.items():
                allowed = [v.get(key) for v in versions] + [_truth(emu, *key)]
                assert rows in allowed, f"{key} holds a mix of two versions after SIGKILL {when}"
            versions.append(seen)

        # Right after the meetings commit lands: the sync's later commits (rejects, sync_runs, the
        # participants) have not happened, so meetings are new and participants old, each day whole.
        mutate(emu, FIRST, LAST, tag="between")
        before = store.lake.version("meetings")
        proc = backfill(env, tmp_path)
        while store.lake.version("meetings") == before and proc.poll() is None:
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        check("between the meetings and participants commits")
        for day in _days():
            assert versions[-1][("meetings", day)] == _truth(emu, "meetings", day)
            assert versions[-1][("participants", day)] == versions[0][("participants", day)]

        # And at points spread over a whole run (listing, staging, writing files, committing).
        for n in range(1, KILLS + 1):
            mutate(emu, FIRST, LAST, tag=f"v{n}")
            proc = backfill(env, tmp_path)
            time.sleep(duration * n / (KILLS + 1))
            proc.kill()
            proc.wait()
            check(f"at {n}/{KILLS + 1} of a run")

        assert backfill(env, tmp_path).wait(timeout=300) == 0
        final = per_day(store)
        for day in _days():
            for table in ("meetings", "participants"):
                assert final[(table, day)] == _truth(emu, table, day)


def _days() -> list[date]:
    return [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]


def _truth(emu: Emulator, table: str, day: date) -> frozenset:
    """What a complete commit of `day` made now would hold, in `per_day`'s terms."""
    meetings = [m for m in emu.meetings() if ts(m["created_at"]).date() == day]
    if table == "meetings":
        return frozenset((m["id"], m.get("title")) for m in meetings)
    return frozenset((m["id"], p["id"]) for m in meetings for p in emu.participants(m["id"]))
