"""One contender run, inside a fresh interpreter started by `run.py` (`python contenders.py KIND SPEC_JSON`).

Kinds: `rtk` (the library path: `sync_range` into a fresh DuckDB file + Parquet folder; `rtk-delta` and
`rtk-delta-s3` the same into Delta tables in a local folder or on moto S3), `dagster`
(`materialize` of the meetings and participants assets over the same partition range, ephemeral
instance, fresh warehouse), `dlt` (`dlt_pipeline.run`) and `floor` (the GETs an rtk run sent, replayed
by a plain sequential `httpx.Client` loop that only reads each body: what the emulator alone costs).
The emulator's address and token come in the environment like a user's settings. The child writes a
JSON report to $BENCH_REPORT: rows per table, what its own client counted, import and work seconds. With
`profile` set in the spec, the work runs under pyinstrument and the profile is saved next to the report.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the run imports rtk_pipeline late, from the checkout it measures
    from rtk_pipeline.store import Store

T_START = time.perf_counter()


def _rtk(spec: dict, workdir: Path, store: str = "duckdb") -> dict:
    import rtk_pipeline
    from rtk_pipeline.client import RealtimeKitClient

    try:
        from rtk_pipeline.settings import ApiSettings as Settings
    except ImportError:  # the `-before` code, from before settings had one module
        from rtk_pipeline.config import Settings  # type: ignore[no-redef]
    from rtk_pipeline.ratelimit import RateLimiter
    from rtk_pipeline.sync import sync_range

    try:  # the `-before` code may predate the rename of its DuckDB backend
        from rtk_pipeline.store import DuckDBStore as Warehouse
    except ImportError:
        from rtk_pipeline.store import Warehouse  # type: ignore[attr-defined, no-redef]

    imported = time.perf_counter()
    settings = Settings.from_env()
    limiter = RateLimiter(*spec["rate_limit"])
    # The `-before` code may predate app_id (one app per warehouse); the same rows either way.
    app: dict[str, Any] = (
        {"app_id": settings.app_id} if "app_id" in inspect.signature(Warehouse).parameters else {}
    )
    if store == "duckdb":
        warehouse: Store = Warehouse(workdir / "rtk.duckdb", workdir / "parquet", **app)
    else:  # a local folder, or a fresh prefix of the run's moto S3 bucket (BENCH_S3_URI + AWS_* settings)
        from rtk_pipeline.store.delta import DeltaStore  # not in the `-before` code, which has no Delta
        from rtk_pipeline.store.delta.objectstore import TableRoot

        uri = str(workdir / "lake") if store == "delta" else f"{os.environ['BENCH_S3_URI']}/{workdir.name}"
        warehouse = DeltaStore(TableRoot.from_env(uri), staging_dir=workdir / "staging", **app)
    with RealtimeKitClient.from_settings(settings, rate_limiter=limiter) as client:
        results = sync_range(
            client,
            warehouse,
            date.fromisoformat(spec["start"]),
            date.fromisoformat(spec["end"]),
            participants=spec["participants"],
            workers=spec["workers"],
        )
        stats = client.stats.snapshot()
    return {
        "imported_at": imported,
        "code": str(Path(rtk_pipeline.__file__).parent),
        "pandas_imported": "pandas" in sys.modules,
        "rows": {r.table: r.rows for r in results},
        "client_requests": stats.requests,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "rate_limit_wait_s": stats.rate_limit_wait_s,
    }


def _dagster(spec: dict, workdir: Path) -> dict:
    os.environ["RTK_DUCKDB_PATH"] = str(workdir / "rtk.duckdb")
    os.environ["RTK_PARQUET_DIR"] = str(workdir / "parquet")
    os.environ["RTK_RATE_LIMIT_REQUESTS"] = str(spec["rate_limit"][0])
    os.environ["RTK_RATE_LIMIT_PERIOD_S"] = str(spec["rate_limit"][1])
    os.environ["RTK_PARTITIONS_START"] = spec["start"]
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster_home")
    Path(os.environ["DAGSTER_HOME"]).mkdir()

    from dagster import AssetKey, DagsterInstance, materialize

    from dagster_defs.definitions import defs

    tables = ["meetings", "participants"] if spec["participants"] else ["meetings"]
    assets = [defs.get_assets_def(AssetKey(["realtimekit", "default", t])) for t in tables]
    imported = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            instance=instance,
            resources=defs.resources,
            tags={
                "dagster/asset_partition_range_start": spec["start"],
                "dagster/asset_partition_range_end": spec["end"],
            },
        )
    try:  # the `-before` code may predate the rename of its DuckDB backend
        from rtk_pipeline.store import DuckDBStore as Warehouse
    except ImportError:
        from rtk_pipeline.store import Warehouse  # type: ignore[attr-defined, no-redef]

    warehouse = Warehouse(workdir / "rtk.duckdb", workdir / "parquet", app_id=os.environ["RTK_APP_ID"])
    with warehouse.connect(read_only=True) as con:
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    return {"imported_at": imported, "rows": rows, "success": result.success}


def _dlt(spec: dict, workdir: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import dlt  # noqa: F401  (timed as import, like the others' imports)
    import dlt_pipeline

    imported = time.perf_counter()
    rows = dlt_pipeline.run(
        workdir,
        base_url=os.environ["RTK_BASE_URL"],
        token=os.environ["CLOUDFLARE_API_TOKEN"],
        account_id=os.environ["CLOUDFLARE_ACCOUNT_ID"],
        app_id=os.environ["RTK_APP_ID"],
        start_day=date.fromisoformat(spec["start"]),
        end_day=date.fromisoformat(spec["end"]),
        participants=spec["participants"],
    )
    return {"imported_at": imported, "rows": rows}


def _floor(spec: dict, workdir: Path) -> dict:
    import httpx

    urls = json.loads(Path(spec["urls_file"]).read_text())
    imported = time.perf_counter()
    root = httpx.URL(os.environ["RTK_BASE_URL"])
    base = f"{root.scheme}://{root.netloc.decode()}"  # the logged paths are absolute
    headers = {"Authorization": f"Bearer {os.environ['CLOUDFLARE_API_TOKEN']}"}
    received = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        for url in urls:
            response = client.get(url)
            response.raise_for_status()
            received += len(response.content)
    return {"imported_at": imported, "rows": {}, "client_requests": len(urls), "bytes": received}


KINDS = {
    "rtk": _rtk,
    "rtk-delta": lambda spec, workdir: _rtk(spec, workdir, "delta"),
    "rtk-delta-s3": lambda spec, workdir: _rtk(spec, workdir, "delta-s3"),
    "dagster": _dagster,
    "dlt": _dlt,
    "floor": _floor,
}


def _rss_split() -> str:
    """Anonymous (heaps, buffer pools) and file-backed (mapped libraries) resident memory: only the first
    is the process's to lower (/proc/self/status)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    anon, mapped = (int(fields[k].split()[0]) >> 10 for k in ("RssAnon", "RssFile"))
    return f"[anon {anon} MB, file {mapped} MB]"


