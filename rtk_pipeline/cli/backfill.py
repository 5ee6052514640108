"""`rtk-pipeline backfill`: sync meetings and participants for a range of UTC days, with a progress bar and
a summary table of what landed and what it cost."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rtk_pipeline.cli.opening import open_app
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.sync import SyncResult, day_range, sync_range

_COLUMNS = (
    TextColumn("[bold]{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TextColumn(
        "days · {task.fields[rows]:,} rows · {task.fields[requests]:,} req · {task.fields[retries]} retries"
    ),
    TimeElapsedColumn(),
)


def run(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}")
    days = list(day_range(args.start, args.end))
    chunks = [days[i : i + args.days_per_run] for i in range(0, len(days), args.days_per_run)]
    client, store = open_app()
    results: list[SyncResult] = []
    rows = 0
    # Transient, and only on a terminal: the summary table says what landed, a failure leaves only its
    # one line on stderr, and a script's log gets no bar.
    console = Console(stderr=True)
    with client, Progress(*_COLUMNS, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("backfill", total=len(days), rows=0, requests=0, retries=0)

        def progress(table: str, n: int) -> None:
            nonlocal rows
            rows += n
            stats = client.stats.snapshot()
            bar.update(task, rows=rows, requests=stats.requests, retries=stats.retries)

        for chunk in chunks:
            results += sync_range(
                client,
                store,
                chunk[0],
                chunk[-1],
                participants=not args.no_participants,
                workers=args.workers,
                progress=progress,
            )
            stats = client.stats.snapshot()
            bar.update(task, advance=len(chunk), rows=rows, requests=stats.requests, retries=stats.retries)
    Console().print(summary_table(results, title=f"backfill {args.start} .. {args.end} -> {store!r}"))
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
