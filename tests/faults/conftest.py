"""Shared tools of the fault suite: fast clients, a rewriting proxy, and ground-truth comparisons.

Every check here compares what the warehouse holds with what the emulator says is true, computed
independently of `rtk_pipeline.normalize` (only the documented column contract is assumed), so a bug in
normalize or the store shows up as a difference instead of being mirrored by the test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.errors import RTKError
from rtk_pipeline.ratelimit import RateLimiter
from rtk_pipeline.store import Warehouse
from rtk_pipeline.sync import sync_range

END = datetime(2026, 11, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
SECRET_MARKERS = ("EMU-SECRET-", "EMU-PTOKEN-")
SECRET_KEYS = frozenset({"token", "access_key", "secret", "password", "private_key"})

# The list fields the meetings table types; every other field of a record belongs in `extra`.
MEETING_PLAIN = (
    "id",
    "title",
    "status",
    "live_stream_on_start",
    "persist_chat",
    "record_on_start",
    "summarize_on_end",
    "transcribe_on_end",
    "session_keep_alive_time_in_secs",
)
MEETING_TIMES = ("created_at", "updated_at")
MEETING_JSON = ("ai_config", "recording_config")
MEETING_KNOWN = frozenset(MEETING_PLAIN + MEETING_TIMES + MEETING_JSON)
PARTICIPANT_PLAIN = ("id", "custom_participant_id", "preset_name", "name", "picture")
PARTICIPANT_KNOWN = frozenset((*PARTICIPANT_PLAIN, *MEETING_TIMES))


# ---------------------------------------------------------------------------------------------- clients

_TLS = ssl.create_default_context()


def client_for(target: Emulator | str, emu: Emulator | None = None, **kw: Any) -> RealtimeKitClient:
    """A client that retries fast and is not paced (the emulator enforces no budget unless asked).

    `target` is the emulator, or a base URL (a proxy) in front of `emu`.
    """
    emu = target if isinstance(target, Emulator) else emu
    base_url = target.base_url if isinstance(target, Emulator) else target
    kw.setdefault("max_retry_wait", 0.02)
    kw.setdefault("backoff", 0.005)
    kw.setdefault("max_attempts", 6)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("rate_limiter", RateLimiter(1_000_000, 1.0))
    # The client's own transport, but with one TLS context for all: building one costs ~80 ms (certifi),
    # and loopback HTTP never uses it.
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    kw.setdefault("transport", httpx.HTTPTransport(verify=_TLS, limits=limits))
    kw.setdefault("api_token", emu.token)
    kw.setdefault("account_id", emu.account_id)
    return RealtimeKitClient(app_id=emu.app_id, base_url=base_url, **kw)


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


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "rtk.duckdb", tmp_path / "parquet")


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse synced from `small_emulator()` (same seed, same data), made once and copied per test:
    creating a DuckDB file and syncing it cold costs seconds, and most tests start from it."""
    root = tmp_path_factory.mktemp("baseline")
    emulator = small_emulator()
    try:
        first, last = emulator_days(emulator)
        with client_for(emulator) as client:
            sync_range(client, Warehouse(root / "rtk.duckdb", root / "parquet"), first, last)
    finally:
        emulator.stop()
    return root


@pytest.fixture
def synced(baseline: Path, tmp_path: Path) -> Warehouse:
    """A private copy of the baseline warehouse; pair it with the `emu` fixture (same data)."""
    for db_file in baseline.glob("rtk.duckdb*"):  # the file, and a WAL if DuckDB left one
        shutil.copy(db_file, tmp_path / db_file.name)
    shutil.copytree(baseline / "parquet", tmp_path / "parquet")
    return Warehouse(tmp_path / "rtk.duckdb", tmp_path / "parquet")


def emulator_days(emu: Emulator) -> tuple[date, date]:
    """The first and last UTC day the emulator's data covers."""
    end = emu.config.end
    return (end - timedelta(days=emu.config.days)).date(), (end - timedelta(microseconds=1)).date()


# ---------------------------------------------------------------------------------------------- truth


def ts(value: str) -> datetime:
    """An API timestamp as a UTC datetime (no zone = UTC; more than 6 fractional digits truncated)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def truth_meetings(emu: Emulator, first: date, last: date) -> dict[str, dict]:
    """The emulator's meetings created on the UTC days first..last, by id, as the list returns them."""
    out = {}
    for record in emu.meetings():
        if first <= ts(record["created_at"]).date() <= last:
            out[record["id"]] = record
    return out


def truth_participants(emu: Emulator, meetings: dict[str, dict]) -> dict[tuple[str, str], dict]:
    return {(mid, p["id"]): p for mid in meetings for p in emu.participants(mid)}


def expected_meeting(record: dict) -> dict:
    """The meetings row the column contract demands for an API list record."""
    row = {name: record.get(name) for name in MEETING_PLAIN}
    created = ts(record["created_at"])
    row["created_at"] = created
    row["updated_at"] = None if record.get("updated_at") is None else ts(record["updated_at"])
    for name in MEETING_JSON:
        row[name] = None if record.get(name) is None else scrub(record[name])
    extra = {k: scrub(v) for k, v in record.items() if k not in MEETING_KNOWN and k not in SECRET_KEYS}
    row["extra"] = extra or None
    row["created_day"] = created.date()
    return row


def expected_participant(meeting_id: str, day: date, record: dict) -> dict:
    row = {name: record.get(name) for name in PARTICIPANT_PLAIN}
    row["meeting_id"] = meeting_id
    for name in MEETING_TIMES:
        row[name] = None if record.get(name) is None else ts(record[name])
    extra = {k: scrub(v) for k, v in record.items() if k not in PARTICIPANT_KNOWN and k not in SECRET_KEYS}
    row["extra"] = extra or None
    row["meeting_created_day"] = day
    return row


