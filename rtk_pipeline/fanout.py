"""Participant listings on threads: at most `workers` at once, fewer while more list no faster.

Threads pay when the server is slow (the real API: each listing waits ~0.1 s on the network, and eight at
once list nearly eight times as fast). They cost when it answers faster than the client parses (a local
emulator, a proxy's cache): eight threads then fight over the GIL for the same throughput, and W1 spent
0.76x the CPU with one (benchmarks/RESULTS.md). So a `Gate` lets `limit` tasks run at once, and
`Concurrency` moves the limit between 1 and `workers` by measuring: while the process keeps a CPU busy it
halves the limit as long as halving costs no throughput; while the CPU has room it doubles it as long as
doubling buys some; and it tries again from time to time, since the server, the budget and the machine
change during a run. A slow server leaves the CPU idle, so its listings are never tried with fewer threads.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

log = logging.getLogger("rtk_pipeline.fanout")

# A level is judged on at least this much wall time and this many of its tasks: one level's throughput
# varied +-20% between windows of this length on the benchmark machine, and shorter ones were worse.
WINDOW_S = 0.5
MIN_TASKS = 4
# Halving the limit is kept when the throughput stays within KEEP of what it was; doubling when it buys
# GAIN more. On a latency-bound server halving loses ~50%, on a CPU-bound one nothing: far from both.
KEEP = 0.8
GAIN = 1.3
# Below this many CPUs busy (the process's CPU time over wall time), more threads may still pay.
ROOM = 0.5
# Windows to wait before trying another level, four times more after each try that did not pay (up to
# MAX_HOLD): on a slow server each try of fewer threads costs ~1 s of half the throughput.
HOLD = 16
MAX_HOLD = 256


@dataclass
class Concurrency:
    """The limit on tasks at once, from the throughput each limit achieved.

    A level's throughput is the items its tasks completed over at least `WINDOW_S` of wall time and
    `MIN_TASKS` (or `limit`) tasks, counted from the first completion of a task that started under it.
    The process's CPU use picks the way to try: at `ROOM` of a CPU or more the threads take turns at the
    GIL, and fewer may list as fast for less CPU; below it they wait on the server or the budget, and more
    may list faster. The throughput then judges the try.
    Pure bookkeeping, fed by one thread: `record` returns the new limit when it changes.
    """

    ceiling: int
    limit: int = 0
    rate: float = 0.0  # items a second in the last window
    busy: float = 0.0  # CPUs the process used in the last window
    _since: tuple[float, float] | None = None  # (wall, CPU) seconds when the window began
    _items: int = 0
    _tasks: int = 0
    _trial_from: int | None = None  # the level a trial started from; None while settled
    _to_beat: float = 0.0  # the best rate of the trial so far
    _settled_windows: int = 0
    _hold: int = HOLD

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("Concurrency: ceiling must be >= 1")
        self.limit = self.ceiling
        self._trial_from = self.ceiling  # start high (the real API's case); the first window decides

    def record(self, items: int, now: float, cpu: float) -> int | None:
        """Count a task of `items` that started under the current limit and completed at `now` (wall
        seconds, monotonic) with the process at `cpu` CPU seconds; the new limit when it changes."""
        if self._since is None:
            self._since = (now, cpu)
            return None
        self._items += items
        self._tasks += 1
        elapsed = now - self._since[0]
        if self._tasks < max(MIN_TASKS, self.limit) or elapsed < WINDOW_S:
            return None
        self.rate, self.busy = self._items / elapsed, (cpu - self._since[1]) / elapsed
        self._since, self._items, self._tasks = None, 0, 0
        new = self._decide()
        if new == self.limit:
            self._since = (now, cpu)  # the next window of the same level starts here
            return None
        self.limit = new
        return new

    def _decide(self) -> int:
        level, start = self.limit, self._trial_from
        if start is None:  # settled: wait, then try another level
            self._settled_windows += 1
            if self._settled_windows < self._hold:
                return level
            self._settled_windows = 0
            return self._try(level)
        if level == start:  # the first window of a run
            return self._try(level)
        down = level < start
        if self.rate >= (KEEP if down else GAIN) * self._to_beat:  # it paid: on the same way
            self._hold = HOLD
            self._to_beat = max(self._to_beat, self.rate)
            return self._step(level, down)
        self._trial_from = None  # back to where the trial started, and wait longer before the next
        self._hold = min(MAX_HOLD, self._hold * 4)
        return start

    def _try(self, level: int) -> int:
        """Start a trial from `level`: fewer threads while the CPU is busy (they take turns at the GIL and
        fewer may list as fast), more while it has room (they wait on the server or the budget)."""
        self._to_beat = self.rate
        return self._step(level, down=self.busy >= ROOM)

    def _step(self, level: int, down: bool) -> int:
        """The next level of a trial from `level`, or `level` itself, settled, when there is none."""
        nxt = max(1, level // 2) if down else min(self.ceiling, level * 2)
        if nxt == level or down != (self.busy >= ROOM):
            self._trial_from = None
            return level
        self._trial_from = level
        return nxt


class Gate:
    """Lets at most `limit` threads through at once; the others wait without spending CPU."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self._limit, self._inside = limit, 0
        self.generation = 0  # how many times the limit changed

    def resize(self, limit: int) -> None:
        with self._cond:
            self._limit = limit
            self.generation += 1
            self._cond.notify_all()

    def enter(self) -> int:
        """Wait for a place; the generation of the limit it was given under."""
        with self._cond:
            while self._inside >= self._limit:
                self._cond.wait()
            self._inside += 1
            return self.generation

    def leave(self) -> None:
        with self._cond:
            self._inside -= 1
            self._cond.notify()


