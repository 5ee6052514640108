"""`rtk-pipeline` command: demo, dev, emulator, backfill, deactivate-stale.

Each subcommand is a thin shell over a library function, so the CLI and the Dagster assets load the same
data. Failures end with a one-line cause on stderr and a non-zero exit, never a traceback of secrets.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.config import Settings
from rtk_pipeline.errors import ConfigError, RTKError
from rtk_pipeline.store import Warehouse
from rtk_pipeline.sync import SyncResult, day_range, sync_range

err_console = Console(stderr=True)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    from rtk_pipeline import emulator, stale

    parser = argparse.ArgumentParser(prog="rtk-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="emulator + Dagster backfill + stale deactivation, then a summary")
    demo.add_argument("--meetings", type=_positive, default=3000)
    demo.add_argument("--days", type=_positive, default=30)
    demo.add_argument("--seed", type=int, default=7)

    sub.add_parser("dev", help="start the emulator and `dagster dev` together (Ctrl-C stops both)")

    emu = sub.add_parser("emulator", help="serve the RealtimeKit API locally")
    emulator.add_cli_arguments(emu)

    backfill = sub.add_parser("backfill", help="sync meetings and participants for UTC days (inclusive)")
    backfill.add_argument("--start", type=_day, required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--end", type=_day, required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--no-participants", action="store_true", help="meetings only")
    backfill.add_argument("--workers", type=_positive, default=8, help="concurrent participant listings")
    backfill.add_argument(
        "--days-per-run", type=_positive, default=31, help="days per listing and commit (as Dagster's policy)"
    )

    deactivate = sub.add_parser("deactivate-stale", help="PATCH stale ACTIVE meetings to INACTIVE")
    deactivate.add_argument(
        "--stale-after-days", type=_positive, default=None, help="idle days before a meeting is stale (30)"
    )
    deactivate.add_argument("--max", type=_positive, default=None, help="deactivations per run at most (50)")
    deactivate.add_argument("--dry-run", action="store_true", help="decide and audit, send no PATCH")
    stale.add_cli_arguments(deactivate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args)
    except (RTKError, ValueError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


def _demo(args: argparse.Namespace) -> int:
    from dagster_defs.demo import run_demo  # the CLI's only Dagster import: the demo runs the real assets

    return run_demo(meetings=args.meetings, days=args.days, seed=args.seed)


def _dev(args: argparse.Namespace) -> int:
    from dagster_defs.dev import run_dev

    return run_dev()


def _emulator(args: argparse.Namespace) -> int:
    from rtk_pipeline import emulator

    config, faults = emulator.config_from_args(args)
    emulator.serve(config, faults, host=args.host, port=args.port)
    return 0


def _open(settings: Settings) -> tuple[RealtimeKitClient, Warehouse]:
    client = RealtimeKitClient.from_settings(settings)
    return client, Warehouse(settings.duckdb_path, settings.parquet_dir)


def _backfill(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}")
    settings = Settings.from_env()
    days = list(day_range(args.start, args.end))
    chunks = [days[i : i + args.days_per_run] for i in range(0, len(days), args.days_per_run)]
    client, warehouse = _open(settings)
    results: list[SyncResult] = []
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "days · {task.fields[rows]:,} rows · {task.fields[requests]:,} req"
            " · {task.fields[retries]} retries"
        ),
        TimeElapsedColumn(),
    )
    rows = 0
    with client, Progress(*columns, console=err_console, transient=False) as bar:
        task = bar.add_task("backfill", total=len(days), rows=0, requests=0, retries=0)

        def progress(table: str, n: int) -> None:
            nonlocal rows
            rows += n
            stats = client.stats.snapshot()
            bar.update(task, rows=rows, requests=stats.requests, retries=stats.retries)

        for chunk in chunks:
            results += sync_range(
                client,
                warehouse,
                chunk[0],
                chunk[-1],
                participants=not args.no_participants,
                workers=args.workers,
                progress=progress,
            )
            stats = client.stats.snapshot()
            bar.update(task, advance=len(chunk), rows=rows, requests=stats.requests, retries=stats.retries)
    Console().print(
        summary_table(results, title=f"backfill {args.start} .. {args.end} -> {settings.duckdb_path}")
    )
    return 0


def summary_table(results: list[SyncResult], *, title: str) -> Table:
    """One row per synced window: what landed and what it cost."""
    table = Table(title=title)
    for name in ("table", "days", "rows", "rejected", "requests", "retries", "429s", "seconds"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for r in results:
        days = f"{r.start_day}..{r.end_day}" if r.end_day != r.start_day else str(r.start_day)
        table.add_row(
            r.table,
            days,
            f"{r.rows:,}",
            f"{r.rejected:,}",
            f"{r.requests:,}",
            str(r.retries),
            str(r.throttled),
            f"{r.seconds:.2f}",
        )
    return table


def _deactivate_stale(args: argparse.Namespace) -> int:
    from rtk_pipeline import stale

    settings = Settings.from_env()
    client, warehouse = _open(settings)
    with client:
        decisions = stale.deactivate_stale(client, warehouse, **stale.kwargs_from_args(args))
    stale.print_decisions(decisions, console=Console())
    # Cron users need to see a failed PATCH in the exit code; the table says which meeting.
    return 1 if any(d.decision == stale.FAILED for d in decisions) else 0


COMMANDS = {
    "demo": _demo,
    "dev": _dev,
    "emulator": _emulator,
    "backfill": _backfill,
    "deactivate-stale": _deactivate_stale,
}

if __name__ == "__main__":
    sys.exit(main())
