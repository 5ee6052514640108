"""Delta tables written by the release before app_id (main @ 3daa79f, see tests/lake/fixtures/README.md):
the first store that opens them files every row under its app, in one commit per table, once (a second
store, or two opening at once, rewrites nothing again); another app then syncs beside them, leaving them."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.store.delta.objectstore import TableRoot
from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for

from .apps import app_rows, assert_app_matches
from .servers import BUCKET

RELEASE = Path(__file__).parent / "fixtures" / "release-3daa79f"
# Rows per table the release wrote (README): a 3-day backfill of 30 meetings, then a dry-run deactivation.
COUNTS = {
    "meetings": 30,
    "participants": 241,
    "rejected_records": 0,
    "sync_runs": 2,
    "meeting_deactivations": 26,
}
# The emulator the release synced: another app with it has the very same meeting ids.
RELEASE_EMULATOR = {"meetings": 30, "days": 3, "seed": 13, "participants_mean": 2.0}
FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)  # the days it backfilled


_ADDED = ("app_id", "participants_synced_at")


def rows(table: pa.Table | ds.Dataset) -> Counter:
    """Rows of an Arrow table or dataset as a multiset, without the columns later releases added (app_id;
    meetings.participants_synced_at, null until a listing)."""
    data = table if isinstance(table, pa.Table) else table.to_table()
    return Counter(
        json.dumps({k: v for k, v in r.items() if k not in _ADDED}, sort_keys=True, default=str)
        for r in data.to_pylist()
    )


def release_rows(table: str) -> Counter:
    return rows(DeltaTable(str(RELEASE / table)).to_pyarrow_dataset())


def upgrades(root: TableRoot, table: str) -> int:
    history = DeltaTable(root.table_uri(table), storage_options=root.storage_options).history()
    return sum(1 for commit in history if "rtk_upgrade" in commit)


def copy_release(tmp_path: Path, where: str, request: pytest.FixtureRequest) -> TableRoot:
    if where == "local":
        shutil.copytree(RELEASE, tmp_path / "lake")
        return TableRoot.from_env(str(tmp_path / "lake"))
    s3 = request.getfixturevalue("s3")
    client = s3.client()
    for path in RELEASE.rglob("*"):
        if path.is_file():
            key = f"release/{path.relative_to(RELEASE).as_posix()}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    return TableRoot.from_env(s3.uri("release"), s3.env)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_release_lake_is_filed_under_the_first_app_that_opens_it(
    tmp_path, where, request, emulator_factory
):
    root = copy_release(tmp_path, where, request)
    a = DeltaStore(root, app_id="app-A", staging_dir=tmp_path / "a")
    before = {table: release_rows(table) for table in COUNTS}
    assert {t: sum(c.values()) for t, c in before.items()} == COUNTS
    with a.connect(read_only=True) as con:  # reading is enough to upgrade
        for table, n in COUNTS.items():
            assert con.execute(f"SELECT app_id, count(*) FROM {table} GROUP BY 1").fetchall() == (
                [("app-A", n)] if n else []
            )
    for table in COUNTS:
        upgraded = a.lake.dataset(table)
        assert upgraded.schema.names[-1] == "app_id" and rows(upgraded) == before[table], table
        assert upgrades(root, table) == 1
    versions = {table: a.lake.version(table) for table in COUNTS}

    c = DeltaStore(root, app_id="app-C", staging_dir=tmp_path / "c")  # a later store: nothing to do
    c.ensure_schema()
    assert {table: c.lake.version(table) for table in COUNTS} == versions

    emu = emulator_factory(**RELEASE_EMULATOR, app_id="app-B")  # the same meeting ids as the release's
    b = DeltaStore(root, app_id="app-B", staging_dir=tmp_path / "b")
    with client_for(emu) as client:
        sync_range(client, b, FIRST, LAST)
    assert_app_matches(b, "app-B", emu, FIRST, LAST)
    assert app_rows(b, "meetings", "app-B").keys() == app_rows(b, "meetings", "app-A").keys()
    for table in COUNTS:
        with a.connect(read_only=True) as con:
            mine = con.sql(f"SELECT * FROM {table} WHERE app_id = 'app-A'").to_arrow_table()
        assert rows(mine) == before[table], f"app-A's {table} changed when app-B synced"


def test_two_stores_opening_a_release_lake_at_once_upgrade_it_once(tmp_path):
    root = copy_release(tmp_path, "local", None)
    stores = [DeltaStore(root, app_id="app-A", staging_dir=tmp_path / f"s{n}") for n in range(2)]
    start, errors = threading.Barrier(2), []

    def open_it(store: DeltaStore) -> None:
        try:
            start.wait(timeout=30)
            store.ensure_schema()
        except Exception as exc:  # reported below
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_it, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for table, n in COUNTS.items():
        assert upgrades(root, table) == 1, table
        upgraded = stores[0].lake.dataset(table)
        assert upgraded.count_rows() == n and rows(upgraded) == release_rows(table), table


def test_an_upgrade_that_loses_the_race_rewrites_nothing(tmp_path, monkeypatch):
    """A store whose snapshot predates another's upgrade: its rewrite conflicts, its retry finds app_id."""
    root = copy_release(tmp_path, "local", None)
    late = DeltaStore(root, app_id="app-A", staging_dir=tmp_path / "late")
    stale = {table: late.lake._table(table) for table in COUNTS}  # read before the upgrade
    DeltaStore(root, app_id="app-A", staging_dir=tmp_path / "first").ensure_schema()
    fresh, calls = late.lake._table, Counter()

    def table(name: str) -> DeltaTable:
        calls[name] += 1  # the check and the first attempt see the old table, the retry the new one
        return stale[name] if calls[name] <= 2 else fresh(name)

    monkeypatch.setattr(late.lake, "_table", table)
    late.ensure_schema()
    assert all(calls[t] == 3 for t in COUNTS), calls  # each table: one lost attempt, one retry
    for name in COUNTS:
        assert upgrades(root, name) == 1
        assert rows(fresh(name).to_pyarrow_dataset()) == release_rows(name)
