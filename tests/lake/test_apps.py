"""Several apps in one Delta warehouse whose meeting ids collide (an emulator per app, all with the same
seed, one of them then changed): each app's rows equal its own emulator's ground truth, re-syncing one app's
day leaves the other apps' rows of that day as they were, and writers of two apps on one day both land."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.store import Deactivation
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.store.delta.objectstore import TableRoot
from rtk_pipeline.sync import sync_range
from tests.support.emulator import END, client_for
from tests.support.truth import truth_meetings, truth_participants, ts

from .apps import FIRST, KEYS, LAST, SMALL, app_rows, assert_app_matches, diverge

APP_A, APP_B = "app-A", "app-B"


def two_apps(emulator_factory: Any) -> tuple[Emulator, Emulator]:
    emu_a, emu_b = emulator_factory(**SMALL, app_id=APP_A), emulator_factory(**SMALL, app_id=APP_B)
    assert set(truth_meetings(emu_a, FIRST, LAST)) == set(truth_meetings(emu_b, FIRST, LAST))
    for day in (FIRST, LAST):
        diverge(emu_b, day, "B's own")
    return emu_a, emu_b


def stores(root: TableRoot | str, tmp_path: Path, *apps: str) -> list[DeltaStore]:
    return [DeltaStore(root, app_id=app, staging_dir=tmp_path / f"stage-{n}") for n, app in enumerate(apps)]


def test_two_apps_with_colliding_ids_on_s3_each_hold_their_own_rows(tmp_path, s3, emulator_factory):
    emu_a, emu_b = two_apps(emulator_factory)
    a, b = stores(TableRoot.from_env(s3.uri("apps"), s3.env), tmp_path, APP_A, APP_B)
    with client_for(emu_a) as client_a, client_for(emu_b) as client_b:
        sync_range(client_a, a, FIRST, LAST)
        sync_range(client_b, b, FIRST, LAST)
        assert_app_matches(a, APP_A, emu_a)
        assert_app_matches(b, APP_B, emu_b)
        before = {t: app_rows(b, t, APP_B) for t in KEYS}
        assert before["meetings"].keys() == app_rows(a, "meetings", APP_A).keys()  # the ids do collide

        diverge(emu_a, FIRST, "A's new")
        sync_range(client_a, a, FIRST, FIRST)  # re-sync one day of app A
    assert_app_matches(a, APP_A, emu_a)
    assert_app_matches(b, APP_B, emu_b)
    assert {t: app_rows(a, t, APP_B) for t in KEYS} == before, "app B's rows changed by a sync of app A"
    with a.connect(read_only=True) as con:
        runs = dict(con.execute("SELECT app_id, count(*) FROM sync_runs GROUP BY 1").fetchall())
        apps = {t: {r[0] for r in con.execute(f"SELECT DISTINCT app_id FROM {t}").fetchall()} for t in KEYS}
    assert runs == {APP_A: 4, APP_B: 2}
    assert apps == {"meetings": {APP_A, APP_B}, "participants": {APP_A, APP_B}}


def test_named_reads_see_only_their_app(tmp_path, emulator_factory):
    emu_a, emu_b = two_apps(emulator_factory)
    a, b = stores(str(tmp_path / "lake"), tmp_path, APP_A, APP_B)
    with client_for(emu_a) as client_a, client_for(emu_b) as client_b:
        sync_range(client_a, a, FIRST, LAST)
        sync_range(client_b, b, FIRST, LAST)
    truth = truth_meetings(emu_a, FIRST, LAST)
    days = [FIRST + timedelta(days=n) for n in range(3)]
    assert sorted(mid for mid, _ in a.meeting_ids_for_days(days)) == sorted(truth)
    assert sorted(mid for mid, _ in a.meeting_days(sorted(truth))) == sorted(truth)
    per_day = {d: sum(1 for m in truth if ts(truth[m]["created_at"]).date() == d) for d in days}
    assert a.rows_by_day("meetings", FIRST, LAST) == per_day
    people = b.stored_participants(sorted(truth))
    assert set(people.column("id").to_pylist()) == {
        p for (_, p) in truth_participants(emu_b, truth_meetings(emu_b, FIRST, LAST))
    }
    assert a.table_counts(["meetings"])["meetings"].rows == len(truth)
    assert a.last_successful_syncs()["meetings"] < b.last_successful_syncs()["meetings"]  # B synced later
    reports = a.key_reports("meetings", FIRST, LAST).values()
    assert all(not r.duplicate_rows and not r.also_elsewhere for r in reports)
    mid = sorted(truth)[0]
    pending = Deactivation(
        meeting_id=mid, title=None, last_activity_at=None, threshold_days=1, decision="pending",
        dry_run=False, http_status=None, error=None, detail=None, decided_at=END, run_id="r", as_of=END,
    )  # fmt: skip
    b.record_deactivations([pending], [])
    assert [d.attempt_id for d in b.pending_deactivations()] == [pending.attempt_id]
    assert a.pending_deactivations() == [] and a.latest_decisions({mid: END}) == {}
    with a.connect(read_only=True) as con:  # the audit row is filed under B
        assert con.execute("SELECT app_id FROM meeting_deactivations").fetchall() == [(APP_B,)]


def test_two_writers_of_different_apps_on_one_day_both_land(tmp_path, s3, emulator_factory):
    emu_a, emu_b = two_apps(emulator_factory)
    a, b = stores(TableRoot.from_env(s3.uri("race"), s3.env), tmp_path, APP_A, APP_B)
    a.ensure_schema()
    errors: list[str] = []
    start = threading.Barrier(2)

    def sync(emu: Emulator, store: DeltaStore) -> None:
        try:
            with client_for(emu) as client:
                start.wait(timeout=60)
                for _ in range(2):  # twice: the second round replaces days the other app is writing too
                    sync_range(client, store, FIRST, LAST, workers=2)
        except Exception as exc:  # reported below
            errors.append(f"{store.app_id}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=sync, args=pair) for pair in ((emu_a, a), (emu_b, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert_app_matches(a, APP_A, emu_a)
    assert_app_matches(b, APP_B, emu_b)


# App ids are user-given: quotes, backslashes and SQL must stay literal in every predicate.
ODD_APPS = ["o'brien", "back\\slash\\", "it\\'s", "名前 mit Leerzeichen", "x' OR '1'='1", "%_*"]


def test_odd_app_ids_replace_only_their_own_rows(tmp_path, emulator_factory):
    emus = [emulator_factory(**SMALL, app_id=app) for app in ODD_APPS]
    apps = stores(str(tmp_path / "lake"), tmp_path, *ODD_APPS)
    for emu, store in zip(emus, apps, strict=True):
        with client_for(emu) as client:
            sync_range(client, store, FIRST, FIRST)
    before = {s.app_id: {t: app_rows(s, t, s.app_id) for t in KEYS} for s in apps}
    n = ODD_APPS.index("x' OR '1'='1")
    diverge(emus[n], FIRST, "changed")
    with client_for(emus[n]) as client:
        sync_range(client, apps[n], FIRST, FIRST)
    assert_app_matches(apps[n], ODD_APPS[n], emus[n], FIRST, FIRST)
    for store in apps:
        if store is not apps[n]:
            assert {t: app_rows(store, t, store.app_id) for t in KEYS} == before[store.app_id], store.app_id
