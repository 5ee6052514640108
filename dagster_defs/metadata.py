"""What the UI shows about a synced table, in Dagster's metadata conventions: where it lives (a fully
qualified `dagster/table_name` as the analyst writes it, `dagster/uri`), its kinds (they follow the
backend), and its columns in the analysts' types (JSON, TIMESTAMPTZ) with not-null constraints and one-line
descriptions."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa

from rtk_pipeline.schemas import MEETINGS_SCHEMA, PARTICIPANTS_SCHEMA, with_app_id
from rtk_pipeline.settings import StoreSettings
from rtk_pipeline.store import duckdb_type

SCHEMAS = {"meetings": with_app_id(MEETINGS_SCHEMA), "participants": with_app_id(PARTICIPANTS_SCHEMA)}

_SHARED = {
    "id": "The record's id in RealtimeKit (unique per app).",
    "created_at": "When RealtimeKit created it (UTC).",
    "updated_at": "When RealtimeKit last changed it (UTC).",
    "extra": "API fields this schema does not know yet, as JSON (secrets removed).",
    "synced_at": "When this row was fetched.",
    "app_id": "The RealtimeKit app (several apps share one warehouse).",
}
DESCRIPTIONS = {
    "meetings": {
        **_SHARED,
        "title": "The meeting's title (may be NULL).",
        "status": "ACTIVE or INACTIVE; values the API adds later are kept as they are.",
        "live_stream_on_start": "Live stream starts with the meeting.",
        "persist_chat": "Chat is kept after the meeting.",
        "record_on_start": "Recording starts with the meeting.",
        "summarize_on_end": "A summary is made when the meeting ends.",
        "transcribe_on_end": "A transcript is made when the meeting ends.",
        "session_keep_alive_time_in_secs": "Seconds an empty session stays open.",
        "ai_config": "AI settings as the API sent them (JSON).",
        "recording_config": "Recording settings as JSON, storage credentials removed.",
        "created_day": "UTC day of created_at: the partition.",
    },
    "participants": {
        **_SHARED,
        "id": "The participant's id (unique per meeting).",
        "meeting_id": "The meeting joined (meetings.id).",
        "custom_participant_id": "The id the app gave the participant.",
        "preset_name": "The preset (role) the participant joined with.",
        "name": "The participant's display name.",
        "picture": "URL of the participant's picture.",
        "meeting_created_day": "UTC creation day of the meeting (not the participant): the partition.",
    },
}


def analyst_type(field: pa.Field) -> str:
    """The column's type as the analysts' DDL writes it."""
    return duckdb_type(field).replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")


def column_schema(table: str) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                f.name,
                analyst_type(f),
                description=DESCRIPTIONS[table].get(f.name),
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
            for f in SCHEMAS[table]
        ]
    )


def table_name(store: StoreSettings, table: str) -> str:
    """The table as an analyst names it: `<file>.main.<table>` in the analysts' DuckDB file (DuckDB names a
    database after its file), or the `delta_scan` of its Delta table."""
    if store.backend == "delta":
        return f"delta_scan('{table_uri(store, table)}')"
    return f"{store.duckdb_path.stem}.main.{table}"


def table_uri(store: StoreSettings, table: str) -> str:
    """The Delta table's URI, or the root of the table's Parquet mirror."""
    if store.backend == "delta":
        return f"{store.table_uri.rstrip('/')}/{table}"
    return f"{store.parquet_dir.as_posix().rstrip('/')}/{table}"


def kinds(store: StoreSettings) -> set[str]:
    if store.backend == "delta":
        return {"delta", "s3"} if store.table_uri.startswith(("s3://", "s3a://")) else {"delta"}
    return {"duckdb", "parquet"}


def table_metadata(store: StoreSettings, table: str) -> dict[str, Any]:
    """The definition metadata of a synced table."""
    return {
        "dagster/table_name": table_name(store, table),
        "dagster/uri": table_uri(store, table),
        "dagster/column_schema": column_schema(table),
    }