def fan_out(fn: Callable[[Any], Any], items: list, workers: int) -> Iterator[tuple[Any, Any]]:
    """(item, fn(item)) for every item, in completion order, on up to `workers` threads.

    Items go to threads a few at a time (a listing is usually one request: handing each to a thread on its
    own cost more CPU in futures and wake-ups than the request itself), at most 4 * workers tasks pending,
    so a million items stay lean. An exception of `fn` ends the iteration with it, and the tasks still
    queued are dropped: a listing that failed for good fails the sync now, not after 4 * workers more.
    """
    chunk = max(1, min(8, len(items) // (4 * workers)))  # fewer for a small list, so each thread gets work
    concurrency = Concurrency(workers)
    gate = Gate(workers)
    done: queue.SimpleQueue = queue.SimpleQueue()

    stopped = threading.Event()

    def run(batch: list) -> tuple[list[tuple], int]:
        generation = gate.enter()
        try:  # a task that waited at the gate while the iteration ended starts nothing
            return ([] if stopped.is_set() else [(item, fn(item)) for item in batch]), generation
        except BaseException:
            stopped.set()  # before the gate lets the next task in
            raise
        finally:
            gate.leave()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rtk-sync") as pool:
        batches = _batches(items, chunk)
        pending = 0

        def submit(batch: list) -> None:
            nonlocal pending
            pool.submit(run, batch).add_done_callback(done.put)
            pending += 1

        for batch in islice(batches, 4 * workers):
            submit(batch)
        away = away_cpu = 0.0  # time the caller spent with the items (a batch's normalizing stalls all)
        try:
            while pending:
                future = done.get()
                pending -= 1
                out, generation = future.result()
                now, cpu = time.perf_counter() - away, time.process_time() - away_cpu
                if generation == gate.generation:
                    _adjust(concurrency, gate, len(out), now, cpu)
                left, left_cpu = time.perf_counter(), time.process_time()
                yield from out
                away += time.perf_counter() - left
                away_cpu += time.process_time() - left_cpu
                for batch in islice(batches, 1):
                    submit(batch)
        except BaseException:  # fn failed, or the caller stopped early: the tasks not started yet go
            stopped.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _adjust(concurrency: Concurrency, gate: Gate, items: int, now: float, cpu: float) -> None:
    before = concurrency.limit
    if (new := concurrency.record(items, now, cpu)) is not None:
        log.debug("%d at once -> %d (%d listed %.0f a second)", before, new, before, concurrency.rate)
        gate.resize(new)


def _batches(items: Iterable, chunk: int) -> Iterator[list]:
    source = iter(items)
    return iter(lambda: list(islice(source, chunk)), [])
