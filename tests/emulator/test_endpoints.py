"""Every endpoint of the reference over real HTTP: happy paths, the two error shapes, 400/401/403/404/405."""

from __future__ import annotations

import re
import socket
import uuid

import pytest

from tests.support.truth import SECRET_KEYS

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# The reference's fields, written out independently of the emulator's own lists.
# fmt: off
LIST_FIELDS = {
    "id", "created_at", "updated_at", "live_stream_on_start", "persist_chat", "record_on_start",
    "session_keep_alive_time_in_secs", "status", "summarize_on_end", "title",
}
PARTICIPANT_FIELDS = {
    "id", "created_at", "custom_participant_id", "preset_name", "updated_at", "name", "picture",
}
# fmt: on
NEWER_FIELDS = {"ai_config", "recording_config", "transcribe_on_end", "x_region"}


def secret_keys_in(obj) -> set[str]:
    if isinstance(obj, dict):
        return {k for k in obj if k in SECRET_KEYS}.union(*(secret_keys_in(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(secret_keys_in(v) for v in obj))
    return set()


def rtk_error(r) -> dict:
    body = r.json()
    assert body["success"] is False and set(body) == {"success", "error"}, body
    assert body["error"]["code"] == r.status_code and body["error"]["message"]
    return body["error"]


def cloudflare_error(r, code: int) -> None:
    body = r.json()
    assert body == {
        "success": False,
        "errors": [{"code": code, "message": body["errors"][0]["message"]}],
        "messages": [],
        "result": None,
    }


def test_list_meetings_returns_the_documented_envelope(emulator, api):
    r = api.get("/meetings")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"data", "paging", "success"} and body["success"] is True
    assert body["paging"] == {"total_count": 300, "start_offset": 1, "end_offset": 20}
    assert body["data"] == emulator.meetings(secrets=True)[:20]
    for meeting in body["data"]:
        assert {"id", "created_at", "updated_at"} <= set(meeting)
        assert ISO_MS.match(meeting["created_at"]) and ISO_MS.match(meeting["updated_at"])
        assert meeting["status"] in ("ACTIVE", "INACTIVE")


def test_list_rows_carry_only_the_ten_fields_except_a_few_newer_ones(emulator):
    rows = emulator.meetings(secrets=True)
    newer = [m for m in rows if set(m) - LIST_FIELDS]
    assert 0 < len(newer) < len(rows) // 5
    assert any(secret_keys_in(m) for m in newer), "credentials reach a few list rows, for the sync to scrub"
    assert all(set(m) - LIST_FIELDS <= NEWER_FIELDS for m in rows)


def test_create_meeting_returns_201_with_defaults_and_it_is_listed_first(emulator, api):
    body = {
        "title": "Quarterly review 📈",
        "record_on_start": True,
        "ai_config": {"summarization": {"summary_type": "general", "word_limit": 150}},
        "recording_config": {"storage_config": {"type": "aws", "access_key": "AK", "secret": "S"}},
        "transcribe_on_end": True,
    }
    r = api.post("/meetings", json=body)
    assert r.status_code == 201
    created = r.json()["data"]
    assert uuid.UUID(created["id"]).version == 4
    assert ISO_MS.match(created["created_at"]) and created["created_at"] == created["updated_at"]
    assert created["title"] == "Quarterly review 📈" and created["record_on_start"] is True
    assert created["status"] == "ACTIVE" and created["persist_chat"] is False
    assert created["session_keep_alive_time_in_secs"] == 60
    assert created["recording_config"]["storage_config"]["secret"] == "S"
    assert api.get(f"/meetings/{created['id']}").json()["data"] == created
    assert emulator.meeting(created["id"], secrets=True) == created
    assert api.get("/meetings").json()["data"][0]["id"] == created["id"]


def test_create_meeting_accepts_an_empty_body(api):
    assert api.post("/meetings").status_code == 201
    assert api.post("/meetings", json={}).status_code == 201


def test_get_meeting_includes_recording_config_and_accepts_name(emulator, api):
    mid = emulator.meetings()[5]["id"]
    r = api.get(f"/meetings/{mid}", params={"name": "ignored"})
    assert r.status_code == 200 and r.json()["success"] is True
    data = r.json()["data"]
    assert data["id"] == mid and "recording_config" in data
    assert data == emulator.meeting(mid, secrets=True)


def test_patch_changes_only_given_fields_and_moves_updated_at(emulator, api):
    before = emulator.meetings(status="ACTIVE")[0]
    r = api.patch(f"/meetings/{before['id']}", json={"status": "INACTIVE"})
    assert r.status_code == 200
    after = r.json()["data"]
    assert after["status"] == "INACTIVE" and after["updated_at"] > before["updated_at"]
    unchanged = {k: v for k, v in before.items() if k not in ("status", "updated_at")}
    assert {k: after[k] for k in unchanged} == unchanged
    assert emulator.meeting(before["id"])["status"] == "INACTIVE"
    second = api.patch(f"/meetings/{before['id']}", json={}).json()["data"]
    assert second["updated_at"] > after["updated_at"], "every write moves updated_at forward"


def test_put_replaces_writable_fields_and_keeps_status(emulator, api):
    mid = emulator.meetings(status="INACTIVE")[0]["id"]
    api.patch(f"/meetings/{mid}", json={"persist_chat": True, "title": "old"})
    r = api.put(f"/meetings/{mid}", json={"title": "replaced", "summarize_on_end": True})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["title"] == "replaced" and data["summarize_on_end"] is True
    assert data["persist_chat"] is False, "absent writable fields go back to their defaults"
    assert data["status"] == "INACTIVE"
    assert "storage_config" not in data["recording_config"]


def test_participant_lifecycle(emulator, api):
    mid = emulator.meetings()[0]["id"]
    before = emulator.participants(mid)
    added = api.post(
        f"/meetings/{mid}/participants",
        json={
            "custom_participant_id": "mary@example.com",
            "preset_name": "webinar_viewer",
            "name": "Mary Sue",
        },
    )
    assert added.status_code == 201
    p = added.json()["data"]
    assert p["token"].startswith("EMU-PTOKEN-") and p["name"] == "Mary Sue"
    assert set(p) == PARTICIPANT_FIELDS - {"picture"} | {"token"}
    pid = p["id"]

    listed = api.get(f"/meetings/{mid}/participants", params={"per_page": 100}).json()
    assert listed["paging"]["total_count"] == len(before) + 1
    assert all("token" not in row for row in listed["data"])
    assert pid in {row["id"] for row in listed["data"]}

    got = api.get(f"/meetings/{mid}/participants/{pid}")
    assert got.status_code == 200 and "token" not in got.json()["data"]
    assert got.json()["data"] == {k: v for k, v in p.items() if k != "token"}

    edit = {"name": "Jane Doe", "picture": None}
    edited = api.patch(f"/meetings/{mid}/participants/{pid}", json=edit).json()
    assert edited["data"]["name"] == "Jane Doe" and edited["data"]["picture"] is None
    assert edited["data"]["token"] == p["token"] and edited["data"]["updated_at"] > p["updated_at"]

    refreshed = api.post(f"/meetings/{mid}/participants/{pid}/token")
    assert refreshed.status_code == 200
    assert refreshed.json() == {"success": True, "data": {"token": refreshed.json()["data"]["token"]}}
    assert refreshed.json()["data"]["token"] != p["token"]

    deleted = api.delete(f"/meetings/{mid}/participants/{pid}")
    assert deleted.status_code == 200
    data = deleted.json()["data"]
    assert set(data) == {"created_at", "custom_participant_id", "preset_id", "updated_at"}
    assert data["custom_participant_id"] == "mary@example.com" and uuid.UUID(data["preset_id"])
    assert api.get(f"/meetings/{mid}/participants/{pid}").status_code == 404
    assert emulator.participants(mid) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preset_name": "group_call_host"}, "custom_participant_id"),
        ({"custom_participant_id": "x"}, "preset_name"),
        ({"custom_participant_id": "", "preset_name": "group_call_host"}, "custom_participant_id"),
        ({"custom_participant_id": 5, "preset_name": "group_call_host"}, "custom_participant_id"),
        (None, "custom_participant_id"),
    ],
)
def test_add_participant_requires_custom_id_and_preset(emulator, api, body, field):
    mid = emulator.meetings()[0]["id"]
    r = api.post(f"/meetings/{mid}/participants", json=body)
    assert r.status_code == 400 and field in rtk_error(r)["message"]


