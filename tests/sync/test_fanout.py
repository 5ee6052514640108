"""Participant listings on threads: every item once, at most `workers` at once, the limit following what pays.

The limit's policy is tested on simulated servers (a slow one, where threads pay; one that answers faster
than the client parses, where they do not; a request budget), then against the emulator: a server with
latency keeps the listings concurrent, and the rows equal the ground truth whatever the limit did.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtk_pipeline import fanout
from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.fanout import Concurrency, Gate, fan_out
from rtk_pipeline.sync import sync_meetings, sync_participants
from tests.support.emulator import END, client_for
from tests.support.truth import stored_participants, truth_participants

CHUNK = 8


@dataclass
class Simulated:
    """A server feeding `concurrency` its completions, on a clock that runs on from call to call."""

    concurrency: Concurrency
    now: float = 0.0
    cpu: float = 0.0

    def serve(
        self, seconds_per_item: Callable[[int], float], cpus: Callable[[int], float], tasks: int = 3000
    ) -> list[int]:
        """`tasks` completions where an item takes `seconds_per_item(L)` of one thread's time with L at
        once, and the process keeps `cpus(L)` CPUs busy; the limit of each task."""
        levels = []
        for i in range(tasks):
            level = self.concurrency.limit
            gap = CHUNK * seconds_per_item(level) / level * (1.1 if i % 3 == 0 else 0.95)  # some jitter
            self.now, self.cpu = self.now + gap, self.cpu + gap * cpus(level)
            self.concurrency.record(CHUNK, self.now, self.cpu)
            levels.append(level)
        return levels


def simulate(
    ceiling: int, seconds_per_item: Callable[[int], float], cpus: Callable[[int], float], tasks: int = 3000
) -> list[int]:
    return Simulated(Concurrency(ceiling)).serve(seconds_per_item, cpus, tasks)


def share(levels: list[int], level: int) -> float:
    return Counter(levels)[level] / len(levels)


def test_a_slow_server_keeps_every_thread():
    """100 ms a listing (the real API): halving the threads halves the throughput, so the limit stays."""
    levels = simulate(8, lambda n: 0.1, lambda n: 0.005 * n)
    assert levels[0] == 8 and share(levels, 8) > 0.95


def test_a_server_faster_than_the_client_gets_one_thread():
    """The loopback emulator: threads only take turns at the GIL (the process is one CPU busy), so the
    throughput is the same with one, and one is kept."""
    levels = simulate(8, lambda n: 0.0007 * n, lambda n: 1.0)
    assert share(levels[len(levels) // 10 :], 1) > 0.95


def test_a_slow_server_on_a_busy_machine_keeps_the_threads_that_pay():
    """100 ms a listing but the process keeps a CPU busy (other work in it): fewer threads are tried, the
    throughput halves with them, and the limit goes back up."""
    levels = simulate(8, lambda n: 0.1, lambda n: 1.0)
    assert share(levels, 8) > 0.9 and 4 in levels


def test_a_request_budget_on_a_fast_server_gets_the_threads_that_reach_it():
    """40 requests a second from a server that answers at once, the CPU busy between: 8 threads only wait
    for the budget, so fewer are tried, and 1 still reaches it."""
    levels = simulate(8, lambda n: max(0.005, n / 40), lambda n: 0.8)
    assert share(levels[len(levels) // 10 :], 1) > 0.9


def test_more_threads_when_the_cpu_has_room_and_they_pay():
    """A server that slowed down after the limit fell to 1: with the CPU idle, more threads are tried and
    kept while each doubling lists faster."""
    server = Simulated(Concurrency(8))
    server.serve(lambda n: 0.0007 * n, lambda n: 1.0)  # a fast server first
    assert server.concurrency.limit == 1
    levels = server.serve(lambda n: 0.1, lambda n: 0.01, tasks=4000)
    assert levels[-1] == 8 and share(levels, 8) > 0.8


def test_one_thread_when_the_limit_is_one():
    assert set(simulate(1, lambda n: 0.1, lambda n: 0.1, tasks=200)) == {1}


@settings(max_examples=200, deadline=None)
@given(
    ceiling=st.integers(1, 32),
    steps=st.lists(st.tuples(st.integers(1, 16), st.floats(0, 5), st.floats(0, 4)), min_size=1, max_size=300),
)
def test_the_limit_stays_between_one_and_the_ceiling(ceiling, steps):
    """Whatever the completions look like (bursts, stalls, idle CPU, a busy machine)."""
    concurrency = Concurrency(ceiling)
    now = cpu = 0.0
    for items, gap, cpus in steps:
        now, cpu = now + gap, cpu + gap * cpus
        new = concurrency.record(items, now, cpu)
        assert 1 <= concurrency.limit <= ceiling
        assert new is None or new == concurrency.limit


class Occupancy:
    """Counts the threads inside a block, and the most ever inside at once."""

    def __init__(self) -> None:
        self.inside = self.most = 0
        self._lock = threading.Lock()

    def stay(self, seconds: float) -> None:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self._lock:
            self.inside -= 1


def test_a_gate_lets_through_no_more_than_its_limit():
    gate = Gate(3)
    for limit, visitors in ((3, 12), (1, 6)):
        gate.resize(limit)
        occupancy = Occupancy()

        def visit(occupancy: Occupancy) -> None:
            gate.enter()
            occupancy.stay(0.01)
            gate.leave()

        threads = [threading.Thread(target=visit, args=(occupancy,)) for _ in range(visitors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert occupancy.most == limit
    assert gate.generation == 2


@pytest.mark.parametrize("n, workers", [(0, 4), (1, 8), (7, 3), (500, 8), (1000, 1)])
def test_every_item_once_with_its_result(n, workers):
    got = list(fan_out(lambda x: x * x, list(range(n)), workers))
    assert sorted(got) == [(i, i * i) for i in range(n)]


def test_no_more_than_workers_at_once_and_a_failure_drops_the_tasks_not_started():
    """A listing that failed for good (a 401, retries spent) fails the sync without the 20 tasks of 8
    listings queued behind it: only those already running finish."""
    occupancy, calls = Occupancy(), []

    def work(x: int) -> int:
        calls.append(x)
        occupancy.stay(0.001)
        if x == 40:
            raise ValueError("listing 40 failed")
        return x

    with pytest.raises(ValueError, match="listing 40 failed"):
        list(fan_out(work, list(range(400)), 5))
    time.sleep(0.1)  # anything still queued would run now
    assert 1 <= occupancy.most <= 5
    assert len(calls) < 41 + 2 * 5 * 8, len(calls)


def test_after_a_failure_the_tasks_waiting_at_the_gate_start_nothing(monkeypatch):
    """With the limit at 1 (as on a fast server) the other threads hold tasks of 8 listings at the gate:
    once a listing fails for good, none of them sends a request."""
    monkeypatch.setattr(fanout, "Gate", lambda limit: Gate(1))
    calls: list[int] = []

    def work(x: int) -> int:
        calls.append(x)
        time.sleep(0.001)
        if x == 40:
            raise ValueError("listing 40 failed")
        return x

    with pytest.raises(ValueError, match="listing 40 failed"):
        list(fan_out(work, list(range(400)), 5))
    time.sleep(0.1)  # a task let through the gate would run now
    assert calls[-1] == 40, f"{len(calls) - calls.index(40) - 1} listing(s) after the failure"


def test_a_slow_server_is_listed_concurrently_and_completely(warehouse):
    """20 ms a request, ~1,000 listings: they overlap (nearly as many at once as the workers: waiting on
    the server leaves the CPU idle, so fewer are never tried), and the stored participants are the truth."""
    latency = 0.02
    config = EmulatorConfig(meetings=1000, days=3, seed=5, end=END, participants_mean=2.0)
    first, last = date(2026, 10, 29), date(2026, 10, 31)
    with Emulator(config, Faults(latency_s=latency)) as emu, client_for(emu) as client:
        sync_meetings(client, warehouse, first, last)
        emu.clear_requests()
        result = sync_participants(client, warehouse, first, last, workers=8)
        listings = [r.timestamp for r in emu.requests if r.endpoint == "list_participants"]
        truth = truth_participants(emu, {m["id"]: m for m in emu.meetings()})
    assert set(stored_participants(warehouse)) == set(truth) and result.rows == len(truth)
    span = max(listings) + latency - min(listings)
    at_once = len(listings) * latency / span  # each listing in flight for the latency, on average
    assert at_once > 4, f"{len(listings)} listings in {span:.2f} s: {at_once:.1f} at once of 8"
