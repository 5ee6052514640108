"""Bad values from the API: each one either loads correctly or lands in `rejected_records` with a reason,
the sync reports how many were rejected, and nothing vanishes silently.

The odd records are real emulator meetings (so the listing, windows and paging are the real ones) whose
fields are set raw through `add_meeting`, or rewritten on the wire by the proxy where the emulator would
always write the canonical form (timestamps, a missing id, a lone surrogate). Syncs run one UTC day at a
time, like daily partitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import APP, END, client_for, emulator_days
from tests.support.stores import open_duckdb_store
from tests.support.truth import (
    expected_meeting,
    expected_participant,
    query,
    stored_meetings,
    stored_participants,
    truth_meetings,
)

from .conftest import Exchange, Proxy, rewrite_records, small_emulator

DAY = date(2026, 10, 30)  # the middle day of the emulator's three
DROP = object()  # a rewrite that removes the field from the record
_AT = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
LONG_TITLE = ("Ünïcödé 🎉 long title — " * 250)[:5000]
UNICODE = '🎉 Ünïcödé — עברית العربية 中文 हिन्दी \u200bzero-width e\u0301 \t tab \n newline "quotes" <tag>'


@dataclass
class Case:
    """One odd meeting: raw fields stored in the emulator and/or raw values put on the wire."""

    name: str
    fields: dict = field(default_factory=dict)  # passed to add_meeting as they are
    wire: dict = field(default_factory=dict)  # replaces fields in the list response (DROP removes)
    loaded: dict | None = None  # the stored columns it must get; None: checked against the emulator's record
    rejected: str | None = None  # it must be rejected with a reason containing this
    either: bool = False  # loads (any value) or is rejected with a reason: both are correct
    minute: int = 0  # created at DAY 00:00 + minute (set from the case's position)


CASES = [
    Case(
        "unknown fields", {"x_beta": {"k": [1, {"password": "EMU-SECRET-pw-1", "ok": "ü"}]}, "x_flag": True}
    ),
    Case("unicode key", {"ключ_🔑": "значение", "title": UNICODE}),
    Case(
        "keep-alive as string",
        {"session_keep_alive_time_in_secs": "120"},
        loaded={"session_keep_alive_time_in_secs": 120},
    ),
    Case(
        "keep-alive as float string",
        {"session_keep_alive_time_in_secs": "90.0"},
        loaded={"session_keep_alive_time_in_secs": 90},
    ),
    Case(
        "keep-alive as float",
        {"session_keep_alive_time_in_secs": 300.0},
        loaded={"session_keep_alive_time_in_secs": 300},
    ),
    Case(
        "keep-alive not a number",
        {"session_keep_alive_time_in_secs": "two minutes"},
        rejected="session_keep_alive_time_in_secs",
    ),
    Case(
        "flags as strings and numbers",
        {"record_on_start": "true", "persist_chat": 0},
        loaded={"record_on_start": True, "persist_chat": False},
    ),
    Case("flag not a boolean", {"record_on_start": "sometimes"}, rejected="record_on_start"),
    Case("unknown status", {"status": "ARCHIVED"}, loaded={"status": "ARCHIVED"}),
    Case("null title", {"title": None}, loaded={"title": None}),
    Case("5000-character title", {"title": LONG_TITLE}, loaded={"title": LONG_TITLE}),
    Case("unicode title", {"title": UNICODE}, loaded={"title": UNICODE}),
    Case("NUL in title", {"title": "before\x00after"}, either=True),
    Case("title as number", {"title": 42}, either=True),
    Case(
        "nested config", {"ai_config": {"transcription": {"language": "ja-JP", "keywords": ["会議", "🎤"]}}}
    ),
    Case(
        "storage credentials",
        {
            "recording_config": {
                "storage_config": {"type": "aws", "access_key": "EMU-SECRET-ak-1", "secret": "EMU-SECRET-s-1"}
            }
        },
        loaded={"recording_config": {"storage_config": {"type": "aws"}}},
    ),
    Case("offset +02:00", wire={"created_at": "{+02:00}"}),
    Case("offset -05:00 across midnight", wire={"created_at": "{-05:00}"}),
    Case("no fraction", wire={"created_at": "{nofrac}"}),
    Case("nanoseconds", wire={"created_at": "{nanos}"}),
    Case("no timezone", wire={"created_at": "{naive}"}),
    Case("space instead of T", wire={"created_at": "{space}"}),
    Case("lower-case t and z", wire={"created_at": "{lower}"}),
    Case("null updated_at", wire={"updated_at": None}, loaded={"updated_at": None}),
    Case("missing updated_at", wire={"updated_at": DROP}, loaded={"updated_at": None}),
    Case("unreadable created_at", wire={"created_at": "yesterday"}, rejected="created_at"),
    Case("missing created_at", wire={"created_at": DROP}, rejected="created_at"),
    Case("missing id", wire={"id": DROP}, rejected="id"),
    Case("null id", wire={"id": None}, rejected="id"),
    Case("empty id", wire={"id": ""}, rejected="id"),
]
for _minute, _case in enumerate(CASES):
    _case.minute = 7 + 41 * _minute  # spread over the day; the -05:00 case lands just after midnight
CASES[[c.name for c in CASES].index("offset -05:00 across midnight")].minute = 3


def wire_time(form: str, moment: datetime) -> str:
    """The same instant written the way a server might."""
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    ms = f"{moment.microsecond // 1000:03d}"
    forms = {
        "{+02:00}": (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms}+02:00",
        "{-05:00}": (moment - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms}-05:00",
        "{nofrac}": base + "Z",
        "{nanos}": base + f".{ms}456789Z",
        "{naive}": base + f".{ms}",
        "{space}": base.replace("T", " ") + f".{ms}Z",
        "{lower}": base.replace("T", "t") + f".{ms}z",
    }
    return forms[form]


def parsed_wire_time(form: str, moment: datetime) -> datetime:
    """What the stored timestamp must be: the instant, to the microsecond the wire form carries."""
    if form == "{nanos}":
        return moment + timedelta(microseconds=456)
    return moment.replace(microsecond=0) if form == "{nofrac}" else moment


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """The odd meetings and participants synced day by day through the proxy: what each case became."""
    emu = small_emulator(meetings=20, participants_mean=2.0)
    proxy = Proxy(emu)
    root = tmp_path_factory.mktemp("bad-values")
    warehouse = open_duckdb_store(root, app_id=APP)
    try:
        ids = {}
        for case in CASES:
            created = _AT + timedelta(minutes=case.minute, milliseconds=123)
            fields = {"title": f"case:{case.name}", **case.fields}
            ids[case.name] = emu.add_meeting(created_at=created, list_all_fields=True, **fields)["id"]
        by_id = {ids[c.name]: c for c in CASES}
        host = ids["unknown fields"]
        people = [
            emu.add_participant(host, name=UNICODE, created_at=_AT + timedelta(hours=1 + n)) for n in range(6)
        ]
        odd_people = {
            people[0]["id"]: {"id": DROP},
            people[1]["id"]: {
                "token": "EMU-PTOKEN-wire-1",
                "x_device": {"os": "ĩOS", "secret": "EMU-SECRET-d"},
            },
            people[2]["id"]: {"created_at": wire_time("{+02:00}", _AT + timedelta(hours=3))},
            people[3]["id"]: {"created_at": "not a time"},
            people[4]["id"]: {"picture": None, "name": None},
        }

        def rewrite(ex: Exchange) -> None:
            if ex.status != 200 or ex.endpoint not in ("list_meetings", "list_participants"):
                return
            doc = ex.json()
            for record in doc["data"]:
                if ex.endpoint == "list_meetings":
                    case = by_id.get(record.get("id"))
                    changes = {} if case is None else case.wire
                    moment = _AT + timedelta(minutes=case.minute, milliseconds=123) if case else None
                    changes = {
                        k: wire_time(v, moment) if isinstance(v, str) and v.startswith("{") else v
                        for k, v in changes.items()
                    }
                else:
                    changes = odd_people.get(record.get("id"), {})
                for key, value in changes.items():
                    if value is DROP:
                        record.pop(key, None)
                    else:
                        record[key] = value
            ex.set_json(doc)

        proxy.hooks.append(rewrite)
        first, last = emulator_days(emu)
        results = []
        with client_for(proxy.base_url, emu) as client:
            day = first
            while day <= last:
                results += sync_range(client, warehouse, day, day, workers=2)
                day += timedelta(days=1)
        yield {
            "emu": emu,
            "warehouse": warehouse,
            "ids": ids,
            "results": results,
            "people": people,
            "odd_people": odd_people,
            "host": host,
        }
    finally:
        proxy.stop()
        emu.stop()


def rejects(warehouse: DuckDBStore, table: str) -> list[dict]:
    return query(warehouse, "SELECT * FROM rejected_records WHERE table_name = ?", [table])


def reject_for(landed: dict, case: Case) -> dict | None:
    """The rejected_records row of a case: by record id, or by the case's title in the raw record."""
    for row in rejects(landed["warehouse"], "meetings"):
        if row["record_id"] == landed["ids"][case.name] or f"case:{case.name}" in json.loads(row["raw"]).get(
            "title", ""
        ):
            return row
    return None


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[c.name for c in CASES],
)
def test_each_odd_meeting_loads_correctly_or_is_rejected_with_a_reason(landed, case):
    emu, warehouse = landed["emu"], landed["warehouse"]
    meeting_id = landed["ids"][case.name]
    stored = stored_meetings(warehouse).get(meeting_id)
    reject = reject_for(landed, case)
    assert (stored is None) != (reject is None), f"{case.name}: stored={stored is not None} rejected={reject}"
    if reject is not None:
        assert not case.loaded, f"{case.name} must load, was rejected: {reject['reason']}"
        assert reject["reason"], "a reject carries its reason"
        if case.rejected:
            assert case.rejected in reject["reason"], reject["reason"]
        assert "EMU-SECRET" not in reject["raw"]
        return
    assert case.rejected is None, f"{case.name} must be rejected, was stored: {stored}"
    if case.either:
        return
    want = expected_meeting(_listed(emu, meeting_id))
    moment = _AT + timedelta(minutes=case.minute, milliseconds=123)
    for key, value in case.wire.items():
        if isinstance(value, str) and value.startswith("{"):
            want[key] = parsed_wire_time(value, moment)
            if key == "created_at":
                want["created_day"] = want[key].date()
    want.update(case.loaded or {})
    got = {k: stored.get(k) for k in want}
    assert got == want


