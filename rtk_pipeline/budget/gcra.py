"""GCRA's one step, and the in-process place its state lives.

A limiter's whole state is two instants: the theoretical arrival time (TAT) of the next request and the
earliest instant the server allows again (after a 429's Retry-After). Where those two numbers live decides
who shares the budget: this process (`LocalBook`), every process of the host (`budget.filebook`), or every
host of a deployment (`budget.pgbook`). The step itself is the same everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol


def gcra_step(
    now: float, tat: float, not_before: float, interval: float, tolerance: float
) -> tuple[float, float]:
    """(the caller's send slot, the new TAT): the earliest instant that keeps every earlier slot's spacing."""
    slot = max(now, tat - tolerance, not_before)
    return slot, max(tat, slot) + interval


class SlotBook(Protocol):
    """Where one token's GCRA state lives; every method is atomic across everyone sharing the book."""

    def reserve(self, interval: float, tolerance: float) -> float:
        """Take the next send slot; return the seconds from now until it (<= 0: send now)."""
        ...

    def hold(self, seconds: float) -> None:
        """Grant no slot for the next `seconds`."""
        ...


class LocalBook:
    """The state in this process's memory, under a thread lock: one process, one budget."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = float("-inf")
        self._not_before = float("-inf")

    def reserve(self, interval: float, tolerance: float) -> float:
        with self._lock:
            now = self._clock()
            slot, self._tat = gcra_step(now, self._tat, self._not_before, interval, tolerance)
        return slot - now

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def __repr__(self) -> str:
        return "LocalBook()"
