"""Delta Lake transactions (delta-rs): create before the first write, replace days, append, upsert, and bring
a table written before a column was declared up to its schema.

Every write is one Delta transaction on one table. A day is replaced with an overwrite whose predicate names
the days (`write_deltalake(mode="overwrite", predicate=...)`): readers see the old files or the new ones.
delta-rs itself rebases a commit over concurrent commits that do not touch what it read (writers on other
days both commit); a writer that lost a race on the same days gets `CommitFailedError` and retries here from
its own data (`make_data` is called again: the caller re-reads its stage), a bounded number of times.

A table that lacks declared columns (written by an earlier release, e.g. before `app_id`) is rewritten once,
in one commit, with them (`fill` gives the value for existing rows): readers see the old table or the whole
new one. Two processes upgrading at once: the loser's commit conflicts (the schema changed), its retry finds
the columns there and does nothing, so no row is rewritten twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from rtk_pipeline.errors import RetriableError, RTKError, WarehouseError
from rtk_pipeline.store.delta.objectstore import TableRoot

log = logging.getLogger("rtk_pipeline.delta")

MAX_ATTEMPTS = 8
_BACKOFF_S = 0.2
_BACKOFF_MAX_S = 5.0

# Arrow data, or a function that produces it afresh for each attempt (a reader can be consumed only once).
Data: TypeAlias = pa.Table | pa.RecordBatchReader
DataSource: TypeAlias = Data | Callable[[], Data]


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

    def __init__(
        self,
        root: TableRoot,
        layouts: Mapping[str, Layout],
        *,
        fill: Mapping[str, str] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        self.root = root
        self.layouts = dict(layouts)
        self.fill = dict(fill or {})  # the value a column added to an existing table takes in its old rows
        self.max_attempts = max_attempts
        self._ready = False
        self._probed = False
        self._current: set[str] = set()  # tables seen with every declared column
        # Set by a read-only command: a table of an earlier release is read as it is, never upgraded.
        self.read_only = False

    def __repr__(self) -> str:
        return f"Lake({self.root.uri!r})"

    # -- setup --------------------------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Check conditional writes, then create every missing table (an overwrite with a predicate on a table
        that does not exist yet would replace everything, and the partitioning must be set at creation) and
        upgrade every existing one that lacks a declared column."""
        if self._ready:
            return
        self._probe()
        for name, layout in self.layouts.items():
            uri = self.root.table_uri(name)
            with self._errors(f"creating the Delta table {name}"):
                try:
                    self._upgrade(name, self._table(name))
                    continue
                except TableNotFoundError:
                    pass
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
                self._current.add(name)
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
        only: Mapping[str, str] | None = None,
    ) -> None:
        """Update rows with the same key (all columns, or only `update`), insert the others: one MERGE.

        `only` (column -> value, e.g. one app's rows) narrows the rows the MERGE reads, so it does not
        conflict with a concurrent writer of rows outside them.
        """
        fixed = [f"t.{c} = {literal(v)}" for c, v in (only or {}).items()]
        on = " AND ".join([*(f"t.{k} = s.{k}" for k in keys), *fixed])

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
        """The table's current version as an Arrow dataset (an empty table before the first write); a table
        of an earlier release is upgraded first, so a reader always sees the declared columns."""
        with self._errors(f"reading the Delta table {name}"):
            try:
                table = self._table(name)
            except TableNotFoundError:
                return self.layouts[name].schema.empty_table()
            if not self.read_only and self._upgrade(name, table):
                table = self._table(name)
            return table.to_pyarrow_dataset(filesystem=self._filesystem(name))

    def _filesystem(self, name: str) -> pa_fs.FileSystem:
        """Arrow's own filesystem for the table. delta-rs's default is a Python one, which Arrow's I/O
        threads call under the GIL while holding a scan's lock; DuckDB starts a scan holding the GIL and
        waits for that lock: two threads reading at once hung for good (seen in the suite)."""
        return self.root.arrow_filesystem(name)

    def found(self) -> dict[str, bool]:
        """Table name -> whether a Delta table is there (nothing is created or upgraded)."""
        with self._errors("looking for the Delta tables"):
            return {
                name: DeltaTable.is_deltatable(
                    self.root.table_uri(name), storage_options=self.root.storage_options
                )
                for name in self.layouts
            }

    def version(self, name: str) -> int:
        with self._errors(f"reading the Delta table {name}"):
            return self._table(name).version()

    # -- internals ----------------------------------------------------------------------------------------

    def _table(self, name: str) -> DeltaTable:
        return DeltaTable(self.root.table_uri(name), storage_options=self.root.storage_options)

    def _probe(self) -> None:
        if not self._probed:
            self.root.check_conditional_writes()
            self._probed = True

    def _upgrade(self, name: str, table: DeltaTable) -> bool:
        """Rewrite `table` with the columns it lacks (once per Lake and table); True if it lacked any."""
        if name in self._current:
            return False
        stale = bool(_missing(table, self.layouts[name]))
        if stale:
            self._probe()
            self._attempts(name, lambda fresh: self._rewrite(name, fresh))
            log.info("Delta table %s at %s upgraded to the declared schema", name, self.root.uri)
        self._current.add(name)
        return stale

    def _rewrite(self, name: str, table: DeltaTable) -> None:
        """One overwrite of every row with the declared schema: kept columns cast, added ones filled."""
        layout = self.layouts[name]
        missing = _missing(table, layout)
        if not missing:  # a concurrent upgrade won: nothing left to do
            return
        have = table.schema().to_arrow()
        have_names = [have.field(i).name for i in range(len(have))]
        unknown = sorted(set(have_names) - set(layout.schema.names))
        unfillable = [f.name for f in missing if f.name not in self.fill and not f.nullable]
        if unknown or unfillable:
            raise LakeError(
                f"the Delta table {name} at {self.root.uri} cannot be upgraded: "
                f"columns this version does not declare {unknown}, required columns without a value "
                f"{unfillable}"
            )
        source = table.to_pyarrow_dataset()

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in source.to_batches(columns=have_names):
                yield pa.RecordBatch.from_arrays(
                    [
                        batch.column(f.name).cast(f.type)
                        if f.name in have_names
                        else pa.repeat(pa.scalar(self.fill.get(f.name), f.type), batch.num_rows)
                        for f in layout.schema
                    ],
                    schema=layout.schema,
                )

        write_deltalake(
            table,
            pa.RecordBatchReader.from_batches(layout.schema, batches()),
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=[layout.partition] if layout.partition else None,
            commit_properties=CommitProperties(
                custom_metadata={"rtk_upgrade": "added " + ", ".join(f.name for f in missing)}
            ),
        )

    def _commit(self, name: str, write: Callable[[DeltaTable], Any]) -> None:
        self.ensure_tables()
        self._attempts(name, write)

    def _attempts(self, name: str, write: Callable[[DeltaTable], Any]) -> None:
        """`write` on the table's latest version until it commits (bounded): a lost race is retried."""
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

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        """Re-raises a storage error as a LakeError; every other exception propagates unchanged."""
        if exc is None or isinstance(exc, (RTKError, CommitFailedError, TableNotFoundError)):
            return
        if isinstance(exc, (DeltaError, OSError, pa.ArrowException)):
            detail = self.root.scrub(f"{type(exc).__name__}: {exc}").strip().splitlines()[0]
            raise LakeError(f"{self.doing} at {self.root.uri} failed: {detail}") from None


def _missing(table: DeltaTable, layout: Layout) -> list[pa.Field]:
    """The declared fields the table's schema does not have."""
    have = {field.name for field in table.schema().fields}
    return [f for f in layout.schema if f.name not in have]


def _fresh(data: DataSource) -> Data:
    return data() if callable(data) else data


def _commit_properties(run_id: str) -> CommitProperties:
    # Only the run id goes into the Delta log (never settings or credentials): it ties a commit to sync_runs.
    return CommitProperties(custom_metadata={"rtk_run_id": run_id})
