"""The deactivation audit written to DuckDB: settle earlier rows in place, insert new ones, in the caller's
transaction and under the store's app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from rtk_pipeline.schemas import APP_ID, DEACTIVATIONS_SCHEMA
from rtk_pipeline.store.records import Deactivation

_AUDIT_COLUMNS = DEACTIVATIONS_SCHEMA.names
# Deactivation's fields in audit-column order; `recorded_at` is written as the row's first `decided_at`,
# `app_id` is the store's.
_AUDIT_FIELDS = [name if name != "recorded_at" else "decided_at" for name in _AUDIT_COLUMNS if name != APP_ID]


def record(
    con: duckdb.DuckDBPyConnection, app_id: str, new: Sequence[Deactivation], settled: Sequence[Deactivation]
) -> None:
    """Settle the app's earlier rows in place (same attempt_id), insert the new ones under the app."""
    if settled:
        con.executemany(
            "UPDATE meeting_deactivations SET decision = ?, http_status = ?, detail = ?, error = ?, "
            "decided_at = ? WHERE attempt_id = ? AND app_id = ?",
            [
                [r.decision, r.http_status, r.detail, r.error, r.decided_at, r.attempt_id, app_id]
                for r in settled
            ],
        )
    if new:
        con.executemany(
            f"INSERT INTO meeting_deactivations ({', '.join(_AUDIT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _AUDIT_COLUMNS)})",
            [[*(_plain(getattr(row, name)) for name in _AUDIT_FIELDS), app_id] for row in new],
        )


def _plain(value: Any) -> Any:
    """A str subclass (the stale Outcome enum) as a plain str, which the DuckDB driver binds."""
    return str(value) if isinstance(value, str) else value
