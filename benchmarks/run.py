"""rtk-pipeline next to dlt's rest_api source, on one machine, in one run (`make bench`).

For each workload one emulator process is started and every contender runs against it, alternately,
round after round, each run in a fresh interpreter (its peak RSS is its own; see harness.py):
  rtk      the library path, `sync_range` into a fresh DuckDB file + Parquet folder
  dagster  `materialize` of the meetings/participants assets over the same partition range
  dlt      dlt's `rest_api` source into DuckDB (dlt_pipeline.py)
  floor    the GETs the last rtk run sent, replayed by a plain sequential httpx loop: the emulator-bound
           floor (what serving and sending the same requests costs with no pipeline at all)
  rtk-before, dagster-before
           the same two paths running the code of `--before REV` (default main before issue 14), so the
           before/after tables come from one run against the same emulator
HTTP requests are counted by the emulator, not by the contenders. Printed: one Markdown table per
workload (medians over rounds, CPU per request, ratios against the floor, dlt and "before" from the same
run) and a target check.

  python benchmarks/run.py                               # everything, 3 rounds (W3: 1 round)
  python benchmarks/run.py --workloads W1,W4 --rounds 3  # a subset
  python benchmarks/run.py --quick                       # every workload at a tenth of its size
  python benchmarks/run.py --workloads W1 --profile      # plus one run per profiler per rtk contender
  python benchmarks/run.py --before ''                   # no "before" contenders
  python benchmarks/run.py --workloads A                 # the analysts' queries (analysts_workload.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    PYTHON,
    REPO,
    EmulatorProcess,
    checkout,
    child_env,
    max_in_window,
    run_measured,
    where_time_goes,
)
from report import memory_curve, summarize, table, targets, w3_targets
from workloads import BEFORE_SUFFIX, Case, Run, cases

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
RUN_TIMEOUT = 3600.0
S3_ENV: dict[str, str] = {}  # moto_server's address and credentials, when an rtk-delta-s3 run is wanted
BEFORE = "8942299"  # main before issue 14 (performance)


# ---------------------------------------------------------------- running


def run_case(
    case: Case,
    rounds: int,
    profilers: list[str],
    log,
    before: Path | None,
    *,
    after: Path = REPO,
    dlt_rounds: int | None = None,
) -> tuple[dict, list[Run]]:
    start, end = case.day_range
    contenders = [c for c in case.contenders if before is not None or not c.endswith(BEFORE_SUFFIX)]
    urls = OUT / f"urls-{os.getpid()}.json"  # the last rtk run's GETs, for the floor contender
    with EmulatorProcess(case.emulator, case.faults, root=after) as emu:
        truth = ground_truth(emu.info, case)
        log(f"{case.name}: emulator up in {emu.info['setup_s']} s at {emu.base_url}; truth {truth['rows']}")
        runs: list[Run] = []
        for r in range(case.rounds if case.rounds is not None else rounds):
            order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
            for contender in order:
                if contender == "floor" and not urls.exists():
                    continue  # needs an rtk run first (rtk leads the first round)
                if contender == "dlt" and dlt_rounds is not None and r >= dlt_rounds:
                    continue
                run = run_once(emu, case, contender, r + 1, start, end, before=before, after=after, urls=urls)
                runs.append(run)
                log(describe(case, run, truth))
        for contender in ("rtk", "rtk" + BEFORE_SUFFIX, "dagster"):
            if contender not in contenders:
                continue
            for profiler in profilers:
                run = run_once(
                    emu, case, contender, 0, start, end, profile=profiler, before=before, after=after
                )
                report = run.measured.report
                log(f"{describe(case, run, truth)} (profiled with {profiler})")
                if profiler == "py-spy":
                    log(where_time_goes(Path(report["profile"]), run.measured.wall_s))
                elif profiler == "memtrace":
                    log(memory_timeline(report["memtrace"]))
                else:
                    log(f"  {report['profile']}.txt / .html")
    urls.unlink(missing_ok=True)
    return truth, runs


def run_once(
    emu: EmulatorProcess,
    case: Case,
    contender: str,
    rnd: int,
    start: date,
    end: date,
    profile: str = "",
    *,
    before: Path | None = None,
    after: Path = REPO,
    urls: Path | None = None,
) -> Run:
    """One measured run; `profile` = "pyinstrument" (main thread, inside the child), "py-spy" (every
    thread, samples only while a thread holds the GIL, i.e. where this process's CPU goes) or "memtrace"
    (RSS timeline with the main thread's phase). A `*-before` contender runs the code checked out at
    `before`; an rtk run records its GETs in `urls` for the floor contender, which replays them."""
    kind = contender.removesuffix(BEFORE_SUFFIX)
    root = after
    if contender.endswith(BEFORE_SUFFIX):
        assert before is not None, f"{contender} runs the code checked out at `before`"
        root = before
    workdir = Path(tempfile.mkdtemp(prefix=f"rtk-bench-{contender}-"))
    spec = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "participants": case.participants,
        "workers": case.workers,
        "rate_limit": list(case.client_budget),
        "workdir": str(workdir),
        "urls_file": str(urls) if urls else None,
    }
    cmd = [PYTHON, str(HERE / "contenders.py"), kind]
    base = OUT / f"profile-{case.name.split()[0]}-{contender}"
    if profile == "pyinstrument":
        spec["profile"] = str(base)
    elif profile == "memtrace":
        spec["memtrace"] = True
    elif profile == "py-spy":
        raw = base.with_suffix(".pyspy.txt")
        cmd = [str(Path(PYTHON).parent / "py-spy"), "record", "--gil", "-r", "200", "-f", "raw"]
        cmd += ["--nolineno", "-o", str(raw), "--", PYTHON, str(HERE / "contenders.py"), kind]
    env = child_env(
        {
            **emu.env,
            **S3_ENV,
            "BENCH_REPORT": str(workdir / "report.json"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        },
        root=root,
    )
    emu.mark()
    cpu0 = emu.cpu_seconds()
    record = contender == "rtk" and urls is not None and not profile
    try:
        measured = run_measured([*cmd, json.dumps(spec)], env=env, timeout=RUN_TIMEOUT)
        if profile == "py-spy":
            measured.report["profile"] = str(raw)
        seen = emu.since(urls=record)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if record and urls is not None and measured.returncode == 0:
        urls.write_text(json.dumps(seen["urls"]))
    return Run(
        contender,
        rnd,
        measured,
        seen["requests"],
        seen["statuses"],
        seen["endpoints"],
        max_in_window(seen["times"], 5.0),
        max_in_window(seen["times"], 1.0),
        emu.cpu_seconds() - cpu0,
        os.getloadavg()[0],
    )


def memory_timeline(trace: dict) -> str:
    """The peak and a coarse RSS timeline, each sample with the phase the main thread was in."""
    t, mb, where = trace["peak"]
    lines = [f"peak RSS {mb} MB at {t} s in {where or '(outside rtk code)'}; timeline:"]
    lines += [f"  {t:7.2f} s {mb:5d} MB  {where}" for t, mb, where in trace["timeline"]]
    return "\n".join(lines)


def ground_truth(info: dict, case: Case) -> dict:
    """Rows the emulator holds for the case's days, and the fewest requests that can list them."""
    cap = 100  # the emulator's largest page (EmulatorConfig.max_per_page default)
    meetings = sum(info["meetings_by_day"].values())
    per_meeting = [n for counts in info["participants_by_day"].values() for n in counts]
    participants = sum(per_meeting)
    minimum = math.ceil(meetings / cap) + sum(math.ceil(n / cap) for n in per_meeting)
    # An empty listing still costs one request: what a perfect client would send.
    ideal = max(1, math.ceil(meetings / cap)) + sum(max(1, math.ceil(n / cap)) for n in per_meeting)
    listings = 1 + (len(per_meeting) if case.participants else 0)
    return {
        "meetings": meetings,
        "participants": participants,
        "rows": meetings + participants,
        "min_requests": minimum,
        "ideal_requests": ideal,
        "listings": listings,
        "max_requests": minimum + listings,
    }


def describe(case: Case, run: Run, truth: dict) -> str:
    m = run.measured
    status = "ok" if m.returncode == 0 else f"EXIT {m.returncode}: {m.stderr_tail.strip().splitlines()[-1:]}"
    stores = run.contender != "floor"
    wrong = stores and run.rows != truth["rows"] and not m.returncode
    rows_ok = f" ROWS {run.rows} != {truth['rows']}" if wrong else ""
    return (
        f"{case.name} round {run.round} {run.contender:8s} {m.wall_s:7.2f} s wall, "
        f"{m.report.get('work_s', float('nan')):7.2f} s work, {m.cpu_s:7.2f} s cpu "
        f"({m.cpu_s / max(run.requests, 1) * 1e3:.3f} ms/req), {m.peak_rss_mb:7.1f} MB, "
        f"{run.requests:,} req {run.statuses} {run.endpoints}, "
        f"emulator cpu {run.emulator_cpu_s:.1f} s, load {run.load_average:.1f} — {status}{rows_ok}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workloads",
        default="W1,W2,W3,W4,R,A",
        help="comma-separated subset of W1,W2,W3,W4,R (refresh),A (analysts' queries)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (median reported)")
    parser.add_argument("--quick", action="store_true", help="every workload at a tenth of its size")
    parser.add_argument(
        "--contenders",
        default="rtk,floor,rtk-before,dagster,dagster-before,dlt",
        help="comma-separated subset",
    )
    parser.add_argument(
        "--case", default="", help="only the cases whose name contains this, e.g. '1,000,000'"
    )
    parser.add_argument("--dlt-in-w2", action="store_true", help="also run dlt on W2 (~6 min a round)")
    parser.add_argument("--dlt-in-w3", action="store_true", help="also run dlt on W3's sizes up to 100k")
    parser.add_argument("--w1-rounds", type=int, default=None, help="runs per contender on W1")
    parser.add_argument("--w3-rounds", type=int, default=1, help="runs per contender on W3's sizes")
    parser.add_argument("--dlt-rounds", type=int, default=None, help="runs of dlt (default: --rounds)")
    parser.add_argument(
        "--after",
        default="",
        help="revision the rtk/dagster contenders run (default: the work tree as it is; a revision "
        "is checked out first, so the tree can change while a long run goes on)",
    )
    parser.add_argument(
        "--before", default=BEFORE, help="revision the *-before contenders run ('' = no such contenders)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="pyinstrument,py-spy,memtrace",
        default="",
        help="after the rounds, one extra rtk/dagster run per profiler (pyinstrument,py-spy,memtrace)",
    )
    args = parser.parse_args(argv)
    if args.rounds < (0 if args.profile else 1):
        parser.error("--rounds must be at least 1 (0 only with --profile)")
    if "A" in args.workloads.split(","):  # issue 22's analysts' queries: no emulator, contenders of its own
        from analysts_workload import QUICK, SIZES
        from analysts_workload import report as analysts_report

        for meetings in [QUICK] if args.quick else SIZES:
            print(analysts_report(meetings, 1 if args.quick else 7, check=args.quick), flush=True)
        args.workloads = ",".join(w for w in args.workloads.split(",") if w != "A")
        if not args.workloads:
            return 0
    if "R" in args.workloads.split(","):  # issue 19's refresh workload: its own emulator, no contenders
        from refresh_workload import report

        print(report(args.quick), flush=True)
        args.workloads = ",".join(w for w in args.workloads.split(",") if w != "R")
        if not args.workloads:
            return 0
    wanted = set(args.contenders.split(","))
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = OUT / f"run-{stamp}.log"

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")

    log(f"command: {' '.join([Path(PYTHON).name, *sys.argv])}")
    log(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, {_versions()}")
    log(f"code: {_revision()}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    before = checkout(args.before, OUT) if args.before else None
    if before is not None:
        log(f"before: {args.before} checked out at {before}")
    results: list[tuple[Case, dict, dict]] = []
    raw: list[dict] = []
    t0 = time.perf_counter()
    after = checkout(args.after, OUT) if args.after else REPO
    log(f"after: {args.after or 'the work tree'} at {after}")
    print(startup(before, after), flush=True)
    with contextlib.ExitStack() as servers:
        if "rtk-delta-s3" in wanted:
            S3_ENV.update(servers.enter_context(_moto_s3()))
        _run_cases(args, wanted, log, results, raw, stamp, before, after)
    curve = memory_curve(results)
    if curve:
        print(curve, flush=True)
    print("### Targets\n")
    checks = [line for case, truth, s in results for line in targets(case, truth, s)]
    print("\n".join(checks + w3_targets(results)) or "- (no targeted workload in this run)")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n({time.perf_counter() - t0:.0f} s in all; load average at the end {load}; "
        f"raw runs in {OUT.name}/results-{stamp}.json)"
    )
    return 0


def _run_cases(args, wanted: set[str], log, results: list, raw: list, stamp: str, before, after) -> None:
    workloads = cases(
        args.workloads.split(","),
        args.quick,
        dlt_in_w2=args.dlt_in_w2,
        dlt_in_w3=args.dlt_in_w3,
        w3_rounds=args.w3_rounds,
        w1_rounds=args.w1_rounds,
    )
    for case in workloads:
        case.contenders = [c for c in case.contenders if c in wanted]
        case.before = args.before
        if not case.contenders or args.case not in case.name:
            continue
        profilers = [p for p in args.profile.split(",") if p]
        truth, runs = run_case(
            case, args.rounds, profilers, log, before, after=after, dlt_rounds=args.dlt_rounds
        )
        summary = summarize(case, truth, runs)
        results.append((case, truth, summary))
        raw.append(
            {
                "case": case.name,
                "truth": truth,
                "summary": summary,
                "runs": [
                    {
                        "contender": r.contender,
                        "round": r.round,
                        "wall_s": r.measured.wall_s,
                        "cpu_s": r.measured.cpu_s,
                        "peak_rss_mb": r.measured.peak_rss_mb,
                        "returncode": r.measured.returncode,
                        "report": r.measured.report,
                        "requests": r.requests,
                        "statuses": r.statuses,
                        "endpoints": r.endpoints,
                        "max_5s": r.max_5s,
                        "emulator_cpu_s": r.emulator_cpu_s,
                        "load_average": r.load_average,
                    }
                    for r in runs
                ],
            }
        )
        (OUT / f"results-{stamp}.json").write_text(json.dumps(raw, indent=1, default=str))
        print(table(case, truth, summary), flush=True)


@contextlib.contextmanager
def _moto_s3():
    """moto_server on loopback (the test suite's helper), a bucket, and the settings that point at it."""
    sys.path.insert(0, str(HERE.parent))
    from tests.lake.servers import MotoS3

    workdir = Path(tempfile.mkdtemp(prefix="rtk-bench-s3-"))
    server = MotoS3(workdir)
    try:
        yield {**server.env, "BENCH_S3_URI": server.uri("bench")}
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def startup(before: Path | None, after: Path = REPO, runs: int = 3) -> str:
    """`rtk-pipeline --help` wall time (median of `runs`, fresh interpreter each) and what a backfill's
    imports pull in, for this code and the "before" code."""
    script = Path(PYTHON).parent / "rtk-pipeline"
    probe = (
        "import sys, time; t = time.perf_counter(); import rtk_pipeline.cli, rtk_pipeline.sync; "
        "print(round(time.perf_counter() - t, 3), 'pandas' in sys.modules)"
    )
    lines = [
        f"### Start-up (`rtk-pipeline --help`, median of {runs} runs)\n",
        "| code | --help wall s | runs | import cli + sync s | pandas imported by a backfill's modules |",
        "|---|---:|---|---:|:-:|",
    ]
    for label, root in (("this", after), ("before", before)):
        if root is None:
            continue
        env = child_env(root=root)
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([str(script), "--help"], env=env, cwd="/", capture_output=True, check=True)
            walls.append(time.perf_counter() - t0)
        out = subprocess.run(
            [PYTHON, "-c", probe], env=env, cwd="/", capture_output=True, text=True, check=True
        ).stdout.split()
        lines.append(
            f"| {label} | {statistics.median(walls):.3f} | {[round(w, 2) for w in walls]} | {out[0]} "
            f"| {'yes' if out[1] == 'True' else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _revision() -> str:
    """The commit measured, and whether the library or Dagster code differs from it (others edit too)."""
    git = ["git", "-C", str(HERE.parent)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "rtk_pipeline", "dagster_defs", "sql"],
            capture_output=True,
            text=True,
        ).stdout
    except OSError:
        return "unknown (no git)"
    return f"commit {head.strip()}" + (" + uncommitted changes" if dirty.strip() else "")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("rtk-pipeline", "dagster", "duckdb", "pyarrow", "httpx", "dlt", "requests"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


if __name__ == "__main__":
    sys.exit(main())
