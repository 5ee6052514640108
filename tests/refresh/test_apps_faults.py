"""Two apps in one warehouse, refreshed at the same time while both their APIs fail now and then and drift
(5xx, 429s, truncated answers, participants deleted and meetings created while paging), on both backends:
each run stays within its budget, and after one more run without faults each app's meetings and ACTIVE
meetings' participants equal its own API, with nothing of the other app mixed in (the apps share meeting
ids: same seed)."""

from __future__ import annotations

import threading

import pytest

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.refresh import RefreshReport, RefreshSettings, refresh
from tests.support.emulator import client_for

from .changes import assert_converged, make_changes
from .conftest import FAULTS, backfill, two_app_stores

SMALL = {"meetings": 120, "days": 10, "seed": 41}
APPS = ("app-A", "app-B")


def _refresh_under_faults(emu: Emulator, store, reports: dict, errors: list) -> None:
    try:
        with client_for(emu) as client:
            make_changes(emu, client, joins=10, renames=4, deactivations=4, deletions=4, creations=2)
            emu.set_faults(**FAULTS)
            reports[emu.app_id] = refresh(client, store, settings=RefreshSettings())
    except Exception as exc:  # reported by the test
        errors.append(f"{emu.app_id}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("kind", ["duckdb", "delta"])
def test_two_apps_refreshed_at_once_under_faults_each_converge_to_their_own_api(
    emulator_factory, tmp_path, kind
):
    emus = [emulator_factory(**SMALL, app_id=app, fault_seed=n) for n, app in enumerate(APPS)]
    stores = two_app_stores(kind, tmp_path, *APPS)
    for emu, store in zip(emus, stores, strict=True):
        backfill(emu, store)
    reports: dict[str, RefreshReport] = {}
    errors: list[str] = []
    threads = [
        threading.Thread(target=_refresh_under_faults, args=(emu, store, reports, errors))
        for emu, store in zip(emus, stores, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert set(reports) == set(APPS)
    assert all(r.requests <= r.budget for r in reports.values()), reports
    for emu, store in zip(emus, stores, strict=True):
        assert emu.stats["faults"], f"{emu.app_id}: no fault was served"
        emu.set_faults(**dict.fromkeys(FAULTS, 0.0))
        with client_for(emu) as client:
            refresh(client, store, settings=RefreshSettings())  # what drift added during the first run
    for emu, store in zip(emus, stores, strict=True):
        assert_converged(store, emu)
