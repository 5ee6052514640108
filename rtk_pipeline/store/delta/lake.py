"""Delta Lake transactions (delta-rs): create before the first write, replace days, append, upsert.

Every write is one Delta transaction on one table. A day is replaced with an overwrite whose predicate names
the days (`write_deltalake(mode="overwrite", predicate=...)`): readers see the old files or the new ones.
delta-rs itself rebases a commit over concurrent commits that do not touch what it read (writers on other
days both commit); a writer that lost a race on the same days gets `CommitFailedError` and retries here from
its own data (`make_data` is called again: the caller re-reads its stage), a bounded number of times.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from rtk_pipeline.errors import RetriableError, RTKError, WarehouseError
from rtk_pipeline.store.delta.objectstore import TableRoot

log = logging.getLogger("rtk_pipeline.delta")

MAX_ATTEMPTS = 8
_BACKOFF_S = 0.2
_BACKOFF_MAX_S = 5.0

# Arrow data, or a function that produces it afresh for each attempt (a reader can be consumed only once).
Data = pa.Table | pa.RecordBatchReader
DataSource = Data | Callable[[], Data]


class LakeError(WarehouseError):
    """A Delta table could not be read or written; the message names the table (never a credential)."""


class LakeConflictError(LakeError, RetriableError):
    """Concurrent writers kept winning the same days; nothing of this write landed. Run it again."""


@dataclass(frozen=True)
class Layout:
    """A Delta table's schema and its partition column (None: small append-only tables stay unpartitioned)."""

    schema: pa.Schema
    partition: str | None = None


def literal(value: str | date) -> str:
    """A SQL literal for a delta-rs predicate."""
    return "'" + str(value).replace("'", "''") + "'"


def in_list(column: str, values: Iterable[str | date]) -> str:
    return f"{column} IN ({', '.join(literal(v) for v in sorted(set(values)))})"


class Lake:
    """The Delta tables under one root. Cheap to create; the first write probes the store, creates tables."""

    def __init__(self, root: TableRoot, layouts: Mapping[str, Layout], *, max_attempts: int = MAX_ATTEMPTS):
        self.root = root
        self.layouts = dict(layouts)
        self.max_attempts = max_attempts
        self._ready = False

    def __repr__(self) -> str:
        return f"Lake({self.root.uri!r})"

    # -- setup --------------------------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Check conditional writes, then create every missing table (an overwrite with a predicate on a table
        that does not exist yet would replace everything, and the partitioning must be set at creation)."""
        if self._ready:
            return
        self.root.check_conditional_writes()
        for name, layout in self.layouts.items():
            uri = self.root.table_uri(name)
            with self._errors(f"creating the Delta table {name}"):
                if DeltaTable.is_deltatable(uri, storage_options=self.root.storage_options):
                    continue
                try:
                    DeltaTable.create(
                        uri,
                        layout.schema,
                        mode="ignore",
                        partition_by=[layout.partition] if layout.partition else None,
                        name=name,
                        storage_options=self.root.storage_options,
                    )
                except (CommitFailedError, DeltaError):
                    # Another host created it between our check and our commit: fine if it is there now.
                    if not DeltaTable.is_deltatable(uri, storage_options=self.root.storage_options):
                        raise
        self._ready = True

    # -- writes -------------------------------------------------------------------------------------------

    def replace(self, name: str, data: DataSource, predicate: str, *, run_id: str) -> None:
        """Replace the rows matching `predicate` with `data` (all of which must match it) in one commit."""
        self._commit(
            name,
            lambda table: write_deltalake(
                table,
                _fresh(data),
                mode="overwrite",
                predicate=predicate,
                commit_properties=_commit_properties(run_id),
            ),
        )

    def append(self, name: str, data: DataSource, *, run_id: str) -> None:
        """Add rows (blind append: never conflicts with another writer)."""
        self._commit(
            name,
            lambda table: write_deltalake(
                table, _fresh(data), mode="append", commit_properties=_commit_properties(run_id)
            ),
        )

    def upsert(
        self,
        name: str,
        data: DataSource,
        keys: Sequence[str],
        *,
        run_id: str,
        update: Sequence[str] | None = None,
    ) -> None:
        """Update rows with the same key (all columns, or only `update`), insert the others: one MERGE."""
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)

        def merge(table: DeltaTable) -> None:
            merger = table.merge(
                _fresh(data),
                predicate=on,
                source_alias="s",
                target_alias="t",
                commit_properties=_commit_properties(run_id),
            )
            if update is None:
                merger = merger.when_matched_update_all()
            else:
                merger = merger.when_matched_update({c: f"s.{c}" for c in update})
            merger.when_not_matched_insert_all().execute()

        self._commit(name, merge)

    # -- reads --------------------------------------------------------------------------------------------

    def dataset(self, name: str) -> ds.Dataset | pa.Table:
        """The table's current version as an Arrow dataset (an empty table before the first write)."""
        with self._errors(f"reading the Delta table {name}"):
            try:
                return self._table(name).to_pyarrow_dataset()
            except TableNotFoundError:
                return self.layouts[name].schema.empty_table()

    def version(self, name: str) -> int:
        with self._errors(f"reading the Delta table {name}"):
            return self._table(name).version()

    # -- internals ----------------------------------------------------------------------------------------

    def _table(self, name: str) -> DeltaTable:
        return DeltaTable(self.root.table_uri(name), storage_options=self.root.storage_options)

    def _commit(self, name: str, write: Callable[[DeltaTable], Any]) -> None:
        self.ensure_tables()
        for attempt in range(1, self.max_attempts + 1):
            with self._errors(f"writing the Delta table {name}"):
                try:
                    write(self._table(name))
                    return
                except CommitFailedError as exc:
                    if attempt == self.max_attempts:
                        raise LakeConflictError(
                            f"writing the Delta table {name} at {self.root.uri} lost {attempt} races "
                            "in a row to concurrent writers on the same days; nothing of this write landed. "
                            "Run it again (or keep two runs off the same days: see the Dagster run queue)"
                        ) from None
                    delay = min(_BACKOFF_MAX_S, _BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
                    log.info(
                        "Delta commit on %s lost a race (%s); retry %d in %.2fs",
                        name,
                        self.root.scrub(str(exc)).splitlines()[0],
                        attempt,
                        delay,
                    )
                    time.sleep(delay)

    def _errors(self, doing: str) -> _ErrorScope:
        return _ErrorScope(doing, self.root)


class _ErrorScope:
    """Turns delta-rs/Arrow errors into a LakeError that names what was done and quotes no credential."""

    def __init__(self, doing: str, root: TableRoot) -> None:
        self.doing, self.root = doing, root

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, (RTKError, CommitFailedError, TableNotFoundError)):
            return False
        if isinstance(exc, (DeltaError, OSError, pa.ArrowException)):
            detail = self.root.scrub(f"{type(exc).__name__}: {exc}").strip().splitlines()[0]
            raise LakeError(f"{self.doing} at {self.root.uri} failed: {detail}") from None
        return False


def _fresh(data: DataSource) -> Data:
    return data() if callable(data) else data


def _commit_properties(run_id: str) -> CommitProperties:
    # Only the run id goes into the Delta log (never settings or credentials): it ties a commit to sync_runs.
    return CommitProperties(custom_metadata={"rtk_run_id": run_id})
