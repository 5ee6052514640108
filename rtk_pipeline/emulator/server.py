"""The emulator's HTTP server: a stdlib ThreadingHTTPServer on loopback speaking the RealtimeKit Meetings API.

One lock guards all state (data, fault engine, request log, stats); a request holds it while it is decided
and handled, and releases it for latency sleeps and socket writes. Responses are written in one send with
an exact Content-Length, so keep-alive connections are reused and Nagle never delays a reply.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, TextIO
from urllib.parse import parse_qs, unquote

from rtk_pipeline.emulator import validation as v
from rtk_pipeline.emulator.data import Clock, EmulatorConfig, Store, dumps, participant_record, scrub, to_ms
from rtk_pipeline.emulator.faults import PRE_KINDS, Decision, FaultEngine, Faults

API_ROOT = "/client/v4"

_RESOURCES = {
    "meetings": {"GET": "list_meetings", "POST": "create_meeting"},
    "meeting": {"GET": "get_meeting", "PATCH": "update_meeting", "PUT": "replace_meeting"},
    "participants": {"GET": "list_participants", "POST": "add_participant"},
    "participant": {"GET": "get_participant", "PATCH": "edit_participant", "DELETE": "delete_participant"},
    "token": {"POST": "refresh_token"},
}
_PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} {phrase}</h1>"
    "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


class RequestRecord(NamedTuple):
    """One request as the emulator saw it (never its headers, so never the token)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON body, or None (no body or not JSON)
    status: int  # 0 = connection reset without an answer
    timestamp: float  # time.time() at arrival
    endpoint: str | None  # e.g. "list_meetings"; None for unroutable requests
    fault: str | None  # the injected fault kind, if any


