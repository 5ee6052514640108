"""Peak memory of a backfill does not grow with its size (issues 3 and 14): 200,000 meetings next to 20,000.

Each size gets its own emulator process (30 days, participants off unless `--participants`) and the
backfill (library path, `sync_range` into a fresh DuckDB file + Parquet folder) runs in a fresh
interpreter whose peak RSS is measured from outside (harness.run_measured). Rows stream page by page, so
every peak should be within 1.25x of the smallest; the script exits non-zero if they are not.
`make bench` (run.py, W3) prints the same curve for 10k..1M with the "before" code beside it.

  python benchmarks/memory.py                      # 20,000 and 200,000 meetings, 1 run each
  python benchmarks/memory.py --rounds 3 --sizes 20000,200000,1000000
  python benchmarks/memory.py --participants --sizes 20000,200000
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import EmulatorProcess
from run import ground_truth, run_once
from workloads import Case

LIMIT = 1.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="meetings per backfill, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="runs per size (median reported)")
    parser.add_argument("--participants", action="store_true", help="with participants (~4 per meeting)")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        case = Case(f"{n:,} meetings", n, args.participants, ["rtk"])
        start, end = case.day_range
        with EmulatorProcess(case.emulator) as emu:
            truth = ground_truth(emu.info, case)
            runs = [run_once(emu, case, "rtk", r + 1, start, end) for r in range(args.rounds)]
        failed = [r for r in runs if r.measured.returncode]
        if failed:
            print(f"{case.name}: backfill failed: {failed[0].measured.stderr_tail}", file=sys.stderr)
            return 1
        peak = statistics.median(r.measured.peak_rss_mb for r in runs)
        wall = statistics.median(r.measured.wall_s for r in runs)
        ok = all(r.rows == truth["rows"] for r in runs)
        rows.append((n, truth["rows"], wall, peak, statistics.median(r.requests for r in runs), ok))
        print(f"{case.name}: peak {peak:.0f} MB, {wall:.1f} s", file=sys.stderr, flush=True)
    base = rows[0][3]
    mode = "with participants" if args.participants else "participants off"
    print(f"| meetings ({mode}) | rows stored | wall s | HTTP requests | peak RSS MB | vs smallest |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, stored, wall, peak, requests, ok in rows:
        note = "" if ok else " (ROWS MISMATCH)"
        print(
            f"| {n:,} | {stored:,}{note} | {wall:.1f} | {requests:,.0f} | {peak:.0f} | {peak / base:.2f}x |"
        )
    worst = max(r[3] for r in rows) / min(r[3] for r in rows)
    verdict = "within" if worst <= LIMIT else "NOT within"
    print(f"\nLargest peak / smallest peak = {worst:.2f}x: {verdict} the {LIMIT}x target.")
    return 0 if worst <= LIMIT and all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
