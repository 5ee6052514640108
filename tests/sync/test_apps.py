"""Two RealtimeKit apps in one warehouse, with colliding ids: two emulators of the same seed under two app
ids serve the same meeting and participant ids. Each app's rows equal its own emulator's ground truth, a
re-sync of one app's day never touches the other's rows of that day, the day's Parquet file holds both,
and a batch or client of one app is refused by the other's store."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.errors import ConfigError, DeactivationBusyError
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import DuckDBStore, SyncRun
from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for, emulator_days
from tests.support.stores import open_duckdb_store, rows
from tests.support.truth import assert_matches_truth

END = datetime(2026, 11, 1, tzinfo=UTC)
WORLD = {"meetings": 40, "days": 3, "seed": 7, "end": END}


@pytest.fixture
def apps(emulator_factory, tmp_path):
    """app-A and app-B: the same seeded data (so the same ids), then B's titles and one participant
    changed, both synced into one warehouse."""
    emus = {app: emulator_factory(**WORLD, app_id=app) for app in ("app-A", "app-B")}
    emu_b = emus["app-B"]
    for m in emu_b.meetings():
        emu_b.update_meeting(m["id"], title=f"B: {m.get('title')}", updated_at=m["updated_at"])
    emu_b.add_participant(emu_b.meetings()[0]["id"], name="only in B")
    stores = {app: open_duckdb_store(tmp_path, app_id=app) for app in emus}
    for app, emu in emus.items():
        with client_for(emu) as client:
            sync_range(client, stores[app], *emulator_days(emu))
    return emus, stores


def _rows(wh: DuckDBStore, table: str, app: str, day_column: str, day) -> list[tuple]:
    return sorted(
        rows(wh, f"SELECT * FROM {table} WHERE app_id = ? AND {day_column} = ?", [app, day]), key=repr
    )


def test_each_app_holds_its_own_emulators_rows_under_colliding_ids(apps):
    emus, stores = apps
    ids = {app: {m["id"] for m in emu.meetings()} for app, emu in emus.items()}
    assert ids["app-A"] == ids["app-B"]  # the ids collide...
    for app, emu in emus.items():  # ...and each app's rows are its own emulator's, by id and by value
        assert_matches_truth(stores[app], emu, *emulator_days(emu))
    with stores["app-A"].connect(read_only=True) as con:
        per_app = dict(con.execute("SELECT app_id, count(*) FROM meetings GROUP BY 1").fetchall())
        titles = con.execute("SELECT count(*) FROM meetings WHERE app_id = 'app-A' AND title LIKE 'B: %'")
        assert titles.fetchone() == (0,)
        # The views answer per app: a participant only B has counts for B's meeting only.
        ppm = con.execute(
            "SELECT app_id, participants FROM participants_per_meeting WHERE meeting_id = ? ORDER BY 1",
            [emus["app-B"].meetings()[0]["id"]],
        ).fetchall()
    assert per_app == {"app-A": 40, "app-B": 40}
    assert ppm[1][1] == ppm[0][1] + 1
    # Every Store read is confined to the store's app.
    first, last = emulator_days(emus["app-A"])
    for wh in stores.values():
        assert wh.table_counts(["meetings"])["meetings"].rows == 40
        assert sum(wh.rows_by_day("meetings", first, last).values()) == 40
        assert all(
            not r.also_elsewhere and not r.duplicate_rows
            for r in wh.key_reports("meetings", first, last).values()
        )
        assert all(
            d.only_table == d.only_mirror == 0 for d in wh.mirror_diffs("meetings", first, last).values()
        )
        assert set(wh.last_successful_syncs()) == {"meetings", "participants"}


def test_resyncing_one_apps_day_leaves_the_other_apps_rows_of_that_day(apps):
    emus, stores = apps
    emu_a, wh_a, wh_b = emus["app-A"], stores["app-A"], stores["app-B"]
    day = emulator_days(emu_a)[1]
    of_day = [m for m in emu_a.meetings() if m["created_at"].startswith(day.isoformat())]
    b_before = {
        t: _rows(wh_b, t, "app-B", c, day)
        for t, c in (("meetings", "created_day"), ("participants", "meeting_created_day"))
    }
    emu_a.update_meeting(of_day[0]["id"], title="renamed in A")
    with client_for(emu_a) as client:
        sync_range(client, wh_a, day, day)
    assert_matches_truth(wh_a, emu_a, day, day)
    for table, column in (("meetings", "created_day"), ("participants", "meeting_created_day")):
        assert _rows(wh_b, table, "app-B", column, day) == b_before[table], table
    # The day's Parquet file holds both apps' rows of the day, as the table does.
    for table, column in (("meetings", "created_day"), ("participants", "meeting_created_day")):
        mirror = pq.read_table(wh_a.parquet_path(table, day)).column("app_id").to_pylist()
        assert {app: mirror.count(app) for app in stores} == {
            app: len(_rows(wh_a, table, app, column, day)) for app in stores
        }
        assert mirror.count("app-B") > 0
    con = duckdb.connect(str(wh_a.duckdb_path), read_only=True)  # the analysts' file shows both
    assert dict(con.execute("SELECT app_id, count(*) FROM meetings GROUP BY 1").fetchall()) == {
        "app-A": 40,
        "app-B": 40,
    }
    con.close()


def test_a_batch_or_client_of_another_app_is_refused(apps):
    emus, stores = apps
    wh_a, wh_b = stores["app-A"], stores["app-B"]
    day = emulator_days(emus["app-A"])[0]
    before = wh_a.table_counts(["meetings"])
    record = {"id": "intruder", "created_at": f"{day.isoformat()}T12:00:00Z"}
    batch = normalize_meetings([record], synced_at=datetime.now(UTC)).batch
    of_b = batch.append_column("app_id", pa.array(["app-B"], pa.string()))
    with wh_a.stage("meetings", [day]) as stage, pytest.raises(ValueError, match="another app"):
        stage.write(of_b)
    with wh_b.stage("meetings", [day]) as stage:  # a stage of B committed through A's store
        stage.write(batch)
        with pytest.raises(ValueError, match="app-B"):
            wh_a.commit([stage])
    with pytest.raises(ValueError, match="app-B"):
        wh_a.record_failed_run(SyncRun(run_id="r", table_name="meetings", app_id="app-B"))
    with client_for(emus["app-B"]) as client, pytest.raises(ConfigError, match="app-B"):
        sync_range(client, wh_a, day, day)
    assert wh_a.table_counts(["meetings"]) == before
    assert "intruder" not in {m for m, _ in wh_b.meeting_ids_for_days([day])}


def test_two_apps_deactivations_take_separate_run_locks(tmp_path):
    app_a, app_bc = (open_duckdb_store(tmp_path, app_id=app) for app in ("a", "b/c"))
    a_elsewhere = DuckDBStore(tmp_path / "rtk.duckdb", tmp_path / "other", app_id="a")
    with app_a.lock("deactivate"):
        with app_bc.lock("deactivate"):  # another app's run is not kept waiting
            pass
        with pytest.raises(DeactivationBusyError, match="another deactivation run holds"):
            with a_elsewhere.lock("deactivate"):  # the same app and warehouse: one run at a time
                pass
    with a_elsewhere.lock("deactivate"):
        pass
    locks = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".lock") and "deactivate" in p.name)
    assert len(locks) == 2 and "rtk.duckdb.deactivate.a.lock" in locks  # beside the file, one per app
