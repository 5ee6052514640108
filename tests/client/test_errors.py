"""Client errors over real HTTP: never retried, typed, and telling the user what to fix, for both error
shapes (RealtimeKit's `error: {code, message}` and Cloudflare's `errors: [{code, message}]`)."""

from __future__ import annotations

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import AuthError, BadRequestError, ConfigError, NotFoundError


def only_one_request(emu) -> int:
    assert len(emu.requests) == 1, "a client error must not be retried"
    return emu.requests[0].status


def test_bad_token_is_401_and_names_the_token_setting(emulator, make_client):
    client = make_client(emulator, api_token="wrong-token-abc")
    with pytest.raises(AuthError) as info:
        client.list_meetings()
    error = info.value
    assert only_one_request(emulator) == 401
    assert (error.status, error.code, error.api_message) == (401, 10000, "Authentication error")
    assert error.method == "GET"
    assert error.path == "/accounts/emu-account/realtime/kit/emu-app/meetings"
    assert "CLOUDFLARE_API_TOKEN" in str(error)
    assert "wrong-token-abc" not in str(error)


def test_wrong_account_is_403_and_names_the_path_settings(emulator, make_client):
    client = make_client(emulator, account_id="someone-else")
    with pytest.raises(AuthError) as info:
        client.get_meeting(emulator.meetings()[0]["id"])
    error = info.value
    assert only_one_request(emulator) == 403
    assert (error.status, error.code) == (403, 10000)
    assert "CLOUDFLARE_ACCOUNT_ID" in str(error)
    assert "RTK_APP_ID" in str(error)
    assert "'someone-else'" in str(error)


@pytest.mark.parametrize("call", ["list", "get"])
def test_wrong_app_is_404_and_names_the_app_setting(emulator, make_client, call):
    client = make_client(emulator, app_id="no-such-app")
    with pytest.raises(NotFoundError) as info:
        if call == "list":
            list(client.iter_meeting_pages())
        else:
            client.get_meeting(emulator.meetings()[0]["id"])
    error = info.value
    assert only_one_request(emulator) == 404
    assert (error.status, error.code, error.api_message) == (404, 404, "App not found")
    assert "check RTK_APP_ID" in str(error)
    assert "'no-such-app'" in str(error)


def test_unknown_meeting_is_404(emulator, client):
    with pytest.raises(NotFoundError) as info:
        client.get_meeting("00000000-0000-4000-8000-000000000000")
    error = info.value
    assert only_one_request(emulator) == 404
    assert (error.code, error.api_message) == (404, "Meeting not found")
    assert error.path.endswith("/meetings/00000000-0000-4000-8000-000000000000")
    assert "HTTP 404" in str(error)


def test_invalid_body_is_400_with_the_api_message(emulator, client):
    with pytest.raises(BadRequestError) as info:
        client.create_meeting({"title": "x", "record_on_start": "yes"})
    error = info.value
    assert only_one_request(emulator) == 400
    assert error.status == 400
    assert "record_on_start" in error.api_message
    assert "record_on_start" in str(error)


def test_invalid_query_is_400(emulator, client):
    with pytest.raises(BadRequestError, match="start_time"):
        client.list_meetings(start_time="last tuesday")
    assert only_one_request(emulator) == 400


def test_conflict_is_a_client_error_not_retried(emulator, client):
    meeting_id = emulator.meetings()[0]["id"]
    body = {"custom_participant_id": "dup", "preset_name": "group_call_host"}
    client.add_participant(meeting_id, body)
    emulator.clear_requests()
    with pytest.raises(BadRequestError) as info:
        client.add_participant(meeting_id, body)
    assert only_one_request(emulator) == 409
    assert info.value.status == 409


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"api_token": " "}, "CLOUDFLARE_API_TOKEN"),
        ({"api_token": "has space"}, "CLOUDFLARE_API_TOKEN"),
        ({"api_token": "tök"}, "CLOUDFLARE_API_TOKEN"),
        ({"account_id": ""}, "CLOUDFLARE_ACCOUNT_ID"),
        ({"app_id": ""}, "RTK_APP_ID"),
    ],
)
def test_settings_are_checked_before_any_request(emulator, make_client, kwargs, setting):
    with pytest.raises(ConfigError, match=setting) as info:
        make_client(emulator, **kwargs)
    assert "has space" not in str(info.value)
    assert emulator.requests == []


@pytest.mark.parametrize(
    "base_url", ["ftp://example.com", "http://", "127.0.0.1:8787/client/v4", "http://[::1"]
)
def test_base_url_is_checked_before_any_request(base_url):
    with pytest.raises(ConfigError, match="RTK_BASE_URL"):
        RealtimeKitClient(api_token="t", account_id="a", app_id="b", base_url=base_url)
