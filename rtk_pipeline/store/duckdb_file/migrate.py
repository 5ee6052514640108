"""First run after an upgrade: an older release's warehouse becomes this one's, with its rows filed under the
opening store's app.

Single-app releases (up to 3daa79f) have no `app_id` column: `add_missing_columns` adds it to each table,
fills it with the app of the first store that opens the warehouse and makes it NOT NULL, in the schema's
transaction under the write lock (a second opener finds the columns and does nothing).

Releases up to 8942299 kept every table in `RTK_DUCKDB_PATH` itself. On the first run of this one, before
anything else, its tables are copied into the new private state file, which is built under a temporary
name and moved into place only once every table's row count matches: a run killed halfway leaves no state
and the next run starts over. The old file is only read (attached read-only, so analysts holding it
read-only do not stop the copy); its tables are turned into views afterwards (`analysts.refresh_file`),
whenever no session holds it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from rtk_pipeline.errors import WarehouseBusyError, WarehouseError
from rtk_pipeline.schemas import APP_ID
from rtk_pipeline.store.connect import one
from rtk_pipeline.store.ddl import duckdb_type
from rtk_pipeline.store.duckdb_file.analysts import RELEASE_TABLES
from rtk_pipeline.store.sqltext import lit, q

log = logging.getLogger(__name__)


class MigrationBusyError(WarehouseBusyError):
    """The older release's file is held read-write by another process, so it cannot be read to migrate."""


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
            "AND table_schema = 'main' AND table_name = ?",
            [table],
        ).fetchall()
    }


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return column in _columns(con, table)


def has_app_columns(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the state's meetings table has its app_id column (false for a single-app release's)."""
    return _has_column(con, "meetings", APP_ID)


def lacks_columns(con: duckdb.DuckDBPyConnection, schemas: dict[str, pa.Schema]) -> bool:
    """Whether an existing table lacks a column `schemas` declare: an older release's state, which
    `add_missing_columns` brings up to date (a release before participants_synced_at has app_id but not
    that column, and the refresh's reads select it)."""
    for table, schema in schemas.items():
        have = _columns(con, table)
        if have and any(field.name not in have for field in schema):
            return True
    return False


def read_as_declared(con: duckdb.DuckDBPyConnection, schemas: dict[str, pa.Schema]) -> None:
    """On a read-only connection to a state an older release wrote, temporary views in front of the tables
    that lack a later column, with that column null: a read-only command reads it as the release left it,
    without migrating (the first write does that)."""
    database = con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    for table, schema in schemas.items():
        have = _columns(con, table)
        missing = [field for field in schema if have and field.name not in have]
        if missing:
            nulls = ", ".join(f"CAST(NULL AS {duckdb_type(f)}) AS {q(f.name)}" for f in missing)
            con.execute(
                f"CREATE TEMP VIEW {q(table)} AS SELECT *, {nulls} FROM {q(database)}.main.{q(table)}"
            )


def add_missing_columns(
    con: duckdb.DuckDBPyConnection, schemas: dict[str, pa.Schema], app_id: str
) -> set[str]:
    """Add the columns `schemas` declare to the existing tables that lack them (in the caller's
    transaction); an added app_id is filled with `app_id` and set NOT NULL. Returns the tables widened."""
    widened, stamped = set(), []
    for table, schema in schemas.items():
        have = _columns(con, table)
        for field in schema:
            if not have or field.name in have:
                continue
            column = f"{q(table)} ADD COLUMN {q(field.name)} {duckdb_type(field)}"
            if field.name == APP_ID:  # every row of a single-app release belongs to the opening store's app
                con.execute(f"ALTER TABLE {column} DEFAULT {lit(app_id)}")
                con.execute(f"ALTER TABLE {q(table)} ALTER COLUMN {q(APP_ID)} DROP DEFAULT")
                con.execute(f"ALTER TABLE {q(table)} ALTER COLUMN {q(APP_ID)} SET NOT NULL")
                stamped.append(table)
            else:
                con.execute(f"ALTER TABLE {column}")
            widened.add(table)
    if stamped:
        log.warning(
            "migrated a single-app warehouse: the rows of %s now belong to app %r", ", ".join(stamped), app_id
        )
    return widened


def migrate_release_file(
    analysts_path: Path,
    state: Path,
    prepare: Callable[[duckdb.DuckDBPyConnection], None],
    *,
    app_id: str,
    busy_timeout: float = 30.0,
) -> dict[str, int] | None:
    """Create `state` from the tables of an older release's `analysts_path`; rows copied per table, filed
    under `app_id` (those releases had one app).

    `prepare(con)` creates the current schema in the new state file (and may queue work, e.g. exports).
    Returns None, doing nothing, when `state` exists already or `analysts_path` holds no release tables.
    """
    if state.exists() or not analysts_path.exists():
        return None
    state.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(f"{state.name}.migrating")
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        _attach_read_only(con, analysts_path, busy_timeout)
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'release' "
                "AND table_schema = 'main' AND table_type = 'BASE TABLE'"
            ).fetchall()
            if name in RELEASE_TABLES
        ]
        if "meetings" not in tables:  # already views (or not ours): nothing to migrate
            con.close()
            for leftover in (tmp, Path(f"{tmp}.wal")):
                leftover.unlink(missing_ok=True)
            return None
        con.execute("DETACH release")  # the schema is created with only the new file attached
        con.execute("SET TimeZone = 'UTC'")
        prepare(con)
        _attach_read_only(con, analysts_path, busy_timeout)
        copied = {}
        con.begin()
        for table in tables:
            stamp = f", {lit(app_id)} AS {q(APP_ID)}" if _has_column(con, table, APP_ID) else ""
            con.execute(f"INSERT INTO main.{q(table)} BY NAME SELECT *{stamp} FROM release.{q(table)}")
            (old,) = one(con, f"SELECT count(*) FROM release.{q(table)}")
            (new,) = one(con, f"SELECT count(*) FROM main.{q(table)}")
            if old != new:
                raise WarehouseError(
                    f"migrating {table} of {analysts_path} copied {new} of {old} rows; nothing changed"
                )
            copied[table] = new
        con.commit()
        con.execute("DETACH release")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, state)
    log.warning(
        "migrated the warehouse of an older release: %s -> %s (%s); %s becomes views over Parquet",
        analysts_path,
        state,
        ", ".join(f"{t} {n}" for t, n in copied.items()),
        analysts_path,
    )
    return copied


def _attach_read_only(con: duckdb.DuckDBPyConnection, path: Path, busy_timeout: float) -> None:
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            con.execute(f"ATTACH {lit(str(path))} AS release (READ_ONLY)")
            return
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if "lock" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise MigrationBusyError(
                    f"{path} is a warehouse of an older release and must be read once to migrate it, but "
                    f"another process holds it read-write (e.g. a `duckdb` CLI session) for over "
                    f"{busy_timeout:g}s: close it (read-only sessions may stay) and run again"
                ) from None
            time.sleep(0.2)
