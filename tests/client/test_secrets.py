"""The API token never shows in a repr, an exception (or its chain) or a log line, at any log level."""

from __future__ import annotations

import logging
import traceback

import pytest

from rtk_pipeline.errors import APIError

TOKEN = "super-secret-token-0123456789"


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(token=TOKEN, meetings=60, max_per_page=10)


def failures(emu, client):
    """Provoke one of every error the client raises, over real HTTP."""
    meeting_id = emu.meetings()[0]["id"]
    emu.fail_next(9, 503)
    yield lambda: client.get_meeting(meeting_id)
    emu.fail_next(9, 429)
    yield lambda: client.list_meetings()
    emu.fail_next(9, kind="reset")
    yield lambda: client.list_participants(meeting_id)
    emu.fail_next(9, kind="truncated")
    yield lambda: client.get_meeting(meeting_id)
    yield lambda: client.get_meeting("nope")
    yield lambda: client.create_meeting({"title": 1})


def test_token_never_in_logs_reprs_or_errors(emu, make_client, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore
    client = make_client(emu, max_attempts=2)
    seen = [repr(client), str(client), repr(client.stats), repr(client.rate_limiter)]
    seen += [repr(page) for page in client.iter_meeting_pages()]
    for provoke in failures(emu, client):
        with pytest.raises(APIError) as info:
            provoke()
        seen += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    for bad_token in (make_client(emu, api_token="wrong-" + TOKEN), make_client(emu, account_id="other")):
        with pytest.raises(APIError) as info:
            bad_token.list_meetings()
        seen += [str(info.value), "".join(traceback.format_exception(info.value))]

    assert "rtk_pipeline.client" in {r.name for r in caplog.records}
    assert any("/meetings -> 200" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    for text in seen:
        assert TOKEN not in text


def test_page_repr_hides_records_that_hold_secrets(emulator_factory, make_client):
    emu = emulator_factory(meetings=300, secrets=True)
    client = make_client(emu)
    pages = list(client.iter_meeting_pages())
    assert "EMU-SECRET" in str([p.records for p in pages])  # some list rows carry credentials ...
    assert "EMU-SECRET" not in repr(pages)  # ... which a logged Page never shows
    meeting_id = next(m["id"] for m in emu.meetings() if emu.participants(m["id"]))
    added = client.add_participant(
        meeting_id, {"custom_participant_id": "c", "preset_name": "group_call_host"}
    )
    assert added["token"] not in repr(list(client.iter_participant_pages(meeting_id)))
