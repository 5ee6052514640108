"""A backfilled warehouse and the emulator behind it, for the refresh tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for, emulator_days
from tests.support.stores import open_duckdb_store

# Enough older ACTIVE meetings for the acceptance run's changes, small enough to backfill in seconds.
ROOMS = {"meetings": 400, "days": 20, "seed": 19}
# The emulator's faults and drift a refresh must come through: 5xx, 429s, truncated answers, participants
# deleted and meetings created while paging.
FAULTS = {
    "p5xx": 0.05,
    "p429": 0.03,
    "retry_after": "0",
    "p_truncated": 0.02,
    "drift_delete": 0.05,
    "drift_insert": 0.1,
}


def backfill(emu: Emulator, store: Any) -> None:
    """`rtk-pipeline backfill` over every day the emulator's data covers."""
    first, last = emulator_days(emu)
    with client_for(emu) as client:
        sync_range(client, store, first, last)


@pytest.fixture
def rooms(emulator_factory: Callable[..., Emulator], tmp_path: Path) -> tuple[Emulator, DuckDBStore]:
    """An emulator with older rooms and a DuckDB warehouse backfilled from it."""
    emu = emulator_factory(**ROOMS)
    store = open_duckdb_store(tmp_path / "wh")
    backfill(emu, store)
    return emu, store


def two_app_stores(kind: str, tmp_path: Path, app_a: str, app_b: str) -> tuple[Any, Any]:
    """Two apps' stores over one warehouse of the backend `kind` ("duckdb" or "delta")."""
    if kind == "delta":
        root = str(tmp_path / "lake")
        return (
            DeltaStore(root, app_id=app_a, staging_dir=tmp_path / "stage-a"),
            DeltaStore(root, app_id=app_b, staging_dir=tmp_path / "stage-b"),
        )
    return open_duckdb_store(tmp_path, app_id=app_a), open_duckdb_store(tmp_path, app_id=app_b)
