"""The declared tables: Arrow schemas and how each stageable table is keyed and partitioned.

A base module both `normalize` and `store` import (neither imports the other's declarations), so there is
no cycle between them. The schemas are the single declaration of every stored table: normalize builds
batches with them, the DDL
in `sql/` must match them column by column (tests/store/test_schema.py), the Parquet mirror is written with
them. The deactivation audit is declared only here: its DDL is generated from `DEACTIVATIONS_SCHEMA`
(`store.ddl`).

Every stored table ends with `app_id` (several RealtimeKit apps share one warehouse). Normalize builds the
schemas *without* it: which app a row belongs to is the store's to say (a store is opened for one app and
stamps its id on every row it writes), so a page can never be filed under the wrong app. It is the last
column so that a table migrated from a single-app release (ALTER TABLE ... ADD COLUMN) and a new one have
the same column order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

APP_ID = "app_id"
APP_ID_FIELD = pa.field(APP_ID, pa.string(), nullable=False)


def with_app_id(schema: pa.Schema) -> pa.Schema:
    """The stored form of a schema normalize builds: the same columns, then `app_id`."""
    return schema.append(APP_ID_FIELD)


MEETINGS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("status", pa.string()),
        pa.field("created_at", TS, nullable=False),
        pa.field("updated_at", TS),
        pa.field("live_stream_on_start", pa.bool_()),
        pa.field("persist_chat", pa.bool_()),
        pa.field("record_on_start", pa.bool_()),
        pa.field("summarize_on_end", pa.bool_()),
        pa.field("transcribe_on_end", pa.bool_()),
        pa.field("session_keep_alive_time_in_secs", pa.int64()),
        pa.field("ai_config", pa.string()),
        pa.field("recording_config", pa.string()),
        pa.field("extra", pa.string()),
        pa.field("created_day", pa.date32(), nullable=False),
        pa.field("synced_at", TS, nullable=False),
        # When the meeting's participants were last listed (backfill or refresh); null until then. A meeting
        # row re-listed from the API keeps the stored value (TableSpec.carried).
        pa.field("participants_synced_at", TS),
    ]
)

PARTICIPANTS_SCHEMA = pa.schema(
    [
        pa.field("meeting_id", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("custom_participant_id", pa.string()),
        pa.field("preset_name", pa.string()),
        pa.field("name", pa.string()),
        pa.field("picture", pa.string()),
        pa.field("created_at", TS),
        pa.field("updated_at", TS),
        pa.field("extra", pa.string()),
        pa.field("meeting_created_day", pa.date32(), nullable=False),
        pa.field("synced_at", TS, nullable=False),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("meeting_id", pa.string()),
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
        # The partition day the record belongs to when it can be told (a participant's meeting day, a
        # meeting's created_at day); NULL when created_at itself is unreadable. Re-syncing a day replaces
        # that day's rejects, so re-runs do not pile them up.
        pa.field("day", pa.date32()),
        pa.field("synced_at", TS, nullable=False),
    ]
)

SYNC_RUNS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("window_start", TS),
        pa.field("window_end", TS),
        pa.field("days", pa.int64()),
        pa.field("rows", pa.int64()),
        pa.field("rejected", pa.int64()),
        pa.field("requests", pa.int64()),
        pa.field("retries", pa.int64()),
        pa.field("throttled", pa.int64()),
        pa.field("api_total_count", pa.int64()),
        pa.field("started_at", TS),
        pa.field("finished_at", TS),
        pa.field("seconds", pa.float64()),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        APP_ID_FIELD,
    ]
)

# The stored tables whose DDL lives in sql/ (with app_id).
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "meetings": with_app_id(MEETINGS_SCHEMA),
    "participants": with_app_id(PARTICIPANTS_SCHEMA),
    "rejected_records": with_app_id(REJECTED_SCHEMA),
    "sync_runs": SYNC_RUNS_SCHEMA,
}

# String columns that hold JSON text (DuckDB type JSON).
JSON_COLUMNS = frozenset({"ai_config", "recording_config", "extra", "raw"})

DEACTIVATIONS_TABLE = "meeting_deactivations"
# Audit trail of stale-meeting deactivation: one row per decision, dry runs too. A PATCH attempt is written
# as 'pending' before the request goes out and settled in place (same attempt_id) after, so a run killed
# halfway leaves a row that says so; the next run resolves it from the meeting's live status.
DEACTIVATIONS_SCHEMA = pa.schema(
    [
        pa.field("attempt_id", pa.string(), nullable=False),  # unique per row (primary key)
        pa.field("run_id", pa.string(), nullable=False),  # Dagster run id, or a generated id for CLI runs
        pa.field("meeting_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("last_activity_at", TS),  # warehouse snapshot the decision was based on
        pa.field("threshold_days", pa.int32(), nullable=False),  # stale = idle this many days before as_of
        pa.field("as_of", TS, nullable=False),
        pa.field(
            "decision", pa.string(), nullable=False
        ),  # deactivated | failed | pending | skipped:<why> ...
        pa.field("dry_run", pa.bool_(), nullable=False),
        pa.field("http_status", pa.int32()),  # of the request that settled the decision, when there was one
        pa.field("detail", pa.string()),  # why, in words
        pa.field("error", pa.string()),  # the API error (method, path, status; never a secret)
        pa.field("recorded_at", TS, nullable=False),  # when the row was first written
        pa.field("decided_at", TS, nullable=False),  # when it got its current decision
        APP_ID_FIELD,
    ]
)


@dataclass(frozen=True)
class TableSpec:
    """How a stageable table is keyed and partitioned. `schema` is the stored one (ends with app_id);
    `batch_schema` is what normalize builds (the same without app_id). Keys start with app_id: ids of two
    apps may collide."""

    name: str
    batch_schema: pa.Schema
    day: str  # partition column (UTC day)
    key: tuple[str, ...]  # one row per key; duplicates in a stage are settled by `winner`
    winner: str  # ORDER BY that puts the row to keep first
    order: str  # row order inside a Parquet day file
    parquet: bool  # mirrored to <parquet_dir>/<name>/<day>=YYYY-MM-DD/data.parquet
    # Columns the API does not send but the warehouse keeps: a row written with them null takes the stored
    # row's value (meetings.participants_synced_at survives a re-sync of the meeting's day).
    carried: tuple[str, ...] = ()
    schema: pa.Schema = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Derived once: stages, commits and queries read it for every batch and statement.
        object.__setattr__(self, "schema", with_app_id(self.batch_schema))


TABLES: dict[str, TableSpec] = {
    "meetings": TableSpec(
        "meetings",
        MEETINGS_SCHEMA,
        day="created_day",
        key=("app_id", "id"),
        winner="updated_at DESC NULLS LAST, synced_at DESC",
        order="app_id, created_at, id",
        parquet=True,
        carried=("participants_synced_at",),
    ),
    "participants": TableSpec(
        "participants",
        PARTICIPANTS_SCHEMA,
        day="meeting_created_day",
        key=("app_id", "meeting_id", "id"),
        winner="updated_at DESC NULLS LAST, synced_at DESC",
        order="app_id, meeting_id, created_at, id",
        parquet=True,
    ),
    "rejected_records": TableSpec(
        "rejected_records",
        REJECTED_SCHEMA,
        day="day",
        key=("app_id", "table_name", "meeting_id", "record_id", "raw"),
        winner="synced_at DESC",
        order="app_id, table_name, day, record_id",
        parquet=False,
    ),
}