_reading: dict[Path, Any] = {}


@contextlib.contextmanager
def reading(warehouse: Warehouse) -> Iterator[None]:
    """Serve every `query` of the block from one read-only connection (opening one costs ~40 ms, and a
    check makes dozens). Never around a sync: the writer could not open the file meanwhile."""
    if warehouse.duckdb_path in _reading:
        yield
        return
    con = warehouse.connect(read_only=True)
    _reading[warehouse.duckdb_path] = con
    try:
        yield
    finally:
        del _reading[warehouse.duckdb_path]
        con.close()


def query(warehouse: Warehouse, sql: str, params: list | None = None) -> list[dict]:
    con = _reading.get(warehouse.duckdb_path)
    if con is None:
        with reading(warehouse):
            return query(warehouse, sql, params)
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _decoded(row: dict, json_columns: tuple[str, ...]) -> dict:
    out = dict(row)
    out.pop("synced_at", None)
    for name in json_columns:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    return out


def stored_meetings(warehouse: Warehouse) -> dict[str, dict]:
    rows = query(warehouse, "SELECT * FROM meetings")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a meeting id is stored twice"
    return {r["id"]: _decoded(r, (*MEETING_JSON, "extra")) for r in rows}


def stored_participants(warehouse: Warehouse) -> dict[tuple[str, str], dict]:
    rows = query(warehouse, "SELECT * FROM participants")
    keys = [(r["meeting_id"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)), "a participant is stored twice"
    return {(r["meeting_id"], r["id"]): _decoded(r, ("extra",)) for r in rows}


def assert_rows_equal(stored: dict, expected: dict, what: str) -> None:
    """Same keys, and per key the same value in every column."""
    missing, unexpected = set(expected) - set(stored), set(stored) - set(expected)
    assert not missing and not unexpected, (
        f"{what}: missing {sorted(missing)[:5]}, extra {sorted(unexpected)[:5]}"
    )
    for key, want in expected.items():
        got = {k: stored[key].get(k) for k in want}
        assert got == want, f"{what} {key}: stored {got} != expected {want}"


def assert_matches_truth(warehouse: Warehouse, emu: Emulator, first: date, last: date) -> None:
    """Meetings and participants of first..last equal the emulator's ground truth, by id and by value."""
    meetings = truth_meetings(emu, first, last)
    days = {mid: ts(m["created_at"]).date() for mid, m in meetings.items()}
    assert_rows_equal(
        {k: v for k, v in stored_meetings(warehouse).items() if first <= v["created_day"] <= last},
        {mid: expected_meeting(m) for mid, m in meetings.items()},
        "meetings",
    )
    assert_rows_equal(
        {
            k: v
            for k, v in stored_participants(warehouse).items()
            if first <= v["meeting_created_day"] <= last
        },
        {k: expected_participant(k[0], days[k[0]], p) for k, p in truth_participants(emu, meetings).items()},
        "participants",
    )


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every stored row of the data tables (synced_at included: a failed sync must not touch a row)."""
    tables = ("meetings", "participants", "rejected_records")
    if not warehouse.duckdb_path.exists():
        return {t: [] for t in tables}
    return {
        t: [tuple(r.values()) for r in query(warehouse, f"SELECT * FROM {t} ORDER BY ALL")] for t in tables
    }


def sync_runs(warehouse: Warehouse) -> list[dict]:
    return query(warehouse, "SELECT * FROM sync_runs ORDER BY finished_at")


@dataclass
class Attempt:
    """What a sync did: its results, or the error it raised, and the sync_runs rows it added."""

    results: list = field(default_factory=list)
    error: RTKError | None = None
    runs: list[dict] = field(default_factory=list)


def attempt(warehouse: Warehouse, sync: Callable[[], Any]) -> Attempt:
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
    outcome: Attempt, warehouse: Warehouse, emu: Emulator, first: date, last: date, before: dict
) -> None:
    """The suite's core invariant. A completed sync equals the ground truth; a failed one left the data of
    the table it failed on (and every later table) exactly as it was, and recorded a failed sync_runs row;
    its error message never carries the API token."""
    with reading(warehouse):
        _check_attempt(outcome, warehouse, emu, first, last, before)


def _check_attempt(
    outcome: Attempt, warehouse: Warehouse, emu: Emulator, first: date, last: date, before: dict
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
    started: list[Proxy] = []

    def make(emu: Emulator) -> Proxy:
        started.append(Proxy(emu))
        return started[-1]

    yield make
    for proxy in started:
        proxy.stop()


def rewrite_records(endpoint: str, change: Callable[[dict], None]) -> Callable[[Exchange], None]:
    """A hook applying `change` to every record of every successful page of `endpoint`."""

    def hook(ex: Exchange) -> None:
        if ex.endpoint == endpoint and ex.status == 200:
            doc = ex.json()
            for record in doc.get("data") or []:
                change(record)
            ex.set_json(doc)

    return hook


# ---------------------------------------------------------------------------------------------- the CLI


def cli_env(tmp_path: Path, emu_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment a user would set for `rtk-pipeline backfill` against the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "RTK_", "DAGSTER_"))}
    env.update(
        RTK_DUCKDB_PATH=str(tmp_path / "rtk.duckdb"),
        RTK_PARQUET_DIR=str(tmp_path / "parquet"),
        RTK_RATE_LIMIT_REQUESTS="1000000",
        RTK_RATE_LIMIT_PERIOD_S="1",
        COLUMNS="160",
        PYTHONUNBUFFERED="1",
    )
    env.update(emu_env)
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rtk_pipeline.cli", *args]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL `proc` after `seconds` unless it ended first; True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
