"""Shared fixtures: seeded emulators serving real HTTP on 127.0.0.1, stopped after each test, and a fresh
warehouse in the test's own folder. Plain helpers live in `tests.support`."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP, END, made_and_stopped
from tests.support.stores import open_duckdb_store

EMULATOR_DEFAULTS = {"meetings": 300, "days": 10, "seed": 7, "end": END}
_CONFIG_FIELDS = {f.name for f in dataclasses.fields(EmulatorConfig)}
_FAULT_FIELDS = {f.name for f in dataclasses.fields(Faults)} - {"seed"}


def _started(**kwargs) -> Emulator:
    unknown = set(kwargs) - _CONFIG_FIELDS - _FAULT_FIELDS - {"fault_seed"}
    if unknown:
        raise TypeError(f"not an EmulatorConfig or Faults field: {sorted(unknown)}")
    config = {k: v for k, v in kwargs.items() if k in _CONFIG_FIELDS}
    cfg = EmulatorConfig(**{**EMULATOR_DEFAULTS, **config})
    faults = Faults(
        **{k: v for k, v in kwargs.items() if k in _FAULT_FIELDS},
        **({"seed": kwargs["fault_seed"]} if "fault_seed" in kwargs else {}),
    )
    return Emulator(cfg, faults).start()


@pytest.fixture(autouse=True, scope="session")
def _budget_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Clients on the shared budget (and the Dagster processes the tests start) keep its state in the
    session's folder, not in the user's ~/.local/state."""
    os.environ.setdefault("RTK_BUDGET_DIR", str(tmp_path_factory.mktemp("budget")))


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """`emulator_factory(**kw)` -> a started Emulator. Keywords are EmulatorConfig fields (defaults: 300
    meetings over 10 days up to 2026-11-01, seed 7) and Faults fields (`fault_seed` for Faults.seed)."""
    yield from made_and_stopped(_started, Emulator.stop)


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A small seeded emulator (300 meetings over the 10 days up to 2026-11-01, seed 7), no faults."""
    return emulator_factory()


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBStore:
    """An empty warehouse (DuckDB file and Parquet folder) in the test's own folder."""
    return open_duckdb_store(tmp_path, app_id=APP)


_ANALYST = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
con.execute("SET TimeZone = 'UTC'")
print(json.dumps("open"), flush=True)
for line in sys.stdin:
    try:
        out = con.execute(json.loads(line)).fetchall()
    except Exception as exc:
        out = f"error: {type(exc).__name__}: {exc}"
    print(json.dumps(out, default=str), flush=True)
"""


class AnalystSession:
    """A process holding one DuckDB connection open (a notebook, a `duckdb` CLI), queried line by line."""

    def __init__(self, path: Path, mode: str) -> None:
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ANALYST, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        opened = self.proc.stdout.readline()
        if json.loads(opened or '"exited"') != "open":
            raise RuntimeError(f"the analyst session could not open {path}")

    def query(self, sql: str) -> list | str:
        """The rows (as JSON values), or the error text: the session stays open either way."""
        self.proc.stdin.write(json.dumps(sql) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture
def analyst_session() -> Iterator[Callable[[Path, str], AnalystSession]]:
    """`analyst_session(path, "ro" | "rw")`: an analyst's process holding `path` open until the test ends."""
    sessions: list[AnalystSession] = []

    def open_session(path: Path, mode: str) -> AnalystSession:
        sessions.append(AnalystSession(path, mode))
        return sessions[-1]

    yield open_session
    for session in sessions:
        session.close()