def test_a_custom_participant_id_is_unique_within_a_meeting(emulator, api):
    mid = emulator.meetings()[0]["id"]
    body = {"custom_participant_id": "dup", "preset_name": "group_call_host"}
    assert api.post(f"/meetings/{mid}/participants", json=body).status_code == 201
    r = api.post(f"/meetings/{mid}/participants", json=body)
    assert r.status_code == 409 and rtk_error(r)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/meetings/{unknown}"),
        ("PATCH", "/meetings/{unknown}"),
        ("PUT", "/meetings/{unknown}"),
        ("GET", "/meetings/{unknown}/participants"),
        ("POST", "/meetings/{unknown}/participants"),
        ("GET", "/meetings/{mid}/participants/{unknown}"),
        ("PATCH", "/meetings/{mid}/participants/{unknown}"),
        ("DELETE", "/meetings/{mid}/participants/{unknown}"),
        ("POST", "/meetings/{mid}/participants/{unknown}/token"),
        ("GET", "/meetings/not-a-uuid"),
    ],
)
def test_unknown_meetings_and_participants_are_404(emulator, api, method, path):
    url = path.format(unknown=uuid.uuid4(), mid=emulator.meetings()[0]["id"])
    body = {"custom_participant_id": "x", "preset_name": "y"} if method == "POST" else {}
    r = api.http.request(method, url, json=body if method != "GET" else None)
    assert r.status_code == 404 and rtk_error(r)


