"""Emulator time: epoch milliseconds, their wire format, and the clock every write reads."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_day_strings: dict[int, str] = {}


def fmt_ms(ms: int) -> str:
    """Epoch milliseconds -> '2019-12-27T18:11:19.117Z' (the reference's format), fast: rows are many."""
    day, rem = divmod(ms, DAY_MS)
    date = _day_strings.get(day)
    if date is None:
        date = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        _day_strings[day] = date
    secs, milli = divmod(rem, 1000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    return f"{date}T{hours:02d}:{mins:02d}:{secs:02d}.{milli:03d}Z"


def to_ms(when: datetime | str) -> int:
    """datetime or ISO 8601 string (naive = UTC) -> epoch milliseconds, rounded down."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // timedelta(milliseconds=1)


class Clock:
    """Emulator time in epoch ms: wall time, shifted forward if the data ends in the future, and strictly
    increasing from one reading to the next, so every write gets a later updated_at than the last one.
    `set()`/`advance()` freeze it at a chosen time (still +1 ms per reading); `resume()` follows the wall."""

    def __init__(self, not_before_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._offset = max(0, not_before_ms - self._wall())
        self._frozen: int | None = None
        self._last = 0
        self._moved = 0  # the latest time set() or advance() moved to; 0 = never moved

    @property
    def moved_ms(self) -> int:
        """The latest time `set()` or `advance()` moved the clock to (0 if never): how far a test has
        simulated time passing. Generated room arrivals follow it, not the wall, so a sync and its ground
        truth never race an arrival."""
        with self._lock:
            return self._moved

    @staticmethod
    def _wall() -> int:
        return time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        with self._lock:
            base = self._frozen if self._frozen is not None else self._wall() + self._offset
            self._last = max(base, self._last + 1)
            return self._last

    def now(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.now_ms())

    def set(self, when: datetime) -> None:
        """Freeze at `when`; raises ValueError if that is before a time already handed out."""
        ms = to_ms(when)
        with self._lock:
            if ms < self._last:
                raise ValueError(
                    f"the emulator clock never goes backwards (last reading {fmt_ms(self._last)})"
                )
            self._frozen = self._moved = ms

    def advance(self, seconds: float) -> None:
        """Freeze at the current time plus `seconds`."""
        with self._lock:
            base = self._frozen if self._frozen is not None else self._wall() + self._offset
            self._frozen = self._moved = max(base, self._last) + int(seconds * 1000)

    def resume(self) -> None:
        """Follow wall time again (from no earlier than the frozen time)."""
        with self._lock:
            if self._frozen is not None:
                self._offset = max(self._offset, self._frozen - self._wall())
                self._frozen = None
