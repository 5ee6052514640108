"""Where reads get a connection: a backend's factory of read-only DuckDB connections, pinned per thread
inside `reading()` so a check's few queries see one state and open the warehouse once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import duckdb

Opener = Callable[[], duckdb.DuckDBPyConnection]


class ReadConnections:
    """Read-only connections from `open_reader` (the DuckDB file, or an in-memory DuckDB over Delta)."""

    def __init__(self, open_reader: Opener) -> None:
        self._open_reader = open_reader
        self._pins = threading.local()

    def connection(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """The pinned connection (left open), or a fresh one (a DuckDB connection closes itself when its
        `with` block ends)."""
        pinned = getattr(self._pins, "con", None)
        return nullcontext(pinned) if pinned is not None else self._open_reader()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside share one read-only connection (this thread's); nested calls reuse it."""
        if getattr(self._pins, "con", None) is not None:
            yield
            return
        self._pins.con = self._open_reader()
        try:
            yield
        finally:
            con, self._pins.con = self._pins.con, None
            con.close()
