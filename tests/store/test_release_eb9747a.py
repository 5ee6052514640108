"""A DuckDB warehouse written by release eb9747a (two apps, before meetings.participants_synced_at) migrates
on the first open by today's CLI with nothing lost: every row of the five tables stays as the release wrote
it, the new column exists and is null on every row until a listing, the analysts' file answers it, and a
refresh then fills it for the refreshed app only.

The fixture `fixtures/release-eb9747a.tar.gz` is the data folder that release's own CLI wrote
(`fixtures/make-release-eb9747a.sh`): app-one (seed 17) backfilled 2026-10-29..31, a dry-run stale
deactivation, a failed backfill; app-two (seed 18) backfilled 2026-10-30..31.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from rtk_pipeline.emulator import Emulator
from tests.support.processes import cli_env, run_cli
from tests.support.release_eb9747a import APP_ONE, COUNTS, NEW, TABLES
from tests.support.stores import rows

FIXTURE = Path(__file__).with_name("fixtures") / "release-eb9747a.tar.gz"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The release's data folder, copied out of the checked-in archive (never opened in place)."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def _state(data: Path) -> Path:
    return data / ".rtk.duckdb.state" / "pipeline.duckdb"


def _release_rows(state: Path, skip: tuple[str, ...] = (NEW,)) -> dict[str, list[tuple]]:
    """Every table's rows in the release's own columns (what its layout says is true) but `skip`, sorted."""
    out = {}
    for table in TABLES:
        columns = [c for (c, *_) in rows(state, f"DESCRIBE {table}") if c not in skip]
        select = ", ".join(f'"{c}"' for c in columns)
        out[table] = sorted(rows(state, f"SELECT {select} FROM {table}"), key=repr)
    return out


def _files(data: Path) -> dict[str, bytes]:
    """Every file of the data folder and its bytes."""
    return {str(p.relative_to(data)): p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()}


def _env(data: Path, emu_env: dict[str, str]) -> dict[str, str]:
    return cli_env(
        data.parent,
        emu_env,
        RTK_DUCKDB_PATH=str(data / "rtk.duckdb"),
        RTK_PARQUET_DIR=str(data / "parquet"),
    )


def _sql(env: dict[str, str], query: str) -> list[dict]:
    done = run_cli(["sql", "--format", "json", query], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_release_warehouse_migrates_with_nothing_lost_and_a_refresh_fills_the_new_column(data):
    truth = _release_rows(_state(data))
    unstamped = _release_rows(_state(data), skip=(NEW, "synced_at"))
    counted = {
        (table, app): n
        for table in TABLES
        for app, n in rows(_state(data), f"SELECT app_id, count(*) FROM {table} GROUP BY 1")
    }
    assert counted == COUNTS
    assert NEW not in {c for (c, *_) in rows(_state(data), "DESCRIBE meetings")}

    with Emulator(APP_ONE) as emu:
        env = _env(data, emu.env())
        before = _files(data)
        plan = run_cli(["refresh", "--plan", "--json"], env)  # the first open: reads the release's state
        assert plan.returncode == 0, plan.stderr
        assert json.loads(plan.stdout)["oldest_active_sync"] is None  # nothing listed since the release
        verify = run_cli(["verify", "--start", "2026-10-29", "--end", "2026-10-31"], env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert _files(data) == before  # read-only commands migrate, create and publish nothing

        # Nothing lost, nothing migrated yet: every row as the release wrote it.
        assert _release_rows(_state(data)) == truth
        assert NEW not in {c for (c, *_) in rows(_state(data), "DESCRIBE meetings")}
        # The analysts' file is the release's until the first write: its rows, without the new column.
        answered = _sql(env, "SELECT app_id, count(*) AS n FROM meetings GROUP BY 1 ORDER BY 1")
        assert answered == [{"app_id": "app-one", "n": 30}, {"app_id": "app-two", "n": 20}]
        per_day = _sql(env, "SELECT count(*) AS days FROM meetings_per_day")
        assert per_day == [{"days": 5}]  # app-one's 3 days and app-two's 2

        done = run_cli(["refresh", "--json"], env)
        assert done.returncode == 0, done.stderr
        figures = json.loads(done.stdout)
        assert figures["meetings_added"] == 0 and figures["participants_added"] == 0
        active = sum(1 for m in emu.meetings() if m["status"] == "ACTIVE")
        assert figures["active_meetings"] == active and figures["active_behind"] == 0

    # The refresh listed every meeting of app-one once (the INACTIVE ones too: never listed before) and
    # nothing else changed: the rows are the release's but for the listing stamps; app-two is untouched.
    assert figures["meetings_refreshed"] == 30
    assert _sql(env, f"SELECT app_id, count({NEW}) AS listed FROM meetings GROUP BY 1 ORDER BY 1") == [
        {"app_id": "app-one", "listed": 30},
        {"app_id": "app-two", "listed": 0},
    ]
    after = _release_rows(_state(data))
    for table in ("meetings", "rejected_records", "meeting_deactivations"):
        assert after[table] == truth[table], table
    assert set(truth["sync_runs"]) <= set(after["sync_runs"])
    listed_again = _release_rows(_state(data), skip=(NEW, "synced_at"))["participants"]
    assert listed_again == unstamped["participants"]  # the API's participants are the release's
    mirror = ds.dataset(data / "parquet" / "meetings", format="parquet", partitioning="hive").to_table()
    stamped = {a: 0 for a in ("app-one", "app-two")}
    for app, stamp in zip(mirror["app_id"].to_pylist(), mirror[NEW].to_pylist(), strict=True):
        stamped[app] += stamp is not None
    assert stamped == {"app-one": 30, "app-two": 0}
