"""A read-write DuckDB connection that carries the warehouse write lock until it is closed."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import duckdb


class LockedConnection:
    """A read-write DuckDB connection that holds the warehouse write lock until closed.

    Behaves like the DuckDB connection it wraps (attribute access is forwarded), so `with wh.connect() as con`
    code needs no change, and a writer outside `commit()` is serialized with every other writer too.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        release: Callable[[], Any],
        finish: Callable[[duckdb.DuckDBPyConnection], Any],
    ) -> None:
        self._con = con
        self._finalizer = weakref.finalize(self, _close_and_release, con, release, finish)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> LockedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_and_release(
    con: duckdb.DuckDBPyConnection,
    release: Callable[[], Any],
    finish: Callable[[duckdb.DuckDBPyConnection], Any],
) -> None:
    try:
        try:
            finish(con)  # e.g. publish what the connection changed, before anyone else may write
        finally:
            con.close()
    finally:
        release()
