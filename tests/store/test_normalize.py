"""API records -> typed Arrow rows: every ISO form, coercions, unknown fields, rejects, secrets."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from rtk_pipeline.normalize import (
    MEETINGS_SCHEMA,
    PARTICIPANTS_SCHEMA,
    REJECTED_SCHEMA,
    normalize_meetings,
    normalize_participants,
    parse_timestamp,
)
from rtk_pipeline.secrets import scrub, scrub_text, secret_findings

DAY = date(2026, 10, 1)


def one(api, **fields) -> dict:
    """Normalize one meeting and return its stored row (asserting it was not rejected)."""
    out = normalize_meetings([api.meeting(DAY, **fields)], synced_at=api.SYNCED)
    assert out.rejected.num_rows == 0, out.rejected.to_pylist()
    (row,) = out.batch.to_pylist()
    return row


def rejected(api, record) -> dict:
    out = normalize_meetings([record], synced_at=api.SYNCED)
    assert out.batch.num_rows == 0
    (row,) = out.rejected.to_pylist()
    return row


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T18:11:19.117Z", datetime(2026, 10, 1, 18, 11, 19, 117000, tzinfo=UTC)),
        ("2026-10-01T18:11:19Z", datetime(2026, 10, 1, 18, 11, 19, tzinfo=UTC)),
        ("2026-10-01T18:11:19.117+00:00", datetime(2026, 10, 1, 18, 11, 19, 117000, tzinfo=UTC)),
        ("2026-10-01T20:11:19.5+02:00", datetime(2026, 10, 1, 18, 11, 19, 500000, tzinfo=UTC)),
        ("2026-10-01T13:11:19-0500", datetime(2026, 10, 1, 18, 11, 19, tzinfo=UTC)),
        ("2026-10-01T18:11:19.123456789Z", datetime(2026, 10, 1, 18, 11, 19, 123456, tzinfo=UTC)),
        ("2026-10-01T18:11:19.1234567", datetime(2026, 10, 1, 18, 11, 19, 123456, tzinfo=UTC)),
        ("2026-10-01T18:11:19", datetime(2026, 10, 1, 18, 11, 19, tzinfo=UTC)),
        ("2026-10-01 18:11:19Z", datetime(2026, 10, 1, 18, 11, 19, tzinfo=UTC)),
        ("2026-10-01t18:11:19z", datetime(2026, 10, 1, 18, 11, 19, tzinfo=UTC)),
    ],
)
def test_every_iso_form_becomes_the_same_utc_instant(api, text, expected):
    assert parse_timestamp(text) == expected
    row = one(api, created_at=text, updated_at=text)
    assert row["created_at"] == expected and row["updated_at"] == expected
    assert row["created_at"].utcoffset().total_seconds() == 0


def test_a_whole_page_mixing_forms_parses_each_row(api):
    forms = ["2026-10-01T10:00:00.000Z", "2026-10-01T10:00:00.123456789Z", "2026-10-01T12:00:00+02:00"]
    out = normalize_meetings([api.meeting(DAY, created_at=f) for f in forms], synced_at=api.SYNCED)
    assert [r["created_at"].isoformat() for r in out.batch.to_pylist()] == [
        "2026-10-01T10:00:00+00:00",
        "2026-10-01T10:00:00.123456+00:00",
        "2026-10-01T10:00:00+00:00",
    ]


def test_created_day_is_the_utc_day_even_when_the_offset_says_otherwise(api):
    row = one(api, created_at="2026-10-02T01:30:00+05:30")
    assert row["created_day"] == date(2026, 10, 1)


def test_numbers_and_booleans_sent_as_strings_are_coerced(api):
    row = one(api, session_keep_alive_time_in_secs="60", persist_chat="true", record_on_start=1)
    assert row["session_keep_alive_time_in_secs"] == 60
    assert row["persist_chat"] is True and row["record_on_start"] is True
    assert one(api, session_keep_alive_time_in_secs=120.0)["session_keep_alive_time_in_secs"] == 120


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("session_keep_alive_time_in_secs", "sixty", "session_keep_alive_time_in_secs: expected an integer"),
        ("session_keep_alive_time_in_secs", 60.5, "session_keep_alive_time_in_secs: expected an integer"),
        ("session_keep_alive_time_in_secs", 2**70, "expected a 64-bit integer"),
        ("persist_chat", "maybe", "persist_chat: expected a boolean"),
        ("title", {"text": "nested"}, "title: expected a string"),
        ("updated_at", "yesterday", "updated_at: not an ISO 8601 timestamp"),
        ("created_at", "2026-13-45T99:00:00Z", "created_at: not an ISO 8601 timestamp"),
        ("created_at", None, "missing created_at"),
        ("id", None, "missing id"),
        ("id", "", "empty id"),
    ],
)
def test_a_value_that_cannot_be_typed_rejects_the_record_with_a_reason(api, field, value, reason):
    record = api.meeting(DAY, **{field: value})
    row = rejected(api, record)
    assert reason in row["reason"]
    assert json.loads(row["raw"]) == record
    assert row["table_name"] == "meetings"
    expected_day = None if field == "created_at" else DAY
    assert row["day"] == expected_day


def test_rejects_do_not_take_good_neighbours_with_them(api):
    good = [api.meeting(DAY) for _ in range(3)]
    page = [good[0], "not a record", {"created_at": "2026-10-01T00:00:00Z"}, good[1], None, good[2]]
    out = normalize_meetings(page, synced_at=api.SYNCED)
    assert out.batch.column("id").to_pylist() == [g["id"] for g in good]
    assert sorted(out.rejected.column("reason").to_pylist()) == [
        "missing id",
        "not an object: NoneType",
        "not an object: str",
    ]
    assert out.batch.schema.equals(MEETINGS_SCHEMA) and out.rejected.schema.equals(REJECTED_SCHEMA)


def test_unknown_enum_values_are_kept_as_is(api):
    assert one(api, status="ARCHIVED")["status"] == "ARCHIVED"


def test_fields_the_schema_does_not_know_are_kept_in_extra(api):
    row = one(api, transcribe_on_end=True, region="eu", new_block={"depth": [1, {"x": None}]})
    assert row["transcribe_on_end"] is True
    assert json.loads(row["extra"]) == {"region": "eu", "new_block": {"depth": [1, {"x": None}]}}
    assert one(api)["extra"] is None


def test_titles_long_unicode_empty_and_null_survive(api):
    long_title = "Ω≈ç√∫ 会議 🎥 " * 500
    assert len(one(api, title=long_title[:5000])["title"]) == 5000
    assert one(api, title='कक्षा 🎓 "quotes" <b>')["title"] == 'कक्षा 🎓 "quotes" <b>'
    assert one(api, title="")["title"] == ""
    assert one(api, title=None)["title"] is None
    assert one(api, title=42)["title"] == "42"


def test_a_lone_surrogate_rejects_only_its_record(api):
    out = normalize_meetings([api.meeting(DAY, title="\ud800"), api.meeting(DAY)], synced_at=api.SYNCED)
    assert out.batch.num_rows == 1
    assert "not valid Unicode" in out.rejected.column("reason")[0].as_py()


def test_nested_configs_are_json_text_without_secrets(api):
    row = one(
        api,
        ai_config={"summarization": {"word_limit": 500}, "transcription": {"language": "en-US"}},
        recording_config={
            "max_seconds": 3600,
            "storage_config": {"type": "sftp", "password": "pw-1", "private_key": "pk-1", "host": "h"},
        },
    )
    assert json.loads(row["ai_config"]) == {
        "summarization": {"word_limit": 500},
        "transcription": {"language": "en-US"},
    }
    assert json.loads(row["recording_config"]) == {
        "max_seconds": 3600,
        "storage_config": {"type": "sftp", "host": "h"},
    }


def test_secrets_are_removed_at_every_depth_and_spelling():
    record = {
        "token": "t",
        "keep": 1,
        "Access_Key": "a",
        "nested": [{"secret": "s", "list": [{"password": "p", "ok": True}]}],
        "storage": {"private_key": "k", "sasToken": "x", "secret_access_key": "y", "bucket": "b"},
    }
    assert scrub(record) == {"keep": 1, "nested": [{"list": [{"ok": True}]}], "storage": {"bucket": "b"}}
    assert record["token"] == "t"  # a copy: the caller's record is untouched


def test_participants_carry_their_meeting_and_its_day_and_lose_their_token(api):
    p = api.participant(datetime(2026, 10, 3, 9, tzinfo=UTC), token="participant-jwt", joined_via="link")
    out = normalize_participants("m-42", DAY, [p, {"name": "no id"}], synced_at=api.SYNCED)
    assert out.batch.schema.equals(PARTICIPANTS_SCHEMA)
    (row,) = out.batch.to_pylist()
    assert row["meeting_id"] == "m-42" and row["meeting_created_day"] == DAY
    assert json.loads(row["extra"]) == {"joined_via": "link"}
    assert "participant-jwt" not in str(out.batch.to_pylist()) + str(out.rejected.to_pylist())
    (bad,) = out.rejected.to_pylist()
    assert (bad["table_name"], bad["meeting_id"], bad["reason"], bad["day"]) == (
        "participants",
        "m-42",
        "missing id",
        DAY,
    )


def test_empty_pages_give_empty_batches_of_the_declared_schema(api):
    out = normalize_meetings([], synced_at=api.SYNCED)
    assert out.batch.num_rows == 0 and out.batch.schema.equals(MEETINGS_SCHEMA)
    assert out.rejected.num_rows == 0 and out.rejected.schema.equals(REJECTED_SCHEMA)


def test_error_text_is_redacted():
    text = 'GET /x failed: Authorization: Bearer abc.def "password": "hunter2" access_key=AKIA123 other=fine'
    clean = scrub_text(text)
    for secret in ("abc.def", "hunter2", "AKIA123"):
        assert secret not in clean
    assert "other=fine" in clean and len(scrub_text("x" * 5000)) == 2000


def test_scrubber_redactor_and_finder_share_one_secret_rule():
    """What normalize drops, what error text loses and what the checks flag is the same set of keys."""
    record = {"sasToken": "s-one", "tokens_used": 3, "nested": [{"ssh-password": "s-two"}]}
    assert scrub(record) == {"tokens_used": 3, "nested": [{}]}
    text = json.dumps(record)
    assert secret_findings(text, api_token="") == ["key:sasToken", "key:ssh-password"]
    clean = scrub_text(text)
    assert "s-one" not in clean and "s-two" not in clean and '"tokens_used": 3' in clean
    values = "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig, key AKIAABCDEFGHIJKLMNOP, api TOKEN-12345"
    assert secret_findings(values, api_token="TOKEN-12345") == ["api-token", "jwt", "aws-key-id"]
    assert secret_findings("a plain meeting title", api_token="TOKEN-12345") == []
