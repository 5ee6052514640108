"""Fault knobs of the emulator and the engine that decides, request by request, which fault to inject.

Decisions come from one seeded RNG (`Faults.seed`) drawn once per request (plus once per drift kind on
list pages), so a single client making requests in sequence sees the same faults on every run. A
`fail_next()` queue forces exact faults for tests. Rate-limit enforcement works like Cloudflare's: once
more than `max_requests` arrive within `period_s`, every request is answered 429 for `lockout_s`.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, fields, replace
from email.utils import formatdate

# Endpoint name -> (resource family, reads only?); fault_paths select among them by name or group.
_ENDPOINT_KINDS = {
    "list_meetings": ("meetings", True),
    "create_meeting": ("meetings", False),
    "get_meeting": ("meetings", True),
    "update_meeting": ("meetings", False),
    "replace_meeting": ("meetings", False),
    "list_participants": ("participants", True),
    "add_participant": ("participants", False),
    "get_participant": ("participants", True),
    "edit_participant": ("participants", False),
    "delete_participant": ("participants", False),
    "refresh_token": ("participants", False),
}
ENDPOINTS = tuple(_ENDPOINT_KINDS)
GROUPS = {
    "all": ENDPOINTS,
    "list": ("list_meetings", "list_participants"),
    "read": tuple(e for e, (_, read) in _ENDPOINT_KINDS.items() if read),
    "write": tuple(e for e, (_, read) in _ENDPOINT_KINDS.items() if not read),
    "meetings": tuple(e for e, (family, _) in _ENDPOINT_KINDS.items() if family == "meetings"),
    "participants": tuple(e for e, (family, _) in _ENDPOINT_KINDS.items() if family == "participants"),
}
# Faults answered instead of handling the request (state untouched; "status" = any forced status) ...
PRE_KINDS = ("429", "5xx", "reset", "non_json", "success_false", "status")
# ... and faults that damage the answer of a request that was handled (state may have changed).
POST_KINDS = ("truncated",)
KINDS = PRE_KINDS + POST_KINDS


def endpoints_of(spec: str | tuple[str, ...] | list[str] | frozenset[str] | None) -> frozenset[str] | None:
    """'list', 'list_meetings,get_meeting', ('write', 'get_meeting') ... -> endpoint names (None = all)."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: set[str] = set()
    for item in (i.strip() for i in items):
        if item in GROUPS:
            out.update(GROUPS[item])
        elif item in ENDPOINTS:
            out.add(item)
        elif item:
            raise ValueError(f"unknown endpoint or group {item!r}; use {sorted(GROUPS)} or {list(ENDPOINTS)}")
    return frozenset(out)


@dataclass(frozen=True)
class Faults:
    """Probabilities are per request and mutually exclusive (their sum must not exceed 1)."""

    p429: float = 0.0
    retry_after: str | int | float | None = (
        "1"  # Retry-After: seconds as given, "date" = HTTP-date, None = absent
    )
    retry_after_s: float = 1.0  # how far ahead the HTTP-date points
    p5xx: float = 0.0
    statuses_5xx: tuple[int, ...] = (500, 502, 503, 504)
    latency_s: float = 0.0  # added to every request
    p_truncated: float = 0.0  # the real answer, cut mid-body
    truncate_style: str = "json"  # "json": complete HTTP message, invalid JSON; "transport": connection dies
    p_non_json: float = 0.0  # an HTML error page from a proxy
    non_json_statuses: tuple[int, ...] = (502, 200)
    p_success_false: float = 0.0  # HTTP 200 whose envelope says success: false
    p_reset: float = 0.0  # connection closed (RST) without an answer
    drift_insert: float = 0.0  # per meetings-list page: a new meeting lands at the top of the paged window
    drift_delete: float = 0.0  # per participants-list page: a participant already paged past is deleted
    drift_update: float = (
        0.0  # per meetings-list page: a meeting not yet paged is updated (moves up in updated order)
    )
    rate_limit: tuple[int, float] | None = None  # (max_requests, period_s)
    lockout_s: float = 300.0
    fault_paths: str | tuple[str, ...] | None = None  # endpoints the random faults hit (None = all requests)
    seed: int = 0

    def __post_init__(self) -> None:
        probs = {f.name: getattr(self, f.name) for f in fields(self) if f.name.startswith(("p", "drift_"))}
        bad = [name for name, p in probs.items() if not 0.0 <= float(p) <= 1.0]
        if bad:
            raise ValueError(f"Faults: probabilities must be within [0, 1]: {', '.join(bad)}")
        if (
            self.p429 + self.p5xx + self.p_truncated + self.p_non_json + self.p_success_false + self.p_reset
            > 1
        ):
            raise ValueError("Faults: p429 + p5xx + p_truncated + p_non_json + p_success_false + p_reset > 1")
        if self.truncate_style not in ("json", "transport"):
            raise ValueError("Faults: truncate_style must be 'json' or 'transport'")
        if self.rate_limit is not None:
            max_requests, period = self.rate_limit
            if int(max_requests) < 1 or float(period) <= 0:
                raise ValueError("Faults: rate_limit must be (max_requests >= 1, period_s > 0)")
        if self.latency_s < 0 or self.lockout_s < 0 or self.retry_after_s < 0:
            raise ValueError("Faults: latency_s, lockout_s and retry_after_s must be >= 0")
        if not self.statuses_5xx or not self.non_json_statuses:
            raise ValueError("Faults: statuses_5xx and non_json_statuses must not be empty")
        endpoints_of(self.fault_paths)


