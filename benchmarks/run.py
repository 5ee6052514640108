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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    PYTHON,
    REPO,
    EmulatorProcess,
    Measured,
    checkout,
    child_env,
    max_in_window,
    run_measured,
    where_time_goes,
)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
END = datetime(2026, 11, 1, tzinfo=UTC)
UNLIMITED = (1_000_000_000, 1.0)  # no client-side budget where the emulator enforces none
W4_BUDGET = (100, 5.0)  # emulator: 100 requests per 5 s (20/s), then a lockout
W4_HEADROOM = 0.95  # the client is configured just below the emulator's budget
RUN_TIMEOUT = 3600.0
S3_ENV: dict[str, str] = {}  # moto_server's address and credentials, when an rtk-delta-s3 run is wanted
BEFORE = "8942299"  # main before issue 14 (performance)
BEFORE_SUFFIX = "-before"


@dataclass
class Case:
    """One emulator data set and the contenders measured against it."""

    name: str
    meetings: int
    participants: bool
    contenders: list[str]
    days: int = 30
    faults: dict = field(default_factory=dict)
    client_budget: tuple[int, float] = UNLIMITED
    workers: int = 8
    rounds: int | None = None  # None: the run's --rounds
    before: str = ""  # the revision the *-before contenders run

    @property
    def emulator(self) -> dict:
        return {
            "meetings": self.meetings,
            "days": self.days,
            "seed": 7,
            "end": END.isoformat(),
            "participants_mean": 4.0 if self.participants else 0.0,
        }

    @property
    def day_range(self) -> tuple[date, date]:
        return (END - timedelta(days=self.days)).date(), (END - timedelta(days=1)).date()


