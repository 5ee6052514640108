"""Opening DuckDB: bounded waits while another process holds the file, a connection that carries the write
lock, the SQL files shipped with the package, and the few quoting helpers the store's SQL needs."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from rtk_pipeline.errors import WarehouseBusyError, WarehouseError
from rtk_pipeline.nopandas import pandas_ready

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; a backfill never needs it
    import pandas as pd


def sql_dir() -> Traversable:
    """The `sql/` folder (shipped inside the package as `rtk_pipeline.sql`): tables first, then views."""
    return files("rtk_pipeline.sql")


def _sql_in(folder: Traversable) -> list[Traversable]:
    return sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)


def sql_files() -> list[Traversable]:
    """The DDL files in the order they apply: `sql/*.sql`, then `sql/views/*.sql`, each sorted by name."""
    return _sql_in(sql_dir()) + _sql_in(sql_dir() / "views")


def table_sql() -> list[str]:
    """The tables' DDL (`sql/*.sql`): the pipeline's state only."""
    return [path.read_text(encoding="utf-8") for path in _sql_in(sql_dir())]


def view_sql() -> list[str]:
    """The analyst views and macro (`sql/views/*.sql`): defined in the state and in the analysts' file."""
    return [path.read_text(encoding="utf-8") for path in _sql_in(sql_dir() / "views")]


def q(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def file_part(text: str) -> str:
    """`text` as one part of a file name: kept when it is plain, else a digest of it (no separators)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", text):
        return text
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:16]


def days_sql(days: Iterable[date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) or "NULL"


def files_sql(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(lit(str(f)) for f in paths) + "]"


def as_days(days: Iterable[date]) -> frozenset[date]:
    out = set()
    for d in days:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(f"days must be datetime.date values (UTC days), got {d!r}")
        out.add(d)
    return frozenset(out)


@contextmanager
def as_warehouse_error(doing: str) -> Iterator[None]:
    """A DuckDB error becomes a WarehouseError naming what was being done, so callers get one typed error
    and the CLI a one-line cause (a failed transaction has already been rolled back)."""
    try:
        yield
    except duckdb.Error as exc:
        raise WarehouseError(f"{doing} the warehouse failed: {type(exc).__name__}: {exc}") from exc


def connect_duckdb(path: Path, *, read_only: bool, busy_timeout: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (bounded) while another process has it open; session time zone UTC.

    DuckDB lets one process write a file and refuses everyone else meanwhile, so a reader may briefly
    block a commit and a commit may briefly block a reader: both sides retry instead of failing.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            message = str(exc)
            if "lock" not in message and "different configuration" not in message:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"DuckDB file {path} stayed locked by another connection for {busy_timeout:g}s "
                    f"({'read-only' if read_only else 'read-write'} open refused: {message.splitlines()[0]})"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        con.execute("SET TimeZone = 'UTC'")
        return con


def memory_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (session time zone UTC), e.g. to read staged Parquet part files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_TABLE_CALL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(.*\)$", re.DOTALL)


def as_query(name_or_sql: str) -> str:
    """`meetings` -> SELECT * FROM "meetings"; `stale_candidates(7, now())` -> SELECT * FROM it; SQL as is."""
    text = name_or_sql.strip().rstrip(";").strip()
    if _IDENTIFIER.match(text):
        return "SELECT * FROM " + ".".join(q(part) for part in text.split("."))
    if _TABLE_CALL.match(text) and text.split("(")[0].strip().lower() not in {"select", "with", "values"}:
        return "SELECT * FROM " + text
    return text


def query_df(
    duckdb_path: Path, name_or_sql: str, params: Sequence | dict | None = None, *, busy_timeout: float = 30.0
) -> pd.DataFrame:
    """A table, view, table macro call or SELECT as a DataFrame, through a short read-only connection."""
    con = connect_duckdb(Path(duckdb_path), read_only=True, busy_timeout=busy_timeout)
    try:
        frame = con.execute(as_query(name_or_sql), params).df()
    finally:
        con.close()
    pandas_ready()
    return frame


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


def utc(value: datetime | None) -> datetime | None:
    """A DuckDB TIMESTAMPTZ value as a `datetime.UTC` datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SharedReads:
    """Mixed into a backend: inside `reading()`, every `connect(read_only=True)` of this thread returns the
    same connection (left open), so a check's few queries see one state and open the warehouse once."""

    def _open_reader(self) -> Any:
        raise NotImplementedError

    def _reader(self) -> Any:
        """The pinned connection (not to be closed by the caller), or a fresh one of its own."""
        pinned = getattr(self._pins(), "con", None)
        return nullcontext(pinned) if pinned is not None else self._open_reader()

    def _pins(self) -> threading.local:
        return self.__dict__.setdefault("_shared_reads", threading.local())

    @contextmanager
    def reading(self) -> Iterator[None]:
        pins = self._pins()
        if getattr(pins, "con", None) is not None:
            yield
            return
        pins.con = self._open_reader()
        try:
            yield
        finally:
            con, pins.con = pins.con, None
            con.close()