@dataclass(frozen=True)
class Decision:
    """A fault to inject into one request."""

    kind: str  # one of KINDS, or "lockout"
    status: int = 0
    retry_after: str | None = None


def retry_after_header(style: str | int | float | None, seconds: float) -> str | None:
    if style is None:
        return None
    if style == "date":
        return formatdate(math.ceil(time.time() + seconds), usegmt=True)
    return str(style)


class FaultEngine:
    """Decides faults; the emulator calls it under its lock."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._paths = endpoints_of(faults.fault_paths)
        self._rng = random.Random(faults.seed)
        self._forced: deque[tuple[Decision, frozenset[str] | None]] = deque()
        self._window: deque[float] = deque()
        self._locked_until = 0.0
        self.lockouts = 0

    def set(self, **changes) -> Faults:
        new = replace(self.faults, **changes)
        self._paths = endpoints_of(new.fault_paths)
        if new.seed != self.faults.seed:
            self._rng = random.Random(new.seed)
        if new.rate_limit != self.faults.rate_limit:
            self._window.clear()
        self.faults = new
        return new

    def fail_next(self, n: int, kind: str, status: int, paths) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        decision = Decision(kind, status, None)
        self._forced.extend([(decision, endpoints_of(paths))] * n)

    def _rate_limited(self, now: float) -> float | None:
        """Seconds of lockout left if this request is refused by the rate limit."""
        if now < self._locked_until:
            return self._locked_until - now
        if self.faults.rate_limit is None:
            return None
        max_requests, period = self.faults.rate_limit
        window = self._window
        window.append(now)
        while window and window[0] <= now - period:
            window.popleft()
        if len(window) > max_requests:
            window.clear()
            self.lockouts += 1
            self._locked_until = now + self.faults.lockout_s
            return self.faults.lockout_s
        return None

    def decide(self, endpoint: str | None) -> Decision | None:
        f = self.faults
        locked = self._rate_limited(time.monotonic())
        if locked is not None:
            # During a lockout Retry-After tells the time left, in the configured style.
            style = f.retry_after if f.retry_after in (None, "date") else math.ceil(locked)
            return Decision("lockout", 429, retry_after_header(style, locked))
        for i, (decision, paths) in enumerate(self._forced):
            if paths is None or endpoint in paths:
                del self._forced[i]
                return self._complete(decision)
        if self._paths is not None and endpoint not in self._paths:
            return None
        u = self._rng.random()
        for kind, p in (
            ("429", f.p429),
            ("5xx", f.p5xx),
            ("reset", f.p_reset),
            ("non_json", f.p_non_json),
            ("success_false", f.p_success_false),
            ("truncated", f.p_truncated),
        ):
            if u < p:
                return self._complete(Decision(kind))
            u -= p
        return None

    def _complete(self, d: Decision) -> Decision:
        """Fill in the status and Retry-After a decision left open."""
        f = self.faults
        status = d.status
        if not status:
            if d.kind == "5xx":
                status = self._rng.choice(f.statuses_5xx)
            elif d.kind == "non_json":
                status = self._rng.choice(f.non_json_statuses)
            elif d.kind == "429":
                status = 429
            else:
                status = 200
        retry_after = retry_after_header(f.retry_after, f.retry_after_s) if status == 429 else None
        return Decision(d.kind, status, retry_after)

    def drift(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def pick(self, n: int) -> int:
        return self._rng.randrange(n)
