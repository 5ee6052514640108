"""Notebook helper: any warehouse table, view or query as a pandas DataFrame.

    from rtk_pipeline.frames import read_table
    read_table("meetings_per_day")
    read_table("stale_candidates(7, now())")
    read_table("SELECT status, count(*) AS n FROM meetings GROUP BY ALL")
    read_table("SELECT * FROM meetings WHERE created_day = ?", params=[date(2026, 10, 1)])

The connection is read-only and closed right after, so a notebook never blocks a running sync for longer
than one query (and waits, bounded, if a sync is committing at that moment).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rtk_pipeline.settings import DUCKDB_PATH
from rtk_pipeline.store import query_file


def read_table(
    name_or_sql: str,
    duckdb_path: str | Path | None = None,
    *,
    params: Sequence | dict | None = None,
    busy_timeout: float = 30.0,
) -> pd.DataFrame:
    """A table/view name, a table-macro call or a SELECT, read from `duckdb_path` (default: RTK_DUCKDB_PATH).

    Timestamps come back as UTC-aware datetimes.
    """
    path = Path(duckdb_path) if duckdb_path else DUCKDB_PATH.read()
    return query_file(path, name_or_sql, params, busy_timeout=busy_timeout)
