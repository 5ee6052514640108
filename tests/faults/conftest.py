"""Shared tools of the fault suite: a pre-synced warehouse, the suite's invariant, a rewriting proxy.

Every check here compares what the warehouse holds with what the emulator says is true
(`tests.support.truth`), so a bug in normalize or the store shows up as a difference instead of being
mirrored by the test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.errors import RTKError
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import APP, END, client_for, emulator_days, made_and_stopped
from tests.support.stores import open_duckdb_store
from tests.support.truth import (
    assert_matches_truth,
    query,
    reading,
    truth_meetings,
    ts,
)

SECRET_MARKERS = ("EMU-SECRET-", "EMU-PTOKEN-")


# ---------------------------------------------------------------------------------------------- emulators


def small_emulator(**kw: Any) -> Emulator:
    """A started emulator with a few dozen meetings over 3 days and pages of 10 (several pages per day)."""
    config = {"meetings": 45, "days": 3, "seed": 5, "end": END, "max_per_page": 10, "participants_mean": 3.0}
    config.update(kw)
    return Emulator(EmulatorConfig(**config), Faults()).start()


@pytest.fixture
def emu() -> Iterator[Emulator]:
    emulator = small_emulator()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse synced from `small_emulator()` (same seed, same data), made once and copied per test:
    creating a DuckDB file and syncing it cold costs seconds, and most tests start from it."""
    root = tmp_path_factory.mktemp("baseline")
    emulator = small_emulator()
    try:
        first, last = emulator_days(emulator)
        with client_for(emulator) as client:
            sync_range(client, open_duckdb_store(root, app_id=APP), first, last)
    finally:
        emulator.stop()
    return root


@pytest.fixture
def synced(baseline: Path, tmp_path: Path) -> DuckDBStore:
    """A private copy of the baseline warehouse; pair it with the `emu` fixture (same data)."""
    for db_file in baseline.glob("rtk.duckdb*"):  # the analysts' file, and a WAL if DuckDB left one
        shutil.copy(db_file, tmp_path / db_file.name)
    shutil.copytree(baseline / ".rtk.duckdb.state", tmp_path / ".rtk.duckdb.state")  # the pipeline's state
    shutil.copytree(baseline / "parquet", tmp_path / "parquet")
    return open_duckdb_store(tmp_path, app_id=APP)


# ---------------------------------------------------------------------------------------------- truth


def snapshot(warehouse: DuckDBStore) -> dict[str, list[tuple]]:
    """Every stored row of the data tables (synced_at included: a failed sync must not touch a row)."""
    tables = ("meetings", "participants", "rejected_records")
    if not warehouse.duckdb_path.exists():
        return {t: [] for t in tables}
    return {
        t: [tuple(r.values()) for r in query(warehouse, f"SELECT * FROM {t} ORDER BY ALL")] for t in tables
    }


def sync_runs(warehouse: DuckDBStore) -> list[dict]:
    return query(warehouse, "SELECT * FROM sync_runs ORDER BY finished_at")


@dataclass
class Attempt:
    """What a sync did: its results, or the error it raised, and the sync_runs rows it added."""

    results: list = field(default_factory=list)
    error: RTKError | None = None
    runs: list[dict] = field(default_factory=list)


def attempt(warehouse: DuckDBStore, sync: Callable[[], Any]) -> Attempt:
    """Run a sync; a typed RTKError is captured (anything else is a crash and propagates)."""
    before = len(sync_runs(warehouse)) if warehouse.duckdb_path.exists() else 0
    out = Attempt()
    try:
        result = sync()
        out.results = result if isinstance(result, list) else [result]
    except RTKError as exc:
        out.error = exc
    out.runs = sync_runs(warehouse)[before:]
    return out


def mutate(emu: Emulator, first: date, last: date, tag: str) -> None:
    """Change every day's data so that an old and a new version of each day can be told apart: a title
    and a participant per day, one new meeting on the first day, one participant deleted."""
    meetings = truth_meetings(emu, first, last)
    by_day: dict[date, list[str]] = {}
    for mid, m in sorted(meetings.items()):
        by_day.setdefault(ts(m["created_at"]).date(), []).append(mid)
    for day, ids in sorted(by_day.items()):
        emu.update_meeting(ids[0], title=f"{tag} {day}")
        emu.add_participant(ids[-1], name=f"{tag} joiner")
    created = datetime(first.year, first.month, first.day, 13, tzinfo=UTC)
    emu.add_meeting(created_at=created, title=f"{tag} new meeting")
    for mid in sorted(meetings):
        people = emu.participants(mid)
        if people:
            emu.delete_participant(mid, people[0]["id"])
            break


