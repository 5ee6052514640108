"""Benchmark plumbing: the emulator in its own process, and contenders measured in fresh subprocesses.

The emulator runs in a separate process (`python benchmarks/harness.py emulator CONFIG_JSON`) so its
CPU never competes with a contender's GIL. The harness talks to it over stdin/stdout, one JSON line per
command: `mark` (clear the request log, remember the counters), `since` (what happened after the mark:
request count, statuses, lockouts, each request's arrival time from the emulator's log), `faults JSON`
(change fault knobs), `quit`.

Every contender runs in a fresh interpreter, so its peak RSS is its own: the parent polls the child's
process tree with psutil and, when the child exits, reads the kernel's exact high-water mark of the child
from `os.wait4` (ru_maxrss); the figure reported is the larger of the two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable


def child_env(extra: dict | None = None, root: Path = REPO) -> dict:
    """Environment of every child: `root`'s code importable first (ahead of the editable install), so
    a checkout of another revision (see `checkout`) runs its own rtk_pipeline and dagster_defs."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def checkout(revision: str, into: Path) -> Path:
    """The tree of `revision` (rtk_pipeline/, dagster_defs/, sql/) extracted under `into`, once.

    Used for the "before" contenders: the same harness and venv, the older library first on PYTHONPATH
    (the dependencies are pinned in constraints.txt and did not change), so before and after are measured
    side by side against the same emulator in one run.
    """
    full = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = into / f"rev-{full[:12]}"
    if not (tree / "rtk_pipeline" / "__init__.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", full, "rtk_pipeline", "dagster_defs", "sql"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    # The editable install maps `rtk_pipeline.sql` to the work tree's sql/; a real package here is found
    # first on PYTHONPATH, so the older library reads its own DDL and views.
    shipped = tree / "rtk_pipeline" / "sql"
    if not shipped.exists():
        shipped.symlink_to(Path("..") / "sql", target_is_directory=True)
    return tree


# ---------------------------------------------------------------- emulator process (server side)


def _serve_emulator(config: dict) -> None:
    """Run one Emulator until stdin says `quit`; answer the harness's commands on stdout."""
    from datetime import datetime

    from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults

    cfg = dict(config["config"])
    if "end" in cfg:
        cfg["end"] = datetime.fromisoformat(cfg["end"])
    out = sys.stdout
    sys.stdout = sys.stderr  # anything the emulator prints must not corrupt the protocol
    cfg.setdefault("request_log_limit", 2_000_000)
    started = time.perf_counter()
    with Emulator(EmulatorConfig(**cfg), Faults(**_faults(config.get("faults", {})))) as emu:
        meetings = emu.meetings()
        hello = {
            "base_url": emu.base_url,
            "token": emu.token,
            "account_id": emu.account_id,
            "app_id": emu.app_id,
            "setup_s": round(time.perf_counter() - started, 2),
            "meetings_by_day": _by_day(meetings),
            "participants_by_day": _participants_by_day(emu, meetings) if cfg["participants_mean"] else {},
            "pid": os.getpid(),
        }
        del meetings
        _reply(out, hello)
        before = emu.stats
        for line in sys.stdin:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "mark":
                emu.clear_requests()
                before = emu.stats
                _reply(out, {"requests": before["requests"]})
            elif cmd == "since":
                _reply(out, _since(emu, before, urls=arg == "urls"))
            elif cmd == "faults":
                emu.set_faults(**_faults(json.loads(arg)))
                _reply(out, {"ok": True})
            elif cmd == "quit":
                break


def _since(emu, before: dict, *, urls: bool = False) -> dict:
    """Requests since the last mark, by status, with the arrival time of each (the emulator's own) and,
    if asked, each GET's path and query (what the floor contender replays)."""
    now = emu.stats
    statuses = {
        str(k): n - before["by_status"].get(k, 0)
        for k, n in now["by_status"].items()
        if n - before["by_status"].get(k, 0)
    }
    log = emu.requests
    endpoints: dict[str, int] = {}
    for r in log:
        endpoints[str(r.endpoint)] = endpoints.get(str(r.endpoint), 0) + 1
    return {
        "endpoints": endpoints,
        "requests": now["requests"] - before["requests"],
        "statuses": statuses,
        "lockouts": now["lockouts"] - before["lockouts"],
        "times": [r.timestamp for r in log],
        "urls": [f"{r.path}?{urlencode(r.query)}" for r in log if r.method == "GET"] if urls else [],
    }


def _faults(raw: dict) -> dict:
    faults = dict(raw)
    if isinstance(faults.get("rate_limit"), list):
        faults["rate_limit"] = tuple(faults["rate_limit"])
    return faults


def _by_day(meetings: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in meetings:
        day = m["created_at"][:10]
        counts[day] = counts.get(day, 0) + 1
    return counts


def _participants_by_day(emu, meetings: list[dict]) -> dict[str, list[int]]:
    """Per creation day, each meeting's participant count (for row totals and the request minimum)."""
    counts: dict[str, list[int]] = {}
    for m in meetings:
        counts.setdefault(m["created_at"][:10], []).append(len(emu.participants(m["id"])))
    return counts


def _reply(out, obj: dict) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


# ---------------------------------------------------------------- emulator process (harness side)


class EmulatorProcess:
    """Handle on an emulator subprocess; `with EmulatorProcess(config, faults) as emu: emu.base_url`."""

    def __init__(self, config: dict, faults: dict | None = None, root: Path = REPO) -> None:
        self.spec = {"config": config, "faults": faults or {}}
        self.root = root  # whose rtk_pipeline.emulator serves

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), "emulator", json.dumps(self.spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=child_env(root=self.root),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None, "both are pipes"
        self._to, self._from = self.proc.stdin, self.proc.stdout
        hello = self._read()
        self.info = hello
        self.base_url = hello["base_url"]
        self.env = {
            "CLOUDFLARE_API_TOKEN": hello["token"],
            "CLOUDFLARE_ACCOUNT_ID": hello["account_id"],
            "RTK_APP_ID": hello["app_id"],
            "RTK_BASE_URL": hello["base_url"],
        }
        self.pid = hello["pid"]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._send("quit")
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def _send(self, line: str) -> None:
        self._to.write(line + "\n")
        self._to.flush()

    def _read(self) -> dict:
        line = self._from.readline()
        if not line:
            raise RuntimeError(f"emulator process exited (code {self.proc.poll()})")
        return json.loads(line)

    def ask(self, line: str) -> dict:
        self._send(line)
        return self._read()

    def mark(self) -> None:
        """Start counting afresh (clears the emulator's request log)."""
        self.ask("mark")

    def since(self, *, urls: bool = False) -> dict:
        """Requests since the last mark: count, statuses, lockouts, arrival times (and URLs if asked)."""
        return self.ask("since urls" if urls else "since")

    def set_faults(self, **faults) -> None:
        self.ask("faults " + json.dumps(faults))

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system


# ---------------------------------------------------------------- contenders in fresh subprocesses


@dataclass
class Measured:
    """One contender run as the parent saw it, plus what the child reported about itself."""

    wall_s: float
    cpu_s: float  # user + system CPU of the child (and any children it waited for)
    peak_rss_mb: float
    returncode: int
    report: dict = field(default_factory=dict)
    stderr_tail: str = ""


def run_measured(cmd: list[str], *, env: dict, timeout: float, poll_s: float = 0.02) -> Measured:
    """Run `cmd` in a fresh process; wall time from spawn to exit, peak RSS of the process tree.

    The child writes its own JSON report to the file named by $BENCH_REPORT.
    """
    report_path = Path(env["BENCH_REPORT"])
    report_path.unlink(missing_ok=True)
    stderr_path = report_path.with_suffix(".stderr")
    peak = 0
    with open(stderr_path, "w") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)
        ps = psutil.Process(proc.pid)
        deadline = t0 + timeout
        status = None
        while status is None:
            try:
                rss = ps.memory_info().rss + sum(_rss(c) for c in ps.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            pid, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = wstatus
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(poll_s)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(peak, usage.ru_maxrss * 1024)  # Linux reports KiB
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    tail = stderr_path.read_text()[-3000:] if proc.returncode else ""
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(wall, cpu, peak / 2**20, proc.returncode, report, tail)


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


def max_in_window(times: list[float], window: float) -> int:
    """Largest number of arrival times inside any half-open window of `window` seconds."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# Where a sample's time goes: the first rule matching its frames, scanning from the innermost frame out,
# so pyarrow/duckdb calls count for the rtk module that made them and json.loads inside the client is JSON.
_CATEGORIES = (
    ("JSON decoding", ("json/", "orjson", "simplejson")),
    (
        "HTTP (httpx/httpcore/h11, sockets)",
        ("httpx/", "httpcore/", "h11/", "socket.py", "ssl.py", "requests/", "urllib3/"),
    ),
    ("normalize: records -> Arrow", ("rtk_pipeline/normalize.py",)),
    ("normalize: scrubbing", ("rtk_pipeline/secrets.py",)),
    ("store: Parquet staging, DuckDB commit, Parquet export", ("rtk_pipeline/store", "duckdb/", "parquet")),
    (
        "client: paging checks, retries, rate limiter",
        ("rtk_pipeline/client", "rtk_pipeline/ratelimit.py", "tenacity/"),
    ),
    ("sync engine + thread pool", ("rtk_pipeline/sync.py", "concurrent/futures", "threading.py", "queue.py")),
    ("Dagster", ("dagster",)),
    ("dlt", ("dlt/",)),
)


def where_time_goes(raw: Path, wall_s: float, rate: int = 200) -> str:
    """Summarize a py-spy `--gil -f raw` profile by category: seconds the GIL was held for each."""
    seconds: dict[str, float] = {}
    total = 0.0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        spent = int(count) / rate
        total += spent
        frames = stack.split(";")
        if any("importlib._bootstrap" in f for f in frames):
            category = "imports"
        else:
            category = next(
                (
                    name
                    for frame in reversed(frames)
                    for name, needles in _CATEGORIES
                    if any(n in frame for n in needles)
                ),
                "other",
            )
        seconds[category] = seconds.get(category, 0.0) + spent
    lines = [
        f"GIL held {total:.1f} s of {wall_s:.1f} s wall ({total / wall_s:.0%}); by category:",
        *(
            f"  {s:7.1f} s {s / total:6.1%}  {name}"
            for name, s in sorted(seconds.items(), key=lambda kv: -kv[1])
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "emulator":
        _serve_emulator(json.loads(sys.argv[2]))
    else:
        sys.exit("usage: harness.py emulator CONFIG_JSON (started by benchmarks/run.py)")
