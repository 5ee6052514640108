"""`rtk-pipeline verify --start --end`: the data-quality rules of the Dagster asset checks, run without
Dagster over the stored days; one row per day, one column per table and rule, and exit 1 on any failure."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from rtk_pipeline.errors import ConfigError
from rtk_pipeline.quality import Verdict, verify
from rtk_pipeline.settings import API_TOKEN
from rtk_pipeline.store.backends import open_store

_PASS, _FAIL = "[green]pass[/]", "[bold red]FAIL[/]"


def run(args: argparse.Namespace) -> int:
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}")
    store = open_store()
    store.require_existing()  # read-only: a missing warehouse is one line, nothing is created
    token = API_TOKEN.read()  # so a stored copy of the token is found too
    verdicts = verify(store, args.start, args.end, api_token=token)
    console = Console()
    console.print(verdict_table(verdicts, title=f"verify {args.start} .. {args.end} ({store!r})"))
    failed = [v for v in verdicts if not v.passed]
    for v in failed:
        console.print(f"[red]{v.table}.{v.rule} {v.day}[/]: {v.details}", highlight=False)
    columns = len({(v.table, v.rule) for v in verdicts})
    days = len({v.day for v in verdicts})
    console.print(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} passed ({columns} rules x {days} days)"
        + (f"; [bold red]{len(failed)} failed[/]" if failed else "")
    )
    return 1 if failed else 0


def verdict_table(verdicts: list[Verdict], *, title: str) -> Table:
    """Rows are days, columns are table.rule, cells pass/FAIL."""
    columns = list(dict.fromkeys((v.table, v.rule) for v in verdicts))
    cells = {(v.day, v.table, v.rule): v.passed for v in verdicts}
    table = Table(title=title)
    table.add_column("day")
    for name, rule in columns:
        table.add_column(f"{name}\n{rule}", justify="center")
    for day in sorted({v.day for v in verdicts}):
        table.add_row(str(day), *(_PASS if cells[(day, *column)] else _FAIL for column in columns))
    return table
