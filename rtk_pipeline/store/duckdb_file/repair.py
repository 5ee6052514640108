"""`rtk-pipeline repair` for the DuckDB backend: rebuild the private state from the Parquet mirror.

Every row a commit kept is in the mirror: the day tables in their day files, the audit
(`meeting_deactivations`), the sync history (`sync_runs`) and `rejected_records` in their newest snapshots
(snapshots.py). So a damaged or lost
`pipeline.duckdb` is rebuilt from them under the write lock, in a new file moved into place only once
loaded; the damaged one is kept aside (renamed), never deleted. The analysts' file is re-created by the
first publish after it (a damaged one is moved aside too). Also the one-line errors that point here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from rtk_pipeline.errors import WarehouseBusyError, WarehouseError
from rtk_pipeline.schemas import TABLES
from rtk_pipeline.store.connect import connect_duckdb
from rtk_pipeline.store.duckdb_file import analysts, snapshots
from rtk_pipeline.store.sqltext import lit, q


class DuckDBStore(Protocol):
    """What repair needs of the DuckDB backend (typed here, not imported: the backend imports this module)."""

    duckdb_path: Path
    state_path: Path
    parquet_dir: Path
    _lock: Any

    def _acquire(self) -> None: ...

    def _apply_schema(self, con: duckdb.DuckDBPyConnection) -> None: ...

    def ensure_schema(self) -> None: ...


HINT = ": run `rtk-pipeline repair` to rebuild it from the Parquet mirror"


def missing_error(store: DuckDBStore) -> WarehouseError:
    """Why there is no warehouse where the settings point, in one line, with the likely causes."""
    analysts_file, state = store.duckdb_path.resolve(), store.state_path.resolve()
    if analysts_file.exists():
        return WarehouseError(
            f"the pipeline's state {state} is missing beside {analysts_file}: a data folder moved with "
            f"`mv data/* ...` leaves the hidden {state.parent.name}/ behind (move it too), or run "
            "`rtk-pipeline repair` to rebuild it from the Parquet mirror; nothing was created"
        )
    mirror = store.parquet_dir.resolve() / snapshots.FOLDER
    return WarehouseError(
        f"no warehouse at {analysts_file} (nor its state {state}): check RTK_DUCKDB_PATH for a typo, or the "
        f"working directory ({Path.cwd()}) if the path is relative"
        + (
            f"; a Parquet mirror is at {mirror.parent}: `rtk-pipeline repair` rebuilds from it"
            if mirror.is_dir()
            else "; `rtk-pipeline backfill` creates one"
        )
        + "; nothing was created"
    )


def describe(done: Repaired, store: DuckDBStore) -> list[str]:
    """What `rtk-pipeline repair` prints."""
    lines = [f"set aside: {path}" for path in done.set_aside]
    if done.rebuilt:
        lines.append(f"rebuilt {store.state_path} from {store.parquet_dir}:")
        lines += [f"  {table}: {n} row(s)" for table, n in done.rows.items()]
    else:
        lines.append(f"the pipeline's state {store.state_path} is whole: nothing to rebuild")
    lines.append(f"analysts' file {store.duckdb_path} checked and its views written")
    return lines


@dataclass
class Repaired:
    """What `repair` did: the rows restored per table, and where damaged files were put aside."""

    rebuilt: bool
    rows: dict[str, int] = field(default_factory=dict)
    set_aside: list[Path] = field(default_factory=list)


def repair(store: DuckDBStore) -> Repaired:
    """Rebuild the state from the mirror unless it opens whole, then publish (re-creating the analysts'
    file); a damaged analysts' file is moved aside first."""
    mirror = store.parquet_dir / snapshots.FOLDER
    if not mirror.is_dir() and not store.state_path.exists():
        raise missing_error(store)
    result = Repaired(rebuilt=False)
    store._acquire()
    try:
        if _damaged(store.duckdb_path, ""):
            result.set_aside += _set_aside(store.duckdb_path)
        problem = _damaged(store.state_path, HINT) if store.state_path.exists() else "missing"
        if problem:
            result.set_aside += _set_aside(store.state_path)
            result.rows = _rebuild(store)
            result.rebuilt = True
    finally:
        store._lock.release()
    store.ensure_schema()  # publishes the small tables and (re)writes the analysts' file
    return result


def _damaged(path: Path, hint: str) -> str:
    """Why `path` is not a whole DuckDB database ('' if it is, or is absent)."""
    if not path.exists():
        return ""
    try:
        con = connect_duckdb(path, read_only=True, busy_timeout=5.0, damaged_hint=hint)
    except WarehouseBusyError:
        return ""  # held by a session: whole enough to be open
    except WarehouseError as exc:
        return str(exc)
    try:
        for schema, name in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            con.execute(f"SELECT min(hash(COLUMNS(*))) FROM {q(schema)}.{q(name)}").fetchall()  # every block
    except duckdb.Error as exc:
        return str(exc).splitlines()[0]
    finally:
        con.close()
    return ""


def _set_aside(path: Path) -> list[Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for source in (path, Path(f"{path}.wal")):
        if source.exists():
            target = source.with_name(f"{source.name}.damaged-{stamp}")
            os.replace(source, target)
            moved.append(target)
    return moved


def _rebuild(store: DuckDBStore) -> dict[str, int]:
    """A new state file loaded from the Parquet mirror (each day table's day files, each small table's
    newest snapshot), moved into place when complete."""
    snapshots.adopt(store.parquet_dir, store.parquet_dir.glob("*/*=*/data.parquet"))
    store.state_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.state_path.with_name(f"{store.state_path.name}.repairing")
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    root = store.parquet_dir.resolve()
    sources = analysts.small_table_sources(lit(str(root)))
    files = {table: root / snapshots.FOLDER / table for table in sources}
    for spec in TABLES.values():
        if spec.parquet:
            sources[spec.name] = analysts.day_scan(lit(f"{root}/{spec.name}/*/data.parquet"), spec.day)
            files[spec.name] = root / spec.name
    rows = {}
    con = duckdb.connect(str(tmp))
    try:
        con.execute("SET TimeZone = 'UTC'")
        store._apply_schema(con)
        con.begin()
        for table, source in sources.items():
            if not any(files[table].glob("**/*.parquet")):
                rows[table] = 0
                continue
            con.execute(f"INSERT INTO {q(table)} BY NAME SELECT * EXCLUDE (filename) FROM {source}")
            rows[table] = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]  # type: ignore[index]
        con.commit()
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, store.state_path)
    return rows
