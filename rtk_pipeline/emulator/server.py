"""The emulator: a RealtimeKit Meetings API on loopback with seeded data, ground truth and fault injection.

One lock guards all state (data, fault engine, request log, stats); a request holds it while it is decided
and handled, and releases it for latency sleeps and socket writes.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from datetime import datetime
from typing import Any, NamedTuple, TextIO
from urllib.parse import parse_qs

from rtk_pipeline.emulator import validation as v
from rtk_pipeline.emulator.api import Api
from rtk_pipeline.emulator.clock import Clock, to_ms
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.data import EmulatorData
from rtk_pipeline.emulator.faults import PRE_KINDS, FaultEngine, Faults
from rtk_pipeline.emulator.httpd import Handler, Server, check_loopback
from rtk_pipeline.emulator.records import dumps, participant_record, scrub
from rtk_pipeline.emulator.wire import API_ROOT, fault_response, parse_route, rtk_error, truncate


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
        check_loopback(host)
        self.config = config or EmulatorConfig()
        self.clock = Clock(not_before_ms=to_ms(self.config.resolved_end))
        self._lock = threading.Lock()
        self._data = EmulatorData(self.config, self.clock)
        self._engine = FaultEngine(faults or Faults())
        self._log: deque[RequestRecord] = deque(maxlen=self.config.request_log_limit)
        self._stats: Counter[tuple[str, Any]] = Counter()
        self._api = Api(self.config, self._data, self._engine, self._stats)
        self._host, self._port = host, port
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._server else "stopped"
        return f"<Emulator {where} meetings={len(self._data)} seed={self.config.seed}>"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Emulator:
        if self._server is None:
            try:
                self._server = Server((self._host, self._port), self._serve)
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
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if thread is not None:
            thread.join()

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
        """The settings that point rtk-pipeline at this emulator. Spelled out here, as a user's shell would
        spell them: the emulator shares no code with the pipeline (ARCHITECTURE.md), and the tests that
        configure the pipeline through this dict catch any drift."""
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
        cfg = self.config
        start = (
            None
            if start_time is None
            else v.bound_ms(_as_datetime(start_time), upper=False, inclusive=cfg.start_inclusive)
        )
        end = (
            None
            if end_time is None
            else v.bound_ms(_as_datetime(end_time), upper=True, inclusive=cfg.end_inclusive)
        )
        status = status if cfg.status_filter else None
        with self._lock:
            rows = self._data.query(
                start_ms=start,
                end_ms=end,
                status=status,
                search=search,
                order=cfg.order,
                field=cfg.window_field,
            )
            out = [json.loads(self._data.list_row(slot)) for slot in rows]
        return out if secrets else scrub(out)

    def meeting(self, meeting_id: str, *, secrets: bool = False) -> dict:
        """The meeting as GET returns it; KeyError if unknown."""
        with self._lock:
            doc = json.loads(dumps(self._data.doc(self._slot(meeting_id))))
        return doc if secrets else scrub(doc)

    def participants(self, meeting_id: str, *, secrets: bool = False) -> list[dict]:
        """All participants of a meeting as the participants list returns them (with tokens if `secrets`)."""
        with self._lock:
            rows = self._data.participants(self._slot(meeting_id))
            return [participant_record(p, token=secrets) for p in rows]

    def rooms(self) -> list[str]:
        """The ids of the generated meetings that are reusable rooms (participants keep arriving), oldest
        first."""
        with self._lock:
            data = self._data
            return [data.meeting_id(s) for s in range(data.n_generated) if data.is_room(s)]

    def _slot(self, meeting_id: str) -> int:
        slot = self._data.slot_of(meeting_id)
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
            slot = self._data.create_meeting(
                fields,
                created_ms=None if created_at is None else to_ms(created_at),
                updated_ms=None if updated_at is None else to_ms(updated_at),
                list_all_fields=list_all_fields,
            )
            return json.loads(dumps(self._data.doc(slot)))

    def update_meeting(
        self, meeting_id: str, *, updated_at: datetime | str | None = None, **fields: Any
    ) -> dict:
        """PATCH a meeting directly; `updated_at` sets the update time (e.g. long ago, for stale meetings)."""
        with self._lock:
            slot = self._slot(meeting_id)
            updated = None if updated_at is None else to_ms(updated_at)
            return json.loads(
                dumps(self._data.write_meeting(slot, fields, replace=False, updated_ms=updated))
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
                self._data.add_participant(slot, fields, created_ms=created), token=True
            )

    def delete_participant(self, meeting_id: str, participant_id: str) -> bool:
        with self._lock:
            return self._data.delete_participant(self._slot(meeting_id), participant_id) is not None

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

    def _serve(self, handler: Handler, method: str) -> None:
        arrived = time.time()
        path, _, qs = handler.path.partition("?")
        query = {k: vals[-1] for k, vals in parse_qs(qs, keep_blank_values=True).items()}
        try:
            raw = handler.read_body()
        except ValueError:
            handler.close_connection = True
            handler.send(rtk_error(400, "malformed Content-Length or chunked body"))
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
                    resp = fault_response(decision)
                else:
                    auth = handler.headers.get("Authorization")
                    resp = self._api.handle(method, path, route, query, body, bad_json, auth)
                    if decision is not None:  # "truncated": the request was handled, its answer is damaged
                        resp = truncate(resp, self._engine.faults.truncate_style)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                resp = rtk_error(500, "emulator bug: see its stderr")
            fault = decision.kind if decision else None
            self._stats["by_status", resp.status] += 1
            if fault:
                self._stats["faults", fault] += 1
            self._log.append(RequestRecord(method, path, query, body, resp.status, arrived, endpoint, fault))
        handler.send(resp)


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
            f"  window on {cfg.window_field}, start {'<=' if cfg.start_inclusive else '<'} t"
            f" {'<=' if cfg.end_inclusive else '<'} end, default per_page {cfg.default_per_page},"
            f" status filter {'on' if cfg.status_filter else 'off'}, rooms {cfg.rooms:.0%} of meetings",
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
