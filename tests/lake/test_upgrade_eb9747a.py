"""Delta tables written by release eb9747a (two apps, before meetings.participants_synced_at; see
tests/lake/fixtures/README.md) upgrade on the first open by today's CLI with nothing lost: every row stays as
the release wrote it, the new column exists and is null until a listing, `sql` answers it, and a refresh then
fills it for the refreshed app only, leaving the other app's rows as they were."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from deltalake import DeltaTable

from rtk_pipeline.emulator import Emulator
from tests.support.processes import cli_env, run_cli
from tests.support.release_eb9747a import APP_ONE, COUNTS, NEW, TABLES

RELEASE = Path(__file__).parent / "fixtures" / "release-eb9747a"


def _rows(lake: Path, table: str, skip: tuple[str, ...] = (NEW,)) -> Counter:
    """A table's rows as the Delta log says (the release's own layout), without `skip`, as a multiset."""
    data = DeltaTable(str(lake / table)).to_pyarrow_table()
    return Counter(
        json.dumps({k: v for k, v in r.items() if k not in skip}, sort_keys=True, default=str)
        for r in data.to_pylist()
    )


def _app(counter: Counter, app: str) -> Counter:
    return Counter({row: n for row, n in counter.items() if json.loads(row).get("app_id") == app})


def _sql(env: dict[str, str], query: str) -> list[dict]:
    done = run_cli(["sql", "--format", "json", query], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_release_lake_upgrades_with_nothing_lost_and_a_refresh_fills_the_new_column(tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(RELEASE, lake)  # never opened in place
    truth = {table: _rows(lake, table) for table in TABLES}
    unstamped = _rows(lake, "participants", skip=(NEW, "synced_at"))
    counted = Counter()
    for table in TABLES:
        for row, n in truth[table].items():
            counted[(table, json.loads(row)["app_id"])] += n
    assert dict(counted) == COUNTS
    assert NEW not in DeltaTable(str(lake / "meetings")).schema().to_arrow().names
    versions = {table: DeltaTable(str(lake / table)).version() for table in TABLES}

    with Emulator(APP_ONE) as emu:
        env = cli_env(tmp_path, emu.env(), RTK_STORE="delta", RTK_TABLE_URI=str(lake))
        plan = run_cli(["refresh", "--plan", "--json"], env)  # the first open: read-only
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)["oldest_active_sync"] is None
        verify = run_cli(["verify", "--start", "2026-10-29", "--end", "2026-10-31"], env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # Read-only commands read the release's tables as they are: nothing upgraded, nothing written.
        assert NEW not in DeltaTable(str(lake / "meetings")).schema().to_arrow().names
        assert {t: DeltaTable(str(lake / t)).version() for t in TABLES} == versions
        assert _sql(
            env, f"SELECT app_id, count(*) AS n, count({NEW}) AS listed FROM meetings GROUP BY 1 ORDER BY 1"
        ) == [
            {"app_id": "app-one", "n": 30, "listed": 0},
            {"app_id": "app-two", "n": 20, "listed": 0},
        ]

        done = run_cli(["refresh", "--json"], env)  # the first write upgrades the tables in place
        assert done.returncode == 0, done.stderr
        figures = json.loads(done.stdout)
        assert NEW in DeltaTable(str(lake / "meetings")).schema().to_arrow().names
    assert figures["meetings_added"] == 0 and figures["participants_added"] == 0
    assert figures["meetings_refreshed"] == 30 and figures["active_behind"] == 0

    # Every meeting of app-one listed once (INACTIVE ones too: never listed before); app-two untouched.
    assert _sql(env, f"SELECT app_id, count({NEW}) AS listed FROM meetings GROUP BY 1 ORDER BY 1") == [
        {"app_id": "app-one", "listed": 30},
        {"app_id": "app-two", "listed": 0},
    ]
    for table in TABLES:
        assert _app(_rows(lake, table), "app-two") == _app(truth[table], "app-two"), table
    for table in ("meetings", "rejected_records", "meeting_deactivations"):
        assert _rows(lake, table) == truth[table], table
    assert _rows(lake, "participants", skip=(NEW, "synced_at")) == unstamped
