"""Opening DuckDB: bounded waits while another process holds the file, in-memory connections, and one typed
error for a failed statement."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from rtk_pipeline.errors import WarehouseBusyError, WarehouseError


@contextmanager
def as_warehouse_error(doing: str) -> Iterator[None]:
    """A DuckDB error becomes a WarehouseError naming what was being done, so callers get one typed error
    and the CLI a one-line cause (a failed transaction has already been rolled back)."""
    try:
        yield
    except duckdb.Error as exc:
        raise WarehouseError(f"{doing} the warehouse failed: {type(exc).__name__}: {exc}") from exc


def held_elsewhere(exc: BaseException) -> bool:
    """Whether DuckDB refused an open because another connection holds the file (a lock conflict, or this
    process has it open with another configuration)."""
    return "lock" in str(exc) or "different configuration" in str(exc)


def holder(exc: BaseException) -> str:
    """The " (PID n)" that DuckDB's lock error names as the file's holder, else an empty string."""
    found = _HOLDER_PID.search(str(exc))
    return f" (PID {found.group(1)})" if found else ""


def connect_duckdb(
    path: Path,
    *,
    read_only: bool,
    busy_timeout: float = 30.0,
    damaged_hint: str = "",
    writer_busy: Callable[[], bool] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (bounded) while another process has it open; session time zone UTC.

    DuckDB lets one process write a file and refuses everyone else meanwhile, so a reader may briefly
    block a commit and a commit may briefly block a reader: both sides retry instead of failing. A file
    that is not a whole DuckDB database (truncated, zeroed, random bytes) is one WarehouseError naming it,
    followed by `damaged_hint` (what to do about it). `writer_busy`: whether the pipeline is writing now;
    when the file stays held while it is not (an analyst's read-write session, which may last all day),
    waiting is pointless and the error says who to ask after `HELD_GRACE` seconds.
    """
    deadline = time.monotonic() + busy_timeout
    idle_since: float | None = None  # when the file was first seen held while the pipeline was not writing
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            message = str(exc)
            if not held_elsewhere(exc):
                if _DAMAGED.search(message):
                    raise damaged(path, message, damaged_hint) from None
                raise
            now = time.monotonic()
            idle_since = None if writer_busy is None or writer_busy() else (idle_since or now)
            if idle_since is not None and now - idle_since >= HELD_GRACE:
                raise WarehouseBusyError(
                    f"DuckDB file {path} is open read-write in another process{holder(exc)} that is not "
                    "a pipeline write (a session opened without read_only?): close that session or reopen "
                    "it read-only (duckdb -readonly, or read_only=True), then retry"
                ) from None
            if now >= deadline:
                raise WarehouseBusyError(
                    f"DuckDB file {path} stayed locked by another connection for {busy_timeout:g}s "
                    f"({'read-only' if read_only else 'read-write'} open refused: {message.splitlines()[0]})"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        except (duckdb.InternalException, duckdb.SerializationException) as exc:
            raise damaged(path, str(exc), damaged_hint) from None
        try:
            _check_whole(con, path, damaged_hint)
        except BaseException:
            con.close()
            raise
        con.execute("SET TimeZone = 'UTC'")
        return con


# How long a file may stay held while the pipeline is not writing before a reader stops waiting for it: a
# pipeline write takes the write lock before it opens the file, so this covers only that short gap.
HELD_GRACE = 2.0
# Where DuckDB's lock error names the process holding the file.
_HOLDER_PID = re.compile(r"\(PID (\d+)\)")
# What DuckDB says when a file's bytes are not a database (or not all of one).
_DAMAGED = re.compile(r"not a valid DuckDB database|Could not read enough bytes|checksum|[Cc]orrupt")
_HEADER_BYTES = 3 * 4096  # the file header and its two database headers, before the first block


# Less free space than this beside a damaged file: the likely cause is a full disk, which the user must fix
# before a repair can write anything.
_NEARLY_FULL_BYTES = 1 << 20


def damaged(path: Path, message: str, hint: str) -> WarehouseError:
    first = message.strip().splitlines()[0] if message.strip() else "unreadable"
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = _NEARLY_FULL_BYTES
    if free < _NEARLY_FULL_BYTES:
        hint = (
            f": the disk is full ({free} bytes free beside it); free space or point RTK_DUCKDB_PATH / "
            f"RTK_PARQUET_DIR elsewhere{hint.replace(':', ', then', 1) if hint else ''}"
        )
    return WarehouseError(f"the DuckDB file {path} is damaged ({first}){hint}")


def _check_whole(con: duckdb.DuckDBPyConnection, path: Path, hint: str) -> None:
    """DuckDB writes whole blocks after its header, so a file of another length was cut short: DuckDB would
    answer some reads from it and fail others. (The file's length, not the block count, which counts
    blocks this process may hold in memory only.)"""
    try:
        row = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    except duckdb.Error:
        return
    size = path.stat().st_size
    if row and row[0] and (size < _HEADER_BYTES or (size - _HEADER_BYTES) % row[0]):
        raise damaged(path, f"{size} bytes is not a whole number of {row[0]}-byte blocks", hint)


def memory_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB (session time zone UTC), e.g. to read staged Parquet part files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of the main schema's `table`, in order."""
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def iter_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | None, size: int = 10_000
) -> Iterator[tuple]:
    """Rows of a query fetched in batches, so a long scan never becomes one list."""
    cursor = con.execute(sql, params)
    while batch := cursor.fetchmany(size):
        yield from batch


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence | Mapping | None = None) -> tuple:
    """The single row of an aggregate query (count(*), an INSERT's row count)."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise WarehouseError(f"expected one row from {sql.split()[0]} ..., got none")
    return row