def check_attempt(
    outcome: Attempt, warehouse: DuckDBStore, emu: Emulator, first: date, last: date, before: dict
) -> None:
    """The suite's core invariant. A completed sync equals the ground truth; a failed one left the data of
    the table it failed on (and every later table) exactly as it was, and recorded a failed sync_runs row;
    its error message never carries the API token."""
    with reading(warehouse):
        _check_attempt(outcome, warehouse, emu, first, last, before)


def _check_attempt(
    outcome: Attempt, warehouse: DuckDBStore, emu: Emulator, first: date, last: date, before: dict
) -> None:
    if outcome.error is None:
        assert [r["outcome"] for r in outcome.runs] == ["success"] * len(outcome.runs)
        assert_matches_truth(warehouse, emu, first, last)
        return
    assert emu.token not in str(outcome.error)
    assert outcome.runs and outcome.runs[-1]["outcome"] == "failed", outcome.runs
    assert emu.token not in (outcome.runs[-1]["error"] or "")
    failed_table = outcome.runs[-1]["table_name"]
    after = snapshot(warehouse)
    untouched = ["participants", "rejected_records"] if failed_table == "participants" else list(before)
    for table in untouched:
        assert after.get(table) == before.get(table), f"a failed {failed_table} sync changed {table}"


# ---------------------------------------------------------------------------------------------- proxy


@dataclass
class Exchange:
    """One request through the proxy and the answer it will return (hooks may change the answer)."""

    number: int  # 1-based, over all requests through the proxy
    method: str
    path: str
    query: dict[str, str]
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    delay: float = 0.0  # seconds to wait before answering
    reset: bool = False  # close the connection without answering

    @property
    def endpoint(self) -> str:
        if self.method != "GET":
            return self.method.lower()
        if self.path.endswith("/meetings"):
            return "list_meetings"
        if self.path.endswith("/participants"):
            return "list_participants"
        return "get"

    def json(self) -> Any:
        return json.loads(self.body)

    def set_json(self, doc: Any) -> None:
        self.body = json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _forward(self) -> None:
        proxy: Proxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            status, answer_headers, answer_body = answer.status, answer.getheaders(), answer.read()
        finally:
            upstream.close()
        split = urlsplit(self.path)
        with proxy.lock:
            proxy.count += 1
            number = proxy.count
        exchange = Exchange(
            number,
            self.command,
            split.path,
            {k: v[-1] for k, v in parse_qs(split.query).items()},
            status,
            [(k, v) for k, v in answer_headers if k.lower() not in ("content-length", "connection")],
            answer_body,
        )
        for hook in list(proxy.hooks):
            hook(exchange)
        proxy.log.append(exchange)
        if exchange.delay:
            time.sleep(exchange.delay)
        if exchange.reset:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        self.send_response_only(exchange.status)
        for name, value in exchange.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(exchange.body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(exchange.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward


class Proxy:
    """A loopback reverse proxy in front of an emulator whose hooks rewrite, delay or drop answers: for
    what a correct server never sends (a page without `paging`, a duplicated id, a raw timestamp form)."""

    def __init__(self, emu: Emulator) -> None:
        self.upstream_host, self.upstream_port = emu.host, emu.port
        self.hooks: list[Callable[[Exchange], None]] = []
        self.log: list[Exchange] = []
        self.lock = threading.Lock()
        self.count = 0
        server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        server.daemon_threads = True
        server.proxy = self  # type: ignore[attr-defined]
        self.server = server
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[Emulator], Proxy]]:
    yield from made_and_stopped(Proxy, Proxy.stop)


def rewrite_records(endpoint: str, change: Callable[[dict], None]) -> Callable[[Exchange], None]:
    """A hook applying `change` to every record of every successful page of `endpoint`."""

    def hook(ex: Exchange) -> None:
        if ex.endpoint == endpoint and ex.status == 200:
            doc = ex.json()
            for record in doc.get("data") or []:
                change(record)
            ex.set_json(doc)

    return hook
