"""Ground truth: what the warehouse must hold for what the emulator serves, and what it does hold.

Computed independently of `rtk_pipeline.normalize` (only the documented column contract is assumed), so a
bug in normalize or the store shows up as a difference instead of being mirrored by the test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.emulator.records import SECRET_KEYS, scrub
from rtk_pipeline.store import DuckDBStore

# The list fields the meetings table types; every other field of a record belongs in `extra`.
MEETING_PLAIN = (
    "id",
    "title",
    "status",
    "live_stream_on_start",
    "persist_chat",
    "record_on_start",
    "summarize_on_end",
    "transcribe_on_end",
    "session_keep_alive_time_in_secs",
)
MEETING_TIMES = ("created_at", "updated_at")
MEETING_JSON = ("ai_config", "recording_config")
MEETING_KNOWN = frozenset(MEETING_PLAIN + MEETING_TIMES + MEETING_JSON)
PARTICIPANT_PLAIN = ("id", "custom_participant_id", "preset_name", "name", "picture")
PARTICIPANT_KNOWN = frozenset((*PARTICIPANT_PLAIN, *MEETING_TIMES))


def ts(value: str) -> datetime:
    """An API timestamp as a UTC datetime (no zone = UTC; more than 6 fractional digits truncated)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def truth_meetings(emu: Emulator, first: date, last: date) -> dict[str, dict]:
    """The emulator's meetings created on the UTC days first..last, by id, as the list returns them."""
    out = {}
    for record in emu.meetings():
        if first <= ts(record["created_at"]).date() <= last:
            out[record["id"]] = record
    return out


def truth_all_meetings(emu: Emulator) -> dict[str, dict]:
    """Every meeting the emulator serves now, whatever its day, by id: what a refresh must converge to
    (renames and status changes made through PATCH included)."""
    return {record["id"]: record for record in emu.meetings()}


def truth_participants(emu: Emulator, meetings: Iterable[str]) -> dict[tuple[str, str], dict]:
    """The participants of these meeting ids as listed now, by (meeting id, participant id): room arrivals
    up to the emulator's clock and every participant added, edited or deleted through the API included."""
    return {(mid, p["id"]): p for mid in meetings for p in emu.participants(mid)}


def expected_meeting(record: dict) -> dict:
    """The meetings row the column contract demands for an API list record."""
    row = {name: record.get(name) for name in MEETING_PLAIN}
    created = ts(record["created_at"])
    row["created_at"] = created
    row["updated_at"] = None if record.get("updated_at") is None else ts(record["updated_at"])
    for name in MEETING_JSON:
        row[name] = None if record.get(name) is None else scrub(record[name])
    extra = {k: scrub(v) for k, v in record.items() if k not in MEETING_KNOWN and k not in SECRET_KEYS}
    row["extra"] = extra or None
    row["created_day"] = created.date()
    return row


def expected_participant(meeting_id: str, day: date, record: dict) -> dict:
    row = {name: record.get(name) for name in PARTICIPANT_PLAIN}
    row["meeting_id"] = meeting_id
    for name in MEETING_TIMES:
        row[name] = None if record.get(name) is None else ts(record[name])
    extra = {k: scrub(v) for k, v in record.items() if k not in PARTICIPANT_KNOWN and k not in SECRET_KEYS}
    row["extra"] = extra or None
    row["meeting_created_day"] = day
    return row


_reading: dict[Path, Any] = {}


@contextlib.contextmanager
def reading(warehouse: DuckDBStore) -> Iterator[None]:
    """Serve every `query` of the block from one read-only connection (opening one costs ~40 ms, and a
    check makes dozens). Never around a sync: the writer could not open the file meanwhile."""
    if warehouse.duckdb_path in _reading:
        yield
        return
    con = warehouse.connect(read_only=True)
    _reading[warehouse.duckdb_path] = con
    try:
        yield
    finally:
        del _reading[warehouse.duckdb_path]
        con.close()


def query(warehouse: DuckDBStore, sql: str, params: list | None = None) -> list[dict]:
    con = _reading.get(warehouse.duckdb_path)
    if con is None:
        with reading(warehouse):
            return query(warehouse, sql, params)
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _decoded(row: dict, json_columns: tuple[str, ...]) -> dict:
    out = dict(row)
    out.pop("synced_at", None)
    for name in json_columns:
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    return out


def stored_meetings(warehouse: DuckDBStore) -> dict[str, dict]:
    """The meetings of the warehouse's app (ids of other apps may collide with them)."""
    rows = query(warehouse, "SELECT * FROM meetings WHERE app_id = ?", [warehouse.app_id])
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a meeting id is stored twice"
    return {r["id"]: _decoded(r, (*MEETING_JSON, "extra")) for r in rows}


def stored_participants(warehouse: DuckDBStore) -> dict[tuple[str, str], dict]:
    rows = query(warehouse, "SELECT * FROM participants WHERE app_id = ?", [warehouse.app_id])
    keys = [(r["meeting_id"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)), "a participant is stored twice"
    return {(r["meeting_id"], r["id"]): _decoded(r, ("extra",)) for r in rows}


def assert_rows_equal(stored: dict, expected: dict, what: str) -> None:
    """Same keys, and per key the same value in every column."""
    missing, unexpected = set(expected) - set(stored), set(stored) - set(expected)
    assert not missing and not unexpected, (
        f"{what}: missing {sorted(missing)[:5]}, extra {sorted(unexpected)[:5]}"
    )
    for key, want in expected.items():
        got = {k: stored[key].get(k) for k in want}
        assert got == want, f"{what} {key}: stored {got} != expected {want}"


def assert_matches_truth(
    warehouse: DuckDBStore, emu: Emulator, first: date | None = None, last: date | None = None
) -> None:
    """Meetings and participants of first..last (default: every day) equal the emulator's ground truth as
    of now, by id and by value."""
    first, last = first or date.min, last or date.max
    meetings = truth_meetings(emu, first, last)
    days = {mid: ts(m["created_at"]).date() for mid, m in meetings.items()}
    assert_rows_equal(
        {k: v for k, v in stored_meetings(warehouse).items() if first <= v["created_day"] <= last},
        {mid: expected_meeting(m) for mid, m in meetings.items()},
        "meetings",
    )
    assert_rows_equal(
        {
            k: v
            for k, v in stored_participants(warehouse).items()
            if first <= v["meeting_created_day"] <= last
        },
        {k: expected_participant(k[0], days[k[0]], p) for k, p in truth_participants(emu, meetings).items()},
        "participants",
    )