def _listed(emu, meeting_id: str) -> dict:
    """The meeting as the list endpoint serves it (every field: the odd meetings list all of them)."""
    return next(m for m in emu.meetings() if m["id"] == meeting_id)


def test_the_offset_across_midnight_lands_on_its_utc_day(landed):
    case = next(c for c in CASES if c.name == "offset -05:00 across midnight")
    stored = stored_meetings(landed["warehouse"])[landed["ids"][case.name]]
    assert stored["created_day"] == DAY
    path = landed["warehouse"].parquet_path("meetings", DAY)
    assert path.exists()


def test_every_ordinary_meeting_equals_the_ground_truth(landed):
    emu, warehouse = landed["emu"], landed["warehouse"]
    first, last = emulator_days(emu)
    odd = set(landed["ids"].values())
    truth = {k: v for k, v in truth_meetings(emu, first, last).items() if k not in odd}
    stored = {k: v for k, v in stored_meetings(warehouse).items() if k not in odd}
    assert set(stored) == set(truth)
    for meeting_id, record in truth.items():
        want = expected_meeting(record)
        assert {k: stored[meeting_id].get(k) for k in want} == want


def test_the_sync_reports_every_reject(landed):
    """SyncResult.rejected and sync_runs.rejected add up to the rows in rejected_records, per table."""
    warehouse, results = landed["warehouse"], landed["results"]
    for table in ("meetings", "participants"):
        reported = sum(r.rejected for r in results if r.table == table)
        runs = query(warehouse, "SELECT sum(rejected) AS n FROM sync_runs WHERE table_name = ?", [table])
        assert reported == len(rejects(warehouse, table)) == runs[0]["n"], table
    assert sum(r.rejected for r in results if r.table == "meetings") >= sum(1 for c in CASES if c.rejected)


