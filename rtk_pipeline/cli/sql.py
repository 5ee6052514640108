"""`rtk-pipeline sql QUERY`: the analyst's door to either backend, with the views of `sql/views`.

With `RTK_STORE=delta` the store reads an in-memory DuckDB over the Delta tables (registered as Arrow
datasets, so the pinned DuckDB needs no extension); otherwise the analysts' file, read-only like any session
(its views read immutable Parquet snapshots, so a long query never holds what a sync writes). Same SQL, same
answers; the tables and views hold every app's rows, each with its `app_id`.

Read-only in every sense: a missing warehouse is refused (nothing is created), one SELECT runs, and DuckDB
reaches no file outside the data (store/sandbox.py). Every error is one line. In Python the same door is
`rtk_pipeline.frames.read_table`.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from rtk_pipeline.store import as_frame
from rtk_pipeline.store.backends import open_store


def run(args: argparse.Namespace) -> int:
    frame = as_frame(open_store().query_sandboxed(args.query))
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso") + "\n")
    else:
        table = Table(*map(str, frame.columns))
        for row in frame.itertuples(index=False):
            table.add_row(*("" if value is None else str(value) for value in row))
        Console().print(table)
        Console(stderr=True).print(f"{len(frame)} row(s)")
    return 0
