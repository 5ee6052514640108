"""`rtk-pipeline repair`: rebuild the pipeline's private DuckDB state from the Parquet mirror (every table,
the audit and the sync history) and re-create the analysts' file; on Delta, check the tables (the log is the
state) and say what was found. Damaged files are set aside, never deleted."""

from __future__ import annotations

import argparse

from rich.console import Console

from rtk_pipeline.store.backends import open_store


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    for line in open_store().repair():
        console.print(line, markup=False)
    return 0
