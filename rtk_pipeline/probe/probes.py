"""The probes of `rtk-pipeline check`: settings, auth, read and write permission, then the list semantics
the API reference leaves out, in at most MAX_REQUESTS requests through the public client.

Each probe reads what earlier ones saw (the first page, a large sample page) and asks one or two pointed
questions: a 2-second window around a meeting's created_at and one around its updated_at (on a meeting whose
two days differ) tell which field the window filters on; a window that starts, or ends, exactly at a
meeting's timestamp tells whether that bound is inclusive. The write probe PATCHes a meeting id that cannot
exist (no UUID v4 is all zeros): 404 means the token may write, 403 that it may not; nothing changes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError, AuthError, BadRequestError, NotFoundError, RTKError
from rtk_pipeline.probe.findings import ORDERS, Findings
from rtk_pipeline.utc import as_utc

log = logging.getLogger("rtk_pipeline.probe")

MAX_REQUESTS = 15
NIL_MEETING_ID = "00000000-0000-0000-0000-000000000000"
SAMPLE_PER_PAGE = 1000  # above any plausible cap, so the answer shows the cap
_NEAR = timedelta(seconds=1)


def _when(record: dict, key: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(record[key]))
    except (KeyError, ValueError):
        return None
    return as_utc(value)


def _ids(envelope: dict) -> list[str]:
    return [str(r.get("id")) for r in envelope.get("data") or [] if isinstance(r, dict)]


class _Prober:
    """One check run: the client, the budget, and the findings filled in as probes answer."""

    def __init__(self, client: RealtimeKitClient) -> None:
        self.client = client
        self.found = Findings()
        self.total = 0  # paging.total_count of the unfiltered list
        self._start = client.stats.snapshot().requests

    def used(self) -> int:
        return self.client.stats.snapshot().requests - self._start

    def list_meetings(self, **params: Any) -> dict:
        if self.used() >= MAX_REQUESTS:
            raise _OverBudget
        return self.client.list_meetings(**params)

    def note(self, key: str, text: str) -> None:
        self.found.notes[key] = text

    # ------------------------------------------------------------------ access

    def access(self) -> dict | None:
        """auth + read from the first page (default paging); None if listing is not possible."""
        f = self.found
        try:
            first = self.list_meetings()
        except AuthError as e:
            f.auth = e.status != 401
            f.read = False if f.auth else None
            self.note("auth" if not f.auth else "read", _why(e))
            return None
        except NotFoundError as e:
            f.auth, f.read = True, False
            self.note("read", f"the app cannot be reached: {_why(e)}")
            return None
        except RTKError as e:
            self.note("auth", f"the API cannot be reached: {_why(e)}")
            return None
        f.auth = f.read = True
        return first

    def write(self) -> None:
        f = self.found
        try:
            self.client.update_meeting(NIL_MEETING_ID, {"status": "INACTIVE"})
        except NotFoundError:
            f.write = True
            self.note("write", "PATCH of an id that cannot exist answered 404: permitted, nothing changed")
        except AuthError as e:
            f.write = False
            self.note("write", f"PATCH refused: {_why(e)}")
        except RTKError as e:
            self.note("write", f"PATCH answered neither 404 nor 403: {_why(e)}")
        else:
            self.note("write", f"PATCH of meeting {NIL_MEETING_ID} succeeded: the API is not what we model")

    # ------------------------------------------------------------------ paging

    def paging(self, first: dict) -> list[dict]:
        """page_base, default_per_page, max_per_page; returns the largest sample page seen."""
        f = self.found
        rows, reported = first.get("data") or [], (first.get("paging") or {}).get("total_count")
        self.total = total = reported if isinstance(reported, int) else 0
        if not total:
            for key in ("page_base", "max_per_page", "default_per_page"):
                self.note(key, "the app holds no meetings")
            return rows
        if len(rows) < total:
            f.default_per_page = len(rows)
        else:
            self.note("default_per_page", f"all {total} meetings fit on the default page")
        one = self.list_meetings(page_no=1, per_page=1)
        first_ids, got = _ids(first), _ids(one)
        start = (one.get("paging") or {}).get("start_offset")
        if got[:1] == first_ids[:1] or (not got and start == 1):
            f.page_base = 1
        elif got[:1] == first_ids[1:2] or (not got and total == 1) or start == 2:
            f.page_base = 0
        else:
            self.note("page_base", f"page_no=1 per_page=1 returned {got[:1]}, neither of the first two rows")
            return rows
        try:
            big = self.list_meetings(page_no=f.page_base, per_page=SAMPLE_PER_PAGE)
        except BadRequestError as e:
            self.note("max_per_page", f"per_page={SAMPLE_PER_PAGE} rejected: {_why(e)}")
            return rows
        sample = big.get("data") or []
        if len(sample) < min(total, SAMPLE_PER_PAGE):
            f.max_per_page = len(sample)
        elif total <= SAMPLE_PER_PAGE:
            self.note("max_per_page", f"all {total} meetings fit on one page of {SAMPLE_PER_PAGE}")
        else:
            self.note("max_per_page", f"at least {SAMPLE_PER_PAGE}: a page of that size came back full")
        return sample if len(sample) > len(rows) else rows

    # ------------------------------------------------------------------ order and filters

    def order(self, sample: list[dict]) -> None:
        f = self.found
        fits = []
        for name in ORDERS:
            by, _, direction = name.partition("_")
            times = [t for r in sample if (t := _when(r, f"{by}_at")) is not None]
            if len(times) < 2 or len(times) < len(sample):
                continue
            if all((a >= b) if direction == "desc" else (a <= b) for a, b in pairwise(times)):
                fits.append(name)
        if len(sample) < 2:
            self.note("order", "fewer than two meetings to compare")
        elif len(fits) == 1:
            f.order = fits[0]
        elif not fits:
            f.order = "unknown"
            self.note("order", f"{len(sample)} rows follow none of {', '.join(ORDERS)}")
        else:
            self.note("order", f"the sample fits {' and '.join(fits)} alike")

    def status_filter(self, sample: list[dict]) -> None:
        statuses = {r.get("status") for r in sample}
        if not statuses:
            self.note("status_filter", "the app holds no meetings")
            return
        want = "INACTIVE" if "ACTIVE" in statuses else "ACTIVE"  # one the sample shows the other of
        try:
            got = self.list_meetings(page_no=self.found.page_base, per_page=SAMPLE_PER_PAGE, status=want)
        except BadRequestError as e:
            self.found.status_filter = False
            self.note("status_filter", f"status={want} rejected: {_why(e)}")
            return
        others = {r.get("status") for r in got.get("data") or []} - {want}
        self.found.status_filter = not others
        if others:
            self.note("status_filter", f"status={want} still listed {', '.join(sorted(map(str, others)))}")

    def window(self, sample: list[dict]) -> None:
        """window_field, then start_inclusive/end_inclusive on a meeting's exact timestamp."""
        f = self.found
        candidates = _moved_days(sample)
        if not candidates and len(sample) < self.total and f.page_base is not None:
            # The sample holds none; the last page holds the other end of the order (newest or oldest).
            n = len(sample)
            last = self.list_meetings(page_no=f.page_base + (self.total - 1) // n, per_page=n)
            candidates = _moved_days(last.get("data") or [])
        if candidates:
            _, m = max(candidates, key=lambda pair: pair[0])
            times = {key: t for key in _FIELDS if (t := _when(m, key)) is not None}  # both: see _moved_days
            inside = {key: self._lists(m, t - _NEAR, t + _NEAR) for key, t in times.items()}
            if inside["created_at"] != inside["updated_at"]:
                f.window_field = "created_at" if inside["created_at"] else "updated_at"
            elif inside["created_at"]:
                self.note("window_field", "both windows listed the meeting: start_time/end_time are ignored")
                for key in ("start_inclusive", "end_inclusive"):
                    self.note(key, "the window is not applied")
                return
            else:
                self.note(
                    "window_field", f"neither a window on created_at nor on updated_at listed {m['id']}"
                )
        else:
            self.note("window_field", "no sampled meeting was updated on a later day than it was created")
        # A meeting created and updated at the same instant answers the bounds whatever the field is.
        same = [
            r for r in sample if _when(r, "created_at") and _when(r, "created_at") == _when(r, "updated_at")
        ]
        key = f.window_field or "created_at"
        pool = [
            (r, t) for r in same or (sample if f.window_field else []) if (t := _when(r, key)) is not None
        ]
        if not pool:
            for name in ("start_inclusive", "end_inclusive"):
                self.note(name, "needs the window field, or a meeting created and updated at one instant")
            return
        m, t = pool[0]
        f.start_inclusive = self._lists(m, t, t + _NEAR)
        f.end_inclusive = self._lists(m, t - _NEAR, t)

    def _lists(self, meeting: dict, start: datetime, end: datetime) -> bool:
        """Does a window [start, end] list `meeting`?"""
        envelope = self.list_meetings(
            page_no=self.found.page_base, per_page=SAMPLE_PER_PAGE, start_time=start, end_time=end
        )
        return str(meeting.get("id")) in _ids(envelope)


_FIELDS = ("created_at", "updated_at")


def _moved_days(rows: list[dict]) -> list[tuple[timedelta, dict]]:
    """(updated - created, meeting) for meetings updated on a later UTC day, well clear of a 2 s window."""
    return [
        (u - c, r)
        for r in rows
        if (c := _when(r, "created_at")) and (u := _when(r, "updated_at"))
        if c.date() != u.date() and u - c > 4 * _NEAR
    ]


class _OverBudget(Exception):
    """The next probe would exceed MAX_REQUESTS."""


def _why(error: Exception) -> str:
    if isinstance(error, APIError) and error.status is not None:
        return f"HTTP {error.status}" + (f" {error.api_message}" if error.api_message else "")
    return str(error)


def run_check(client: RealtimeKitClient) -> Findings:
    """Probe the account and app behind `client`: at most MAX_REQUESTS requests, and no change to any data.
    A probe that fails leaves its findings and the later ones None, with a note."""
    prober = _Prober(client)
    first = prober.access()
    if first is not None:
        try:
            prober.write()
            sample = prober.paging(first)
            prober.order(sample)
            prober.status_filter(sample)
            prober.window(sample)
        except _OverBudget:
            prober.note("requests", f"stopped at the budget of {MAX_REQUESTS} requests")
        except RTKError as e:
            log.warning("check: a probe failed: %s", e)
            prober.note("requests", f"a probe failed, so later findings are unknown: {_why(e)}")
    prober.found.requests = prober.used()
    return prober.found
