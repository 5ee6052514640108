"""`dagster-webserver` on loopback against workspace.yaml, asked over its GraphQL API what a user would
click through: the code location loads, the assets, checks (with per-partition results), jobs,
schedules and sensor are there, and the instance has the project's pool and run-queue settings."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import duckdb
import httpx
import pytest

from rtk_pipeline.store import DuckDBStore
from tests.support.names import (
    API_RESOURCE,
    CHECKS_JOB,
    DAILY_SCHEDULE,
    FRESHNESS_JOB,
    FRESHNESS_SCHEDULE,
    REFRESH_JOB,
    REFRESH_SCHEDULE,
    STALE_JOB,
    STALE_SENSOR,
    SYNC_JOB,
    M,
    P,
    V,
)

QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        name
        jobs { name }
        schedules { name scheduleState { status } }
        sensors { name }
        allTopLevelResourceDetails { name configuredValues { key value type } }
      }
    }
  }
  assetNodes {
    assetKey { path }
    pools
    isPartitioned
    backfillPolicy { maxPartitionsPerRun }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name blocking
          partitionStatuses {
            __typename
            ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
          }
        }
      }
    }
  }
  instance {
    poolConfig { defaultPoolLimit poolGranularity }
    runQueueConfig { maxConcurrentRuns }
  }
}
"""


def _graphql(url: str) -> dict:
    deadline = time.monotonic() + 120
    while True:  # the code location may still be loading right after the server answers
        data = httpx.post(f"{url}/graphql", json={"query": QUERY}, timeout=60).json()
        assert "errors" not in data, data.get("errors")
        entries = data["data"]["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return data["data"]
        assert time.monotonic() < deadline, entries
        time.sleep(1)


@pytest.mark.slow
def test_ui_shows_everything(rtk_env, disk_instance, run_job, webserver):
    # Two partitions synced into this DAGSTER_HOME, then one of them broken and re-checked.
    first, last = date(2026, 10, 30), date(2026, 10, 31)
    assert run_job(disk_instance, first, last).success
    state = DuckDBStore(
        Path(rtk_env["RTK_DUCKDB_PATH"]), Path(rtk_env["RTK_PARQUET_DIR"]), app_id=rtk_env["RTK_APP_ID"]
    ).state_path
    con = duckdb.connect(str(state))  # broken where the checks read
    con.execute(
        "DELETE FROM meetings WHERE id = (SELECT min(id) FROM meetings WHERE created_day = ?)", [last]
    )
    con.close()
    assert not run_job(disk_instance, last, last, job=CHECKS_JOB).success

    data = _graphql(webserver)

    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry

    (repo,) = data["repositoriesOrError"]["nodes"]
    assert {j["name"] for j in repo["jobs"]} >= {
        SYNC_JOB, CHECKS_JOB, FRESHNESS_JOB, STALE_JOB, REFRESH_JOB,
    }  # fmt: skip
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]}
    assert schedules == {
        DAILY_SCHEDULE: "RUNNING",
        FRESHNESS_SCHEDULE: "RUNNING",
        REFRESH_SCHEDULE: "RUNNING",
    }
    assert {s["name"] for s in repo["sensors"]} == {STALE_SENSOR}
    # The UI's resource config view shows the token's variable name, never its value.
    resources = {r["name"]: r["configuredValues"] for r in repo["allTopLevelResourceDetails"]}
    (api_token,) = [v for v in resources[API_RESOURCE] if v["key"] == "api_token"]
    assert api_token == {"key": "api_token", "value": "CLOUDFLARE_API_TOKEN", "type": "ENV_VAR"}
    assert rtk_env["CLOUDFLARE_API_TOKEN"] not in json.dumps(data)

    assets = {"/".join(a["assetKey"]["path"]): a for a in data["assetNodes"]}
    assert set(assets) == {M, P, V}
    for name in (M, P):
        node = assets[name]
        assert node["pools"] == ["rtk_api"] and node["isPartitioned"]
        assert node["backfillPolicy"]["maxPartitionsPerRun"] == 31
    checks = {c["name"]: c for c in assets[M]["assetChecksOrError"]["checks"]}
    assert set(checks) == {
        "rows_match_api", "ids_unique", "created_at_in_partition", "secrets_absent",
        "parquet_matches_table", "latest_partition_fresh",
    }  # fmt: skip
    assert checks["secrets_absent"]["blocking"] and not checks["parquet_matches_table"]["blocking"]

    def status(check: str, day: date) -> str:
        ranges = checks[check]["partitionStatuses"]["ranges"]
        return next(r["status"] for r in ranges if r["startKey"] <= day.isoformat() <= r["endKey"])

    assert status("rows_match_api", first) == "SUCCEEDED"
    assert status("rows_match_api", last) == "FAILED"
    assert status("ids_unique", last) == "SUCCEEDED"

    assert data["instance"]["poolConfig"]["defaultPoolLimit"] == 1
    assert data["instance"]["runQueueConfig"]["maxConcurrentRuns"] == 4


def test_no_token_in_dagster_storage(rtk_env, disk_instance, run_job, dagster_home, token):
    """After a run, no file Dagster wrote (SQLite run/event storage, compute logs) holds the token."""
    assert run_job(disk_instance, date(2026, 10, 30), date(2026, 10, 31)).success
    leaked = [p for p in Path(dagster_home).rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert leaked == []