def test_odd_participants_load_correctly_or_are_rejected(landed):
    emu, warehouse = landed["emu"], landed["warehouse"]
    host, people, odd = landed["host"], landed["people"], landed["odd_people"]
    stored = stored_participants(warehouse)
    rejected = rejects(warehouse, "participants")
    for person in people:
        key = (host, person["id"])
        changes = odd.get(person["id"], {})
        if changes.get("id") is DROP or changes.get("created_at") == "not a time":
            assert key not in stored
            marker = person["custom_participant_id"]
            (row,) = [r for r in rejected if marker in r["raw"]]
            assert row["reason"] and row["meeting_id"] == host
            continue
        listed = next(p for p in emu.participants(host) if p["id"] == person["id"])
        record = {**listed, **changes}
        want = expected_participant(host, DAY, record)
        if "created_at" in changes:
            want["created_at"] = _AT + timedelta(hours=3)
        assert {k: stored[key].get(k) for k in want} == want
    assert "EMU-" not in json.dumps([r["raw"] for r in rejected])


def test_no_secret_reaches_any_table_or_file(landed):
    warehouse = landed["warehouse"]
    for table in ("meetings", "participants", "rejected_records", "sync_runs"):
        text = json.dumps(query(warehouse, f"SELECT * FROM {table}"), default=str, ensure_ascii=False)
        assert "EMU-SECRET" not in text and "EMU-PTOKEN" not in text, table
    for path in warehouse.parquet_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert b"EMU-SECRET" not in blob and b"EMU-PTOKEN" not in blob, path