def cases(
    workloads: list[str],
    quick: bool,
    *,
    dlt_in_w2: bool,
    dlt_in_w3: bool,
    w3_rounds: int,
    w1_rounds: int | None = None,
) -> list[Case]:
    """The workloads of issue 6 (W3 sized as issue 14's memory curve); `quick` divides every size by ten
    (a smoke run, not a result)."""
    k = 10 if quick else 1
    both = ["rtk", "rtk-before", "dagster", "dagster-before"]
    out: list[Case] = []
    if "W1" in workloads:  # the Delta backend only when asked for (--contenders)
        w1 = ["rtk", "floor", *both[1:], "dlt", "rtk-delta", "rtk-delta-s3"]
        out.append(Case("W1", 20_000 // k, True, w1, rounds=w1_rounds))
    if "W2" in workloads:
        # dlt is sequential: 360 s a round at 100 ms latency, and W2's target is a bound, not a ratio.
        w2 = [*both, "dlt"] if dlt_in_w2 else both
        out.append(Case("W2", 2_000 // k, True, w2, faults={"latency_s": 0.1}))
    if "W3" in workloads:
        # The memory curve: 10k..50k meetings with participants (100k adds ~5 min a contender on a
        # loaded machine), 10k..1M meetings only. dlt takes ~4/~40 min a round at 10k/100k with
        # participants: opt-in.
        sizes = [(n, True) for n in (10_000, 20_000, 50_000)]
        sizes += [(n, False) for n in (10_000, 20_000, 100_000, 1_000_000)]
        for n, participants in sizes:
            tag = "" if participants else " meetings only"
            w3 = ["rtk", "rtk-before"] + (["dlt"] if dlt_in_w3 and n <= 100_000 else [])
            out.append(Case(f"W3 {n // k:,}{tag}", n // k, participants, w3, rounds=w3_rounds))
    if "W4" in workloads:
        budget = (int(W4_BUDGET[0] * W4_HEADROOM), W4_BUDGET[1])
        faults = {"rate_limit": list(W4_BUDGET), "lockout_s": 60.0}
        out.append(Case("W4", 500 // k, True, both, faults=faults, client_budget=budget))
    return out


# ---------------------------------------------------------------- running


@dataclass
class Run:
    contender: str
    round: int
    measured: Measured
    requests: int
    statuses: dict
    endpoints: dict
    max_5s: int
    max_1s: int
    emulator_cpu_s: float
    load_average: float = 0.0  # 1-minute load average when the run ended

    @property
    def rows(self) -> int:
        return sum(self.measured.report.get("rows", {}).values())


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


# ---------------------------------------------------------------- reporting


def summarize(case: Case, truth: dict, runs: list[Run]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for contender in case.contenders:
        mine = [r for r in runs if r.contender == contender and r.round > 0]
        good = [r for r in mine if r.measured.returncode == 0]
        if not good:
            out[contender] = {"failed": len(mine)}
            continue
        wall = statistics.median(r.measured.wall_s for r in good)
        work = statistics.median(r.measured.report["work_s"] for r in good)
        cpu = statistics.median(r.measured.cpu_s for r in good)
        out[contender] = {
            "runs": len(good),
            "failed": len(mine) - len(good),
            "wall_s": wall,
            "work_s": work,
            "cpu_s": cpu,
            "walls": [round(r.measured.wall_s, 2) for r in good],
            "rows": statistics.median(r.rows for r in good),
            "rows_ok": contender == "floor" or all(r.rows == truth["rows"] for r in good),
            "cpu_ms_per_request": statistics.median(
                r.measured.cpu_s / max(r.requests, 1) * 1e3 for r in good
            ),
            "pandas_imported": any(r.measured.report.get("pandas_imported") for r in good),
            "rows_per_s": truth["rows"] / wall,
            "us_per_row": wall / truth["rows"] * 1e6,
            "requests": statistics.median(r.requests for r in good),
            "http_429": sum(r.statuses.get("429", 0) for r in good),
            "max_5s": max(r.max_5s for r in good),
            "max_1s": max(r.max_1s for r in good),
            "peak_rss_mb": statistics.median(r.measured.peak_rss_mb for r in good),
            "peak_rss_max_mb": max(r.measured.peak_rss_mb for r in good),
            "emulator_cpu_s": statistics.median(r.emulator_cpu_s for r in good),
        }
    return out


def _ratio(s: dict, other: dict, metric: str) -> str:
    return f"{s[metric] / other[metric]:.3f}" if "wall_s" in other and "wall_s" in s else "-"


def table(case: Case, truth: dict, summary: dict[str, dict]) -> str:
    dlt, floor = summary.get("dlt", {}), summary.get("floor", {})
    head = (
        f"### {case.name}: {case.meetings:,} meetings / {case.days} days"
        f"{' + participants' if case.participants else ', participants off'}"
        f"{', faults ' + json.dumps(case.faults) if case.faults else ''} "
        f"({truth['rows']:,} rows; {truth['listings']:,} listings; request minimum "
        f"{truth['min_requests']:,}, one per empty listing included {truth['ideal_requests']:,})"
        f"{'; *-before = commit ' + case.before if case.before else ''}\n\n"
        "| contender | wall s (median) | work s | CPU s | CPU ms/req | rows/s | HTTP requests | 429s "
        "| peak RSS MB | wall vs floor | wall vs dlt | CPU vs dlt | RSS vs dlt | wall vs before "
        "| CPU vs before | RSS vs before | rows ok | walls |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---|\n"
    )
    lines = []
    for contender, s in summary.items():
        if "wall_s" not in s:
            lines.append(f"| {contender} | failed ({s['failed']} runs) |" + " |" * 16)
            continue
        before = {} if contender.endswith(BEFORE_SUFFIX) else summary.get(contender + BEFORE_SUFFIX, {})
        failed = f" ({s['failed']} failed)" if s["failed"] else ""
        lines.append(
            f"| {contender}{failed} | {s['wall_s']:.2f} | {s['work_s']:.2f} | {s['cpu_s']:.2f} "
            f"| {s['cpu_ms_per_request']:.3f} | {s['rows_per_s']:,.0f} | {s['requests']:,.0f} "
            f"| {s['http_429']} | {s['peak_rss_mb']:.0f} "
            f"| {'-' if contender == 'floor' else _ratio(s, floor, 'wall_s')} "
            f"| {_ratio(s, dlt, 'wall_s')} | {_ratio(s, dlt, 'cpu_s')} | {_ratio(s, dlt, 'peak_rss_mb')} "
            f"| {_ratio(s, before, 'wall_s')} | {_ratio(s, before, 'cpu_s')} "
            f"| {_ratio(s, before, 'peak_rss_mb')} "
            f"| {'yes' if s['rows_ok'] else 'NO'} | {s['walls']} |"
        )
    return head + "\n".join(lines) + "\n"


def targets(case: Case, truth: dict, summary: dict[str, dict]) -> list[str]:
    """Issue 14's targets (and issue 6's request and rate-limit checks) for this workload, each with the
    measured figure. The *-before contenders are measured for comparison, not judged."""
    checks: list[tuple[str, bool]] = []
    ours = {k: v for k, v in summary.items() if k in ("rtk", "dagster") and "wall_s" in v}
    dlt, floor = summary.get("dlt", {}), summary.get("floor", {})
    for name, s in ours.items():
        if case.name == "W1":
            if name == "rtk":
                ms = s["cpu_ms_per_request"]
                checks.append((f"rtk: {ms:.3f} ms CPU per HTTP request (target <= 1.0)", ms <= 1.0))
            if "wall_s" in dlt:
                ratio = s["wall_s"] / dlt["wall_s"]
                checks.append((f"{name}: wall {ratio:.3f} x dlt's (target <= 0.10)", ratio <= 0.10))
            if "wall_s" in floor and name == "rtk":
                ratio = s["wall_s"] / floor["wall_s"]
                checks.append(
                    (
                        f"rtk: wall {s['wall_s']:.2f} s = {ratio:.2f} x the floor's {floor['wall_s']:.2f} s "
                        "(target <= 1.5)",
                        ratio <= 1.5,
                    )
                )
            limit = 200 if name == "rtk" else 300
            checks.append(
                (
                    f"{name}: peak RSS {s['peak_rss_mb']:.0f} MB median, {s['peak_rss_max_mb']:.0f} max "
                    f"(target <= {limit})",
                    s["peak_rss_max_mb"] <= limit,
                )
            )
            checks.append(
                (
                    f"{name}: {s['requests']:,.0f} requests (target <= {truth['max_requests']:,} = "
                    f"{truth['min_requests']:,} + {truth['listings']:,} listings)",
                    s["requests"] <= truth["max_requests"],
                )
            )
        elif case.name == "W2":
            latency = case.faults["latency_s"]
            bound = 1.25 * s["requests"] * latency / case.workers
            checks.append(
                (
                    f"{name}: wall {s['wall_s']:.2f} s, sync {s['work_s']:.2f} s (target <= 1.25 x "
                    f"{s['requests']:,.0f} req x {latency} s / {case.workers} workers = {bound:.2f} s)",
                    s["wall_s"] <= bound,
                )
            )
        elif case.name == "W4":
            limit = W4_BUDGET[0]
            checks.append((f"{name}: {s['http_429']} responses 429 (target 0)", s["http_429"] == 0))
            checks.append(
                (
                    f"{name}: at most {s['max_5s']} requests in any 5 s window (budget {limit}); "
                    f"at most {s['max_1s']} in any 1 s",
                    s["max_5s"] <= limit,
                )
            )
    return [f"- [{'x' if ok else ' '}] {text}" for text, ok in checks]


def _w3(results: list[tuple[Case, dict, dict]], participants: bool, contender: str) -> list[tuple]:
    return [
        (c, t, s[contender])
        for c, t, s in results
        if c.name.startswith("W3") and c.participants == participants and "wall_s" in s.get(contender, {})
    ]


def memory_curve(results: list[tuple[Case, dict, dict]]) -> str:
    """Issue 14's memory curve: peak RSS by backfill size, after and before, each against its 20k peak."""
    out = []
    for participants in (False, True):
        after = _w3(results, participants, "rtk")
        before = {c.meetings: s for c, _, s in _w3(results, participants, "rtk-before")}
        if not after:
            continue
        mode = "with participants" if participants else "meetings only"
        ref = next((s for c, _, s in after if c.meetings == 20_000), after[0][2])
        ref_before = before.get(20_000) or next(iter(before.values()), None)
        out.append(
            f"#### Memory curve, {mode} (peak RSS MB, median of runs; ratio to the 20,000 peak)\n\n"
            "| meetings | rows | HTTP requests | rtk wall s | rtk CPU ms/req | rtk peak RSS | vs 20k "
            "| before wall s | before CPU ms/req | before peak RSS | vs 20k |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )
        for c, t, s in after:
            b = before.get(c.meetings)
            old = (
                f"{b['wall_s']:.2f} | {b['cpu_ms_per_request']:.3f} | {b['peak_rss_mb']:.0f} "
                f"| {b['peak_rss_mb'] / ref_before['peak_rss_mb']:.2f}x"
                if b and ref_before
                else "- | - | - | -"
            )
            out.append(
                f"| {c.meetings:,} | {t['rows']:,} | {s['requests']:,.0f} | {s['wall_s']:.2f} "
                f"| {s['cpu_ms_per_request']:.3f} | {s['peak_rss_mb']:.0f} "
                f"| {s['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x | {old} |"
            )
        out.append("")
    return "\n".join(out)


def w3_targets(results: list[tuple[Case, dict, dict]]) -> list[str]:
    """Time per row within +-25% across sizes (issue 6) and peak RSS within 1.25x of the 20k peak (issue
    14), for each participants mode.

    Judged on work time per row (the sync itself: interpreter start and imports, a fixed ~1-2 s, are left
    out, as they are no per-row cost); wall and CPU time per row are printed next to it.
    """
    lines = []
    for participants in (True, False):
        rows = _w3(results, participants, "rtk")
        if len(rows) < 2:
            continue
        mode = "with participants" if participants else "meetings only"
        spreads = {}
        for metric in ("work_s", "wall_s", "cpu_s"):
            per_row = [s[metric] / t["rows"] * 1e6 for _, t, s in rows]
            mid = statistics.median(per_row)
            spreads[metric] = (max(abs(x / mid - 1) for x in per_row), per_row)
        spread, per_row = spreads["work_s"]
        detail = "; ".join(
            f"{c.meetings:,}: {work:.1f} us/row work, {wall:.1f} wall, {cpu:.1f} CPU"
            for (c, _, _), work, wall, cpu in zip(
                rows, per_row, spreads["wall_s"][1], spreads["cpu_s"][1], strict=True
            )
        )
        lines.append(
            f"- [{'x' if spread <= 0.25 else ' '}] W3 {mode}: work time per row within +-{spread:.0%} of "
            f"the median (target +-25%; by wall +-{spreads['wall_s'][0]:.0%}, by CPU "
            f"+-{spreads['cpu_s'][0]:.0%}): {detail}"
        )
        from_20k = [(c, s) for c, _, s in rows if c.meetings >= 20_000] or [(c, s) for c, _, s in rows]
        rss = [s["peak_rss_max_mb"] for _, s in from_20k]
        sizes = ", ".join(f"{c.meetings:,}: {s['peak_rss_max_mb']:.0f} MB" for c, s in from_20k)
        lines.append(
            f"- [{'x' if max(rss) <= 1.25 * rss[0] else ' '}] W3 {mode}: peak RSS "
            f"{max(rss) / rss[0]:.2f} x from {from_20k[0][0].meetings:,} to the largest (target <= 1.25): "
            f"{sizes}"
        )
    return lines


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