class _Response(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    action: str | None = None  # "reset": close with RST, no answer; "cut": send half the body, then close


class _Route(NamedTuple):
    endpoint: str | None  # None: the resource exists but not with this method
    account: str
    app: str
    meeting: str | None
    participant: str | None
    allow: str


class _NotFound(Exception):
    pass


def _rtk_error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    """RealtimeKit's error envelope."""
    return _Response(
        status, dumps({"success": False, "error": {"code": status, "message": message}}), headers=headers
    )


def _cf_error(status: int, code: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    """Cloudflare's v4 error envelope (auth failures, rate limiting, unroutable paths)."""
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return _Response(status, dumps(body), headers=headers)


def _ok(data: Any, status: int = 200) -> _Response:
    return _Response(status, dumps({"success": True, "data": data}))


def _page(data: bytes, offset: int, count: int, total: int) -> _Response:
    """A list envelope around a pre-serialized JSON array; offsets are 1-based and inclusive."""
    paging = b'{"end_offset":%d,"start_offset":%d,"total_count":%d}' % (offset + count, offset + 1, total)
    return _Response(200, b'{"data":' + data + b',"paging":' + paging + b',"success":true}')


def parse_route(method: str, path: str) -> _Route | None:
    if not path.startswith(API_ROOT + "/"):
        return None
    parts = [unquote(p) for p in path[len(API_ROOT) + 1 :].split("/")]
    if parts[-1] == "":
        parts.pop()
    if len(parts) < 6 or not all(parts) or parts[0] != "accounts" or parts[2:4] != ["realtime", "kit"]:
        return None
    if parts[5] != "meetings":
        return None
    rest = parts[6:]
    if len(rest) > 1 and rest[1] != "participants":
        return None
    resource = {0: "meetings", 1: "meeting", 2: "participants", 3: "participant"}.get(len(rest))
    if len(rest) == 4 and rest[3] == "token":
        resource = "token"
    if resource is None:
        return None
    methods = _RESOURCES[resource]
    return _Route(
        methods.get(method),
        parts[1],
        parts[4],
        rest[0] if rest else None,
        rest[2] if len(rest) > 2 else None,
        ", ".join(methods),
    )


def _bearer_ok(header: str | None, token: str) -> bool:
    scheme, _, value = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"the emulator only listens on IPv4 loopback (127.0.0.0/8 or localhost), not {host!r}"
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "rtk-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator keeps its own request log."""

    def do_GET(self) -> None:
        self.server.emulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.emulator._serve(self, "POST")

    def do_PATCH(self) -> None:
        self.server.emulator._serve(self, "PATCH")

    def do_PUT(self) -> None:
        self.server.emulator._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.emulator._serve(self, "DELETE")

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, resp: _Response) -> None:
        if resp.action == "reset":
            self.close_connection = True
            self.server.mark_reset(self.connection)
            return
        body = resp.body
        head = [
            f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(body)}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: rtk-emulator",
        ]
        head.extend(f"{name}: {value}" for name, value in resp.headers)
        if resp.action == "cut":  # promise the whole body, deliver half, hang up
            body = body[: len(body) // 2]
            self.close_connection = True
        elif self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._conns: set[socket.socket] = set()
        self._resets: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse DNS lookup of the address: loopback needs none."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (or a stop() that closes its socket) is normal, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def mark_reset(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._conns_lock:
            self._resets.add(sock)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(request)
            reset = request in self._resets
            self._resets.discard(request)
        if reset:
            self.close_request(request)  # no FIN first: with SO_LINGER 0 the close sends RST
        else:
            super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Emulator:
    """A RealtimeKit API on 127.0.0.1, with seeded data, ground truth and fault injection.

    `with Emulator(cfg, faults) as emu:` serves on a free port (or `port=`) until the block ends.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        faults: Faults | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        _check_loopback(host)
        self.config = config or EmulatorConfig()
        self.clock = Clock(not_before_ms=to_ms(self.config.end))
        self._lock = threading.Lock()
        self._store = Store(self.config, self.clock)
        self._engine = FaultEngine(faults or Faults())
        self._log: deque[RequestRecord] = deque(maxlen=self.config.request_log_limit)
        self._stats: Counter[tuple[str, Any]] = Counter()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._server else "stopped"
        return f"<Emulator {where} meetings={len(self._store)} seed={self.config.seed}>"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        if self._server is None:
            try:
                self._server = _Server((self._host, self._port), self)
            except OSError as e:
                raise OSError(e.errno, f"cannot listen on {self._host}:{self._port}: {e.strerror}") from e
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"rtk-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
            self._thread.join()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The API root, like https://api.cloudflare.com/client/v4."""
        return f"http://{self._host}:{self.port}{API_ROOT}"

    @property
    def token(self) -> str:
        return self.config.token

    @property
    def account_id(self) -> str:
        return self.config.account_id

    @property
    def app_id(self) -> str:
        return self.config.app_id

    def env(self) -> dict[str, str]:
        """The settings that point rtk-pipeline at this emulator."""
        return {
            "CLOUDFLARE_API_TOKEN": self.token,
            "CLOUDFLARE_ACCOUNT_ID": self.account_id,
            "RTK_APP_ID": self.app_id,
            "RTK_BASE_URL": self.base_url,
        }

    # ---------------------------------------------------------------- ground truth

    def meetings(
        self,
        *,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        status: str | None = None,
        search: str | None = None,
        secrets: bool = False,
    ) -> list[dict]:
        """Every meeting the list endpoint would return for these filters, in its order, as it returns them
        (credentials removed unless `secrets=True`)."""
        start = None if start_time is None else v.bound_ms(_as_datetime(start_time), upper=False)
        end = None if end_time is None else v.bound_ms(_as_datetime(end_time), upper=True)
        with self._lock:
            rows = self._store.query(
                start_ms=start, end_ms=end, status=status, search=search, order=self.config.order
            )
            out = [json.loads(self._store.list_row(slot)) for slot in rows]
        return out if secrets else scrub(out)

    def meeting(self, meeting_id: str, *, secrets: bool = False) -> dict:
        """The meeting as GET returns it; KeyError if unknown."""
        with self._lock:
            doc = json.loads(dumps(self._store.doc(self._slot(meeting_id))))
        return doc if secrets else scrub(doc)

    def participants(self, meeting_id: str, *, secrets: bool = False) -> list[dict]:
        """All participants of a meeting as the participants list returns them (with tokens if `secrets`)."""
        with self._lock:
            rows = self._store.participants(self._slot(meeting_id))
            return [participant_record(p, token=secrets) for p in rows]

    def _slot(self, meeting_id: str) -> int:
        slot = self._store.slot_of(meeting_id)
        if slot is None:
            raise KeyError(f"no meeting {meeting_id!r}")
        return slot

    # ---------------------------------------------------------------- test helpers

    def add_meeting(
        self,
        *,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        list_all_fields: bool = False,
        **fields: Any,
    ) -> dict:
        """Create a meeting directly (no request, no validation); returns it as GET would. `list_all_fields`
        makes the list endpoint show every field of it, like the generated meetings with newer fields."""
        with self._lock:
            slot = self._store.create_meeting(
                fields,
                created_ms=None if created_at is None else to_ms(created_at),
                updated_ms=None if updated_at is None else to_ms(updated_at),
                list_all_fields=list_all_fields,
            )
            return json.loads(dumps(self._store.doc(slot)))

    def update_meeting(
        self, meeting_id: str, *, updated_at: datetime | str | None = None, **fields: Any
    ) -> dict:
        """PATCH a meeting directly; `updated_at` sets the update time (e.g. long ago, for stale meetings)."""
        with self._lock:
            slot = self._slot(meeting_id)
            updated = None if updated_at is None else to_ms(updated_at)
            return json.loads(
                dumps(self._store.write_meeting(slot, fields, replace=False, updated_ms=updated))
            )

    def add_participant(
        self, meeting_id: str, *, created_at: datetime | str | None = None, **fields: Any
    ) -> dict:
        """Add a participant directly; returns it with its token, as the add endpoint does."""
        fields.setdefault("custom_participant_id", f"helper-{uuid.uuid4()}")
        fields.setdefault("preset_name", "group_call_participant")
        with self._lock:
            slot = self._slot(meeting_id)
            created = None if created_at is None else to_ms(created_at)
            return participant_record(
                self._store.add_participant(slot, fields, created_ms=created), token=True
            )

    def delete_participant(self, meeting_id: str, participant_id: str) -> bool:
        with self._lock:
            return self._store.delete_participant(self._slot(meeting_id), participant_id) is not None

    # ---------------------------------------------------------------- faults, log, stats

    @property
    def faults(self) -> Faults:
        return self._engine.faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change fault knobs at runtime (fields of Faults); returns the new Faults."""
        with self._lock:
            return self._engine.set(**changes)

    def fail_next(
        self,
        n: int = 1,
        status: int | None = None,
        *,
        kind: str | None = None,
        paths: str | tuple[str, ...] | None = None,
    ) -> None:
        """Make the next `n` requests (to `paths`, default any) fail: with `status` (429 carries Retry-After,
        401/403 the Cloudflare shape, others the RealtimeKit shape) or a `kind` of fault ("reset",
        "truncated", "non_json", "success_false", "429", "5xx")."""
        if kind is None:
            if status is None:
                raise ValueError("fail_next needs a status or a kind")
            kind = "429" if status == 429 else "5xx" if status >= 500 else "status"
        with self._lock:
            self._engine.fail_next(n, kind, status or 0, paths)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since start: requests, lockouts, by_status, faults (by kind), drift (by kind)."""
        with self._lock:
            grouped: dict[str, dict] = {"by_status": {}, "faults": {}, "drift": {}}
            for (group, key), count in self._stats.items():
                grouped[group][key] = count
            return {
                "requests": sum(grouped["by_status"].values()),
                "lockouts": self._engine.lockouts,
                **grouped,
            }

    # ---------------------------------------------------------------- request handling

    def _serve(self, handler: _Handler, method: str) -> None:
        arrived = time.time()
        path, _, qs = handler.path.partition("?")
        query = {k: vals[-1] for k, vals in parse_qs(qs, keep_blank_values=True).items()}
        try:
            raw = handler.read_body()
        except ValueError:
            handler.close_connection = True
            handler.send(_rtk_error(400, "malformed Content-Length or chunked body"))
            return
        try:
            body, bad_json = (json.loads(raw) if raw.strip() else None), False
        except ValueError:
            body, bad_json = None, True
        route = parse_route(method, path)
        endpoint = route.endpoint if route else None
        latency = self._engine.faults.latency_s
        if latency:
            time.sleep(latency)
        with self._lock:
            decision = self._engine.decide(endpoint)
            try:
                if decision is not None and decision.kind in (*PRE_KINDS, "lockout"):
                    resp = self._fault_response(decision)
                else:
                    auth = handler.headers.get("Authorization")
                    resp = self._handle(method, path, route, query, body, bad_json, auth)
                    if decision is not None:  # "truncated": the request was handled, its answer is damaged
                        resp = self._truncate(resp)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                resp = _rtk_error(500, "emulator bug: see its stderr")
            fault = decision.kind if decision else None
            self._stats["by_status", resp.status] += 1
            if fault:
                self._stats["faults", fault] += 1
            self._log.append(RequestRecord(method, path, query, body, resp.status, arrived, endpoint, fault))
        handler.send(resp)

    def _fault_response(self, d: Decision) -> _Response:
        headers = (("Retry-After", d.retry_after),) if d.retry_after else ()
        if d.status == 429:
            return _cf_error(429, 971, "Please wait and consider throttling your request speed", headers)
        if d.kind == "reset":
            return _Response(0, b"", action="reset")
        if d.kind == "non_json":
            phrase = HTTPStatus(d.status).phrase if d.status != 200 else "Bad Gateway"
            page = _PROXY_PAGE.format(status=d.status if d.status != 200 else 502, phrase=phrase)
            return _Response(d.status, page.encode(), content_type="text/html; charset=UTF-8")
        if d.kind == "success_false":
            return _Response(
                200, dumps({"success": False, "error": {"code": 500, "message": "Internal error"}})
            )
        if d.status in (401, 403):
            return _cf_error(d.status, 10000, "Authentication error")
        return _rtk_error(d.status, HTTPStatus(d.status).phrase)

    def _truncate(self, resp: _Response) -> _Response:
        if self._engine.faults.truncate_style == "transport":
            return resp._replace(action="cut")
        return resp._replace(body=resp.body[: max(1, len(resp.body) // 2)])

    def _handle(
        self,
        method: str,
        path: str,
        route: _Route | None,
        query: dict[str, str],
        body: Any,
        bad_json: bool,
        auth: str | None,
    ) -> _Response:
        cfg = self.config
        if not path.startswith(API_ROOT + "/"):
            return _cf_error(404, 7000, "No route for that URI")
        if not _bearer_ok(auth, cfg.token):
            return _cf_error(401, 10000, "Authentication error")
        if route is None:
            return _cf_error(
                404, 7003, "Could not route to the path, perhaps your object identifier is invalid?"
            )
        if route.account != cfg.account_id:
            return _cf_error(403, 10000, "Authentication error")
        if route.app != cfg.app_id:
            return _rtk_error(404, "App not found")
        if route.endpoint is None:
            return _rtk_error(405, f"Method {method} not allowed", headers=(("Allow", route.allow),))
        if bad_json:
            return _rtk_error(400, "request body is not valid JSON")
        try:
            return getattr(self, "_" + route.endpoint)(route, query, body)
        except v.Invalid as e:
            return _rtk_error(400, str(e))
        except _NotFound as e:
            return _rtk_error(404, str(e))

    def _meeting_slot(self, route: _Route) -> int:
        slot = self._store.slot_of(route.meeting)
        if slot is None:
            raise _NotFound("Meeting not found")
        return slot

    def _participant(self, route: _Route) -> tuple[int, list]:
        slot = self._meeting_slot(route)
        rec = self._store.find_participant(slot, route.participant)
        if rec is None:
            raise _NotFound("Participant not found")
        return slot, rec

    def _paging(self, query: dict[str, str]) -> tuple[int, int]:
        """(offset, per_page) from page_no/per_page; per_page above the cap is served as the cap."""
        cfg = self.config
        page_no = v.int_param(query, "page_no", cfg.page_base, cfg.page_base)
        per_page = min(v.int_param(query, "per_page", cfg.default_per_page, 1), cfg.max_per_page)
        return (page_no - cfg.page_base) * per_page, per_page

    def _list_meetings(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        offset, per_page = self._paging(query)
        start = v.time_param(query, "start_time", upper=False)
        end = v.time_param(query, "end_time", upper=True)
        status = v.enum_param(query, "status", v.STATUS)
        search = query.get("search") or None
        store = self._store
        rows = store.query(start_ms=start, end_ms=end, status=status, search=search, order=self.config.order)
        page = rows.page(offset, per_page)
        resp = _page(store.list_rows(page), offset, len(page), len(rows))
        self._drift_meetings(rows, offset + len(page), start, end, status, search)
        return resp

    def _drift_meetings(self, rows, served: int, start: int | None, end: int | None, status, search) -> None:
        """Between this page and the next: maybe update a meeting not yet served, maybe insert one on top."""
        engine, store, faults = self._engine, self._store, self._engine.faults
        if engine.drift(faults.drift_update) and served < len(rows):
            slot = rows.page(served + engine.pick(len(rows) - served), 1)[0]
            store.write_meeting(slot, {}, replace=False)
            self._stats["drift", "update"] += 1
        if engine.drift(faults.drift_insert):
            now = self.clock.now_ms()
            created = end if end is not None and end < now else now
            if start is not None:
                created = max(created, start)
            title = f"drift insert {search}" if search else "drift insert"
            store.create_meeting(
                {"title": title, "status": status or "ACTIVE"}, created_ms=created, updated_ms=now
            )
            self._stats["drift", "insert"] += 1

    def _create_meeting(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        fields = v.body_object({} if body is None else body, v.CREATE_MEETING)
        return _ok(self._store.doc(self._store.create_meeting(fields)), status=201)

    def _get_meeting(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        return _ok(self._store.doc(self._meeting_slot(route)))

    def _update_meeting(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        fields = v.body_object({} if body is None else body, v.UPDATE_MEETING)
        return _ok(self._store.write_meeting(self._meeting_slot(route), fields, replace=False))

    def _replace_meeting(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        fields = v.body_object({} if body is None else body, v.REPLACE_MEETING)
        return _ok(self._store.write_meeting(self._meeting_slot(route), fields, replace=True))

    def _list_participants(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        slot = self._meeting_slot(route)
        offset, per_page = self._paging(query)
        rows = self._store.participants(slot)
        page = rows[offset : offset + per_page]
        resp = _page(dumps([participant_record(p) for p in page]), offset, len(page), len(rows))
        if rows and self._engine.drift(self._engine.faults.drift_delete):
            # Deleting a row already served shifts an unseen one onto a page the client has passed.
            served = min(offset + len(page), len(rows)) or len(rows)
            self._store.delete_participant(slot, rows[self._engine.pick(served)][0])
            self._stats["drift", "delete"] += 1
        return resp

    def _add_participant(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        slot = self._meeting_slot(route)
        fields = v.body_object({} if body is None else body, v.ADD_PARTICIPANT)
        cpid = fields["custom_participant_id"]
        if any(p[1] == cpid for p in self._store.participants(slot)):
            return _rtk_error(
                409, "A participant with this custom_participant_id already exists in the meeting"
            )
        return _ok(participant_record(self._store.add_participant(slot, fields), token=True), status=201)

    def _get_participant(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        return _ok(participant_record(self._participant(route)[1]))

    def _edit_participant(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        slot, rec = self._participant(route)
        fields = v.body_object({} if body is None else body, v.EDIT_PARTICIPANT)
        return _ok(participant_record(self._store.edit_participant(slot, rec[0], fields), token=True))

    def _delete_participant(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        slot, rec = self._participant(route)
        self._store.delete_participant(slot, rec[0])
        data = participant_record(rec)
        return _ok(
            {
                "created_at": data["created_at"],
                "custom_participant_id": data["custom_participant_id"],
                "preset_id": str(
                    uuid.uuid5(uuid.NAMESPACE_URL, f"rtk-emulator:preset:{data['preset_name']}")
                ),
                "updated_at": data["updated_at"],
            }
        )

    def _refresh_token(self, route: _Route, query: dict[str, str], body: Any) -> _Response:
        slot, rec = self._participant(route)
        return _ok({"token": self._store.refresh_token(slot, rec[0])[7]})


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def serve(
    cfg: EmulatorConfig | None = None,
    faults: Faults | None = None,
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    out: TextIO | None = None,
) -> None:
    """Serve the emulator until Ctrl-C (or SIGTERM), after printing how to point a client at it."""
    out = out or sys.stdout
    emu = Emulator(cfg, faults, host=host, port=port)
    cfg = emu.config
    with emu:
        lines = [
            f"RealtimeKit emulator: {cfg.meetings} meetings over {cfg.days} days"
            f" up to {cfg.end:%Y-%m-%dT%H:%MZ} (seed {cfg.seed}, order {cfg.order},"
            f" page_no base {cfg.page_base}, max per_page {cfg.max_per_page})",
            f"  base URL    {emu.base_url}",
            f"  API token   {emu.token}",
            f"  account id  {emu.account_id}",
            f"  app id      {emu.app_id}",
            "  for rtk-pipeline:",
            *(f"    export {name}={value}" for name, value in emu.env().items()),
            "Ctrl-C to stop.",
        ]
        print("\n".join(lines), file=out, flush=True)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("emulator stopped", file=out, flush=True)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