@pytest.mark.parametrize(
    ("method", "content", "fragment"),
    [
        ("POST", b"{not json", "not valid JSON"),
        ("POST", b"[1, 2]", "JSON object"),
        ("POST", b'{"title": 5}', "title"),
        ("POST", b'{"stauts": "INACTIVE"}', "stauts"),
        ("POST", b'{"session_keep_alive_time_in_secs": 30}', "session_keep_alive_time_in_secs"),
        ("POST", b'{"persist_chat": "yes"}', "persist_chat"),
        ("POST", b'{"ai_config": {"summarization": {"word_limit": 10}}}', "summarization.word_limit"),
        ("POST", b'{"recording_config": {"storage_config": {"bucket": "b"}}}', "type"),
        ("POST", b'{"recording_config": {"video_config": {"codec": "AV1"}}}', "codec"),
        ("PATCH", b'{"status": "PAUSED"}', "status"),
        ("PATCH", b'{"title": null}', "title"),
        ("PUT", b'{"record_on_start": 1}', "record_on_start"),
    ],
)
def test_bad_meeting_bodies_are_400(emulator, api, method, content, fragment):
    path = "/meetings" if method == "POST" else f"/meetings/{emulator.meetings()[0]['id']}"
    r = api.http.request(method, path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and fragment in rtk_error(r)["message"]


def test_bad_participant_edit_is_400(emulator, api):
    mid = next(m["id"] for m in emulator.meetings() if emulator.participants(m["id"]))
    pid = emulator.participants(mid)[0]["id"]
    r = api.patch(f"/meetings/{mid}/participants/{pid}", json={"preset_name": None})
    assert r.status_code == 400 and "preset_name" in rtk_error(r)["message"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page_no": "abc"}, "page_no"),
        ({"page_no": "0"}, "page_no"),
        ({"page_no": "1.5"}, "page_no"),
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "-3"}, "per_page"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"end_time": "2026-13-01T00:00:00Z"}, "end_time"),
        ({"status": "active"}, "status"),
    ],
)
def test_bad_query_values_are_400(api, params, fragment):
    r = api.get("/meetings", params=params)
    assert r.status_code == 400 and fragment in rtk_error(r)["message"]


