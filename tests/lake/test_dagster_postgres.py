"""Dagster beyond one host: the instance on a real PostgreSQL server (started by the test), two partition runs
at once, each its own process, on the Delta backend (moto S3). Both succeed, their runs and events are rows in
Postgres (no SQLite storage appears in DAGSTER_HOME), and the Delta tables hold both days' data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from dagster_defs.local import PROJECT_ROOT
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.store.delta.objectstore import TableRoot
from tests.support.emulator import END
from tests.support.names import SYNC_JOB
from tests.support.truth import ts

pytestmark = pytest.mark.slow

DAYS = [date(2026, 10, 30), date(2026, 10, 31)]


def _run(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_two_partition_runs_on_postgres_and_delta(tmp_path, postgres, s3):
    config = EmulatorConfig(meetings=80, days=4, seed=31, end=END, participants_mean=2.0)
    with Emulator(config) as emu:
        home = tmp_path / "dagster_home"
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        env = {
            **base,
            **emu.env(),
            **s3.env,
            "RTK_STORE": "delta",
            "RTK_TABLE_URI": s3.uri("dagster"),
            "RTK_RATE_LIMIT_REQUESTS": "100000",
            "RTK_RATE_LIMIT_PERIOD_S": "10",
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_URL": postgres.url,
        }
        setup = _run(
            env, "rtk_pipeline.cli", "dagster-home", str(home), "--postgres",
            "--token-env", "CLOUDFLARE_API_TOKEN", "--token-env", "RTK_TOKEN_STAGING",
        )  # fmt: skip
        output = setup.communicate(timeout=120)[0]
        assert setup.returncode == 0 and "postgres storage" in output, output

        in_process = tmp_path / "in_process.yaml"
        in_process.write_text(json.dumps({"execution": {"config": {"in_process": {}}}}))
        procs = [
            _run(env, "dagster", "job", "execute", "-m", "dagster_defs.definitions", "-j", SYNC_JOB,
                 "--tags", json.dumps({"dagster/partition": day.isoformat()}), "-c", str(in_process))
            for day in DAYS
        ]  # fmt: skip
        try:
            outputs = [p.communicate(timeout=300)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        for proc, out in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, out[-3000:]

        os.environ["DAGSTER_PG_URL"] = postgres.url  # the instance reads it when it loads
        try:
            with DagsterInstance.from_config(str(home)) as instance:
                runs = instance.get_runs()
                assert sorted(r.tags["dagster/partition"] for r in runs) == [d.isoformat() for d in DAYS]
                assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
                run_ids = {r.run_id for r in runs}
                # Each token's pool had its row before the runs raced for it.
                assert instance.event_log_storage.get_concurrency_keys() >= {
                    "rtk_api",
                    "rtk_api_rtk_token_staging",
                }
        finally:
            del os.environ["DAGSTER_PG_URL"]
        with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
            cur.execute("SELECT run_id FROM runs")
            assert {row[0] for row in cur.fetchall()} == run_ids
            cur.execute("SELECT run_id, count(*) FROM event_logs GROUP BY run_id")
            events = dict(cur.fetchall())
        assert set(events) >= run_ids and all(events[r] > 10 for r in run_ids)
        assert not list(home.rglob("*.db")), "Dagster fell back to SQLite storage"

        store = DeltaStore(
            TableRoot.from_env(s3.uri("dagster"), s3.env), app_id=emu.app_id, staging_dir=tmp_path / "reader"
        )
        with store.connect(read_only=True) as con:
            stored = {r[0] for r in con.execute("SELECT id FROM meetings").fetchall()}
        truth = {m["id"] for m in emu.meetings() if ts(m["created_at"]).date() in DAYS}
        assert stored == truth and truth
