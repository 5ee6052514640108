"""Workload R (issue 19): the requests of one full `refresh` against the ideal, and a cycle's length under
the default budget.

The ideal is one meetings listing plus each ACTIVE meeting's participant pages (counted from the
emulator's truth, pages of the emulator's 100-row cap). A cycle's length is its requests at the token's
steady rate (RTK_RATE_LIMIT_REQUESTS / RTK_RATE_LIMIT_PERIOD_S: 4 per second by default), and `--plan`'s
runs at the default budget (the token's 30 minutes).

  python benchmarks/refresh_workload.py [--quick]        # also `python benchmarks/run.py --workloads R`
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtk_pipeline.emulator import Emulator, EmulatorConfig  # noqa: E402
from rtk_pipeline.ratelimit import RateLimiter  # noqa: E402
from rtk_pipeline.refresh import RefreshSettings, plan, refresh  # noqa: E402
from rtk_pipeline.store import DuckDBStore  # noqa: E402
from rtk_pipeline.sync import sync_range  # noqa: E402

PAGE = 100
END = datetime(2026, 11, 1, tzinfo=UTC)


def _client(emu: Emulator):  # the bench's client is not paced: the refresh's budget is what is measured
    from rtk_pipeline.client import RealtimeKitClient

    return RealtimeKitClient(
        base_url=emu.base_url,
        api_token=emu.token,
        account_id=emu.account_id,
        app_id=emu.app_id,
        rate_limiter=RateLimiter(1_000_000, 1.0),
    )


def ideal(emu: Emulator) -> int:
    meetings = emu.meetings()
    pages = [
        max(1, math.ceil(len(emu.participants(m["id"])) / PAGE))
        for m in meetings
        if m.get("status") == "ACTIVE"
    ]
    return max(1, math.ceil(len(meetings) / PAGE)) + sum(pages)


def _budgeted_cycle(client, store: DuckDBStore, settings: RefreshSettings) -> tuple[int, int]:
    """Refresh at the default budget until every ACTIVE meeting's participants were listed after the first
    run began: (runs, requests), what `--plan`'s cycle estimate is checked against."""
    began = datetime.now(UTC)
    runs = requests = 0
    while True:
        done = refresh(client, store, settings=settings)
        runs, requests = runs + 1, requests + done.requests
        states = store.meeting_states().to_pylist()
        behind = [
            m
            for m in states
            if m["status"] == "ACTIVE"
            and (m["participants_synced_at"] is None or m["participants_synced_at"] < began)
        ]
        if not behind or runs >= 20:
            return runs, requests


def report(quick: bool) -> str:
    meetings, days = (2_000, 30) if quick else (20_000, 60)
    settings = RefreshSettings()
    rate = settings.rate_limit_requests / settings.rate_limit_period_s
    with (
        Emulator(EmulatorConfig(meetings=meetings, days=days, seed=3, end=END)) as emu,
        tempfile.TemporaryDirectory() as tmp,
    ):
        first, last = (END - timedelta(days=days)).date(), (END - timedelta(microseconds=1)).date()
        whole = DuckDBStore(Path(tmp) / "a" / "rtk.duckdb", Path(tmp) / "a" / "parquet", app_id=emu.app_id)
        budgeted = DuckDBStore(Path(tmp) / "b" / "rtk.duckdb", Path(tmp) / "b" / "parquet", app_id=emu.app_id)
        with _client(emu) as client:
            sync_range(client, whole, first, last)
            sync_range(client, budgeted, first, last)
            best = ideal(emu)
            cycle = plan(budgeted, settings=settings)
            t0 = time.perf_counter()
            # one run with budget for the whole cycle: its requests against the ideal
            done = refresh(client, whole, max_requests=10 * best, settings=settings)
            seconds = time.perf_counter() - t0
            runs, spent = _budgeted_cycle(client, budgeted, settings)
    return "\n".join(
        [
            f"### Workload R: a full refresh cycle ({meetings:,} meetings over {days} days)\n",
            "| figure | value |",
            "|---|---:|",
            f"| requests of one refresh with budget for the whole cycle | {done.requests:,} |",
            f"| ideal (listing pages + ACTIVE meetings' participant pages) | {best:,} |",
            f"| ratio (target <= 1.15) | {done.requests / best:.3f} |",
            f"| wall time of that run against the local emulator, unpaced | {seconds:.1f} s |",
            f"| cycle under the default budget: requests / {rate:g} per s "
            f"| {done.requests / rate / 60:.1f} min |",
            f"| `--plan`: cycle requests, runs at the default budget ({cycle.budget:,}) "
            f"| {cycle.cycle_requests:,}, {cycle.cycle_runs} |",
            f"| measured: runs at the default budget until every ACTIVE meeting was re-listed, requests "
            f"| {runs}, {spent:,} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    print(report(parser.parse_args(argv).quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