def test_an_unencoded_plus_in_a_time_gets_a_hint(api):
    r = api.http.get("/meetings?start_time=2026-10-25T00:00:00+02:00")
    assert r.status_code == 400 and "%2B" in rtk_error(r)["message"]


def test_participant_query_values_are_validated_too(emulator, api):
    r = api.get(f"/meetings/{emulator.meetings()[0]['id']}/participants", params={"per_page": "many"})
    assert r.status_code == 400 and "per_page" in rtk_error(r)["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic ZW11LXRva2Vu"},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_wrong_token_is_401_in_cloudflare_shape(emulator, api, headers):
    r = api.http.get("/meetings", headers={"Authorization": ""} | headers)
    assert r.status_code == 401
    cloudflare_error(r, 10000)


def test_wrong_account_is_403_and_wrong_app_is_404(emulator, api):
    r = api.http.get(f"{emulator.base_url}/accounts/other/realtime/kit/{emulator.app_id}/meetings")
    assert r.status_code == 403
    cloudflare_error(r, 10000)
    r = api.http.get(f"{emulator.base_url}/accounts/{emulator.account_id}/realtime/kit/other/meetings")
    assert r.status_code == 404 and "App" in rtk_error(r)["message"]


def test_unroutable_paths_and_wrong_methods(emulator, api):
    r = api.get(api.root + "/rooms")
    assert r.status_code == 404
    cloudflare_error(r, 7003)
    r = api.http.get(emulator.base_url.replace("/client/v4", "/elsewhere"))
    assert r.status_code == 404
    cloudflare_error(r, 7000)
    r = api.delete(f"/meetings/{emulator.meetings()[0]['id']}")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH, PUT" and rtk_error(r)


def test_trailing_slash_is_the_same_resource(api):
    assert api.get("/meetings/").json()["paging"]["total_count"] == 300


def test_request_log_records_each_request_without_the_token(emulator, api):
    emulator.clear_requests()
    api.get("/meetings", params={"per_page": "5", "search": "sync"})
    api.post("/meetings", json={"title": "logged"})
    api.http.get("/meetings", headers={"Authorization": "Bearer nope"})
    log = emulator.requests
    assert [(r.method, r.status, r.endpoint) for r in log] == [
        ("GET", 200, "list_meetings"),
        ("POST", 201, "create_meeting"),
        ("GET", 401, "list_meetings"),
    ]
    assert log[0].query == {"per_page": "5", "search": "sync"} and log[0].body is None
    assert log[1].body == {"title": "logged"} and log[1].path.endswith("/meetings")
    assert log[0].timestamp <= log[1].timestamp <= log[2].timestamp
    assert emulator.token not in repr(log) and emulator.token not in repr(emulator)
    assert emulator.stats["by_status"] == {200: 1, 201: 1, 401: 1}
    emulator.clear_requests()
    assert emulator.requests == []


def test_keep_alive_serves_many_requests_on_one_connection(emulator, api):
    for _ in range(5):
        assert api.get("/meetings", params={"per_page": 1}).status_code == 200
    assert api.get("/meetings").headers.get("connection") != "close"


def test_a_chunked_request_body_is_read(api):
    chunks = iter([b'{"title": ', b'"chunked"}'])
    r = api.post("/meetings", content=chunks, headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and r.json()["data"]["title"] == "chunked"


def test_a_malformed_content_length_is_400_and_closes(emulator, api):
    path = api.root.removeprefix(f"http://127.0.0.1:{emulator.port}") + "/meetings"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {emulator.token}\r\n"
        "Content-Length: many\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(request.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in answer