class _MemTrace:
    """RSS every 20 ms with what the main thread was doing (its innermost rtk_pipeline/dagster frames) and
    how much of it is anonymous: tells which phase sets the peak, which outside sampling cannot."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        main = threading.main_thread().ident
        assert main is not None, "the main thread has started"
        self.main = main
        self.samples: list[tuple[float, int, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _where(self) -> str:
        frame = sys._current_frames().get(self.main)
        names: list[str] = []
        while frame is not None and len(names) < 3:
            path = frame.f_code.co_filename
            if "rtk_pipeline" in path or "dagster_defs" in path:
                names.append(f"{Path(path).stem}.{frame.f_code.co_name}")
            frame = frame.f_back
        return " < ".join(names)

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            where = f"{self._where()} {_rss_split()}"
            self.samples.append((time.perf_counter() - T_START, self.proc.memory_info().rss, where))

    def report(self) -> dict:
        self.stop.set()
        self.thread.join()
        peak = max(self.samples, key=lambda s: s[1])
        step = max(1, len(self.samples) // 60)
        return {
            "peak": [round(peak[0], 2), peak[1] >> 20, peak[2]],
            "timeline": [[round(t, 2), rss >> 20, where] for t, rss, where in self.samples[::step]],
        }


def main(kind: str, spec: dict) -> None:
    workdir = Path(spec["workdir"])
    report_path = Path(os.environ["BENCH_REPORT"])
    profiler = None
    memtrace = _MemTrace() if spec.get("memtrace") else None
    if spec.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    report = KINDS[kind](spec, workdir)
    end = time.perf_counter()
    imported = report.pop("imported_at")
    report.update(import_s=imported - T_START, work_s=end - imported, inside_s=end - T_START)
    if profiler is not None:
        profiler.stop()
        base = Path(spec["profile"])
        base.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        base.with_suffix(".html").write_text(profiler.output_html())
        report["profile"] = str(base)
    if memtrace is not None:
        report["memtrace"] = memtrace.report()
    report_path.write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