@pytest.mark.parametrize("day", [END.date() - timedelta(days=n) for n in (1, 2, 3)])
def test_parquet_day_files_hold_what_the_table_holds(landed, day):
    warehouse = landed["warehouse"]
    table_ids = {r["id"] for r in query(warehouse, "SELECT id FROM meetings WHERE created_day = ?", [day])}
    path = warehouse.parquet_path("meetings", day)
    assert set(pq.read_table(path).column("id").to_pylist()) == table_ids


def test_lone_surrogate_is_rejected_without_failing_the_day(tmp_path, proxy_factory):
    """JSON may carry an unpaired UTF-16 surrogate (`"\\ud800"`); the record cannot be stored as text, so it
    belongs in rejected_records, and the rest of its day still loads."""
    emu = small_emulator(meetings=10, participants_mean=0.0)
    try:
        odd = emu.add_meeting(created_at=_AT + timedelta(hours=5), title="to be garbled")["id"]
        proxy = proxy_factory(emu)
        proxy.hooks.append(
            rewrite_records(
                "list_meetings", lambda r: r.update(title="bad \ud800 half") if r["id"] == odd else None
            )
        )
        warehouse = open_duckdb_store(tmp_path, app_id=APP)
        with client_for(proxy.base_url, emu) as client:
            try:
                (result,) = sync_range(client, warehouse, DAY, DAY, participants=False)
            except Exception as exc:
                raise AssertionError(f"the day failed: {type(exc).__name__}: {str(exc)[:200]}") from None
        assert result.rejected == 1
        (row,) = rejects(warehouse, "meetings")
        assert row["record_id"] == odd and row["reason"]
        truth = set(truth_meetings(emu, DAY, DAY)) - {odd}
        assert set(stored_meetings(warehouse)) == truth
    finally:
        emu.stop()
