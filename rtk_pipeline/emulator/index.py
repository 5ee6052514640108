"""Sorted indexes of the meetings and the results served from them (no copies for a plain window)."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator


class Window:
    """Rows lo..hi-1 of a sorted index, served newest first (or oldest first), without copying them."""

    __slots__ = ("ascending", "hi", "lo", "slots")

    def __init__(self, slots: array, lo: int, hi: int, *, ascending: bool = False) -> None:
        self.slots, self.lo, self.hi, self.ascending = slots, lo, hi, ascending

    def __len__(self) -> int:
        return self.hi - self.lo

    def __iter__(self) -> Iterator[int]:
        slots = self.slots
        positions = range(self.lo, self.hi) if self.ascending else range(self.hi - 1, self.lo - 1, -1)
        for pos in positions:
            yield slots[pos]

    def page(self, offset: int, size: int) -> list[int]:
        if self.ascending:
            start = self.lo + offset
            return self.slots[start : min(self.hi, start + size)].tolist() if start < self.hi else []
        stop = self.hi - offset
        start = max(self.lo, stop - size)
        if stop <= start:
            return []
        rows = self.slots[start:stop].tolist()
        rows.reverse()
        return rows


class Rows:
    """A materialized, filtered result in serving order."""

    __slots__ = ("slots",)

    def __init__(self, slots: array) -> None:
        self.slots = slots

    def __len__(self) -> int:
        return len(self.slots)

    def __iter__(self) -> Iterator[int]:
        return iter(self.slots)

    def page(self, offset: int, size: int) -> list[int]:
        return self.slots[offset : offset + size].tolist()


def span(keys: array, lo_ms: int | None, hi_ms: int | None) -> tuple[int, int]:
    """Positions [lo, hi) of the keys within [lo_ms, hi_ms] (None = unbounded)."""
    lo = 0 if lo_ms is None else bisect.bisect_left(keys, lo_ms)
    hi = len(keys) if hi_ms is None else bisect.bisect_right(keys, hi_ms)
    return lo, max(lo, hi)


def insert_sorted(keys: array, slots: array, key: int, slot: int, tiebreak: Callable) -> None:
    lo = bisect.bisect_left(keys, key)
    hi = bisect.bisect_right(keys, key, lo)
    mine = tiebreak(slot)
    while lo < hi and tiebreak(slots[lo]) < mine:
        lo += 1
    keys.insert(lo, key)
    slots.insert(lo, slot)


def remove_sorted(keys: array, slots: array, key: int, slot: int) -> None:
    lo = bisect.bisect_left(keys, key)
    hi = bisect.bisect_right(keys, key, lo)
    for pos in range(lo, hi):
        if slots[pos] == slot:
            del keys[pos]
            del slots[pos]
            return
    raise KeyError(slot)
