"""A synced world for the stale-meeting tests: an emulator with months of seeded meetings (some stale), a
client that is not slowed down by the production rate limit, and a real DuckDB warehouse synced from it."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rtk_pipeline import stale
from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.normalize import parse_timestamp
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import APP, client_for
from tests.support.stores import open_duckdb_store

# Data ends at today's midnight, so "30 days before now" cuts through the seeded months.
END = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 90


# A client for the emulator with the retries these tests count on: 3 attempts, waits capped at 0.2 s.
fast_client = functools.partial(client_for, max_attempts=3, max_retry_wait=0.2, backoff=0.01)


@dataclass
class World:
    emu: Emulator
    client: RealtimeKitClient
    wh: DuckDBStore
    as_of: datetime

    def sync(self) -> None:
        sync_range(
            self.client, self.wh, (END - timedelta(days=DAYS)).date(), (END - timedelta(days=1)).date()
        )

    def truth_stale(self, days: int = 30) -> set[str]:
        """Ground truth from the emulator: ACTIVE meetings whose last activity is older than `days`."""
        cutoff = self.as_of - timedelta(days=days)
        out = set()
        for m in self.emu.meetings():
            if self.emu.meeting(m["id"])["status"] != "ACTIVE":
                continue
            stamps = [parse_timestamp(m["created_at"]), parse_timestamp(m["updated_at"])]
            for p in self.emu.participants(m["id"]):
                stamps += [parse_timestamp(p["created_at"]), parse_timestamp(p["updated_at"])]
            if max(stamps) < cutoff:
                out.add(m["id"])
        return out

    def statuses(self) -> dict[str, str]:
        return {m["id"]: self.emu.meeting(m["id"])["status"] for m in self.emu.meetings()}

    def patches(self) -> list:
        return [r for r in self.emu.requests if r.method == "PATCH"]

    def patched_ids(self) -> list[str]:
        return [r.path.rsplit("/", 1)[1] for r in self.patches()]

    def run(self, **kw) -> list[stale.Decision]:
        return stale.deactivate_stale(self.client, self.wh, **{"as_of": self.as_of, **kw})

    def audit(self, where: str = "TRUE") -> list[dict]:
        df = self.wh.query_df(f"SELECT * FROM meeting_deactivations WHERE {where} ORDER BY recorded_at")
        return df.to_dict("records")


WORLD = {"meetings": 50, "days": DAYS, "seed": 5, "end": END, "participants_mean": 2.0}


def add_handmade_meetings(emu: Emulator) -> None:
    """Meetings the policy tests refer to by title: a stale one, and a permanent room to protect."""
    long_ago = END - timedelta(days=70)
    emu.add_meeting(title="Board room (permanent)", created_at=long_ago, updated_at=long_ago)
    emu.add_meeting(title="Quarterly review", created_at=long_ago, updated_at=long_ago)


def sync_world(emu: Emulator, duckdb_path: Path, parquet_dir: Path) -> None:
    with fast_client(emu) as client:
        World(emu, client, DuckDBStore(duckdb_path, parquet_dir, app_id=APP), END).sync()


@pytest.fixture(scope="session")
def synced_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real sync of the seeded world; tests get a copy (same seed and end => identical emulator data),
    which saves a sync per test."""
    folder = tmp_path_factory.mktemp("stale-template")
    with Emulator(EmulatorConfig(**WORLD)) as emu:
        add_handmade_meetings(emu)
        sync_world(emu, folder / "rtk.duckdb", folder / "parquet")
    return folder


@pytest.fixture
def world(
    emulator_factory: Callable[..., Emulator], synced_template: Path, tmp_path: Path
) -> Iterator[World]:
    emu = emulator_factory(**WORLD)
    add_handmade_meetings(emu)
    shutil.copytree(synced_template, tmp_path / "wh")
    client = fast_client(emu)
    w = World(emu, client, open_duckdb_store(tmp_path / "wh", app_id=APP), END)
    stored = set(w.wh.query_df("SELECT id FROM meetings").id)
    assert stored == {m["id"] for m in emu.meetings()}, "the template must hold this emulator's meetings"
    yield w
    client.close()
