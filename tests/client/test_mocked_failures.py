"""Failures a correct server cannot produce on demand (which side of the wire a timeout happened on) and
malformed listings the emulator never serves. Everything else is tested over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import BadRequestError, BadResponseError, NotFoundError, PagingError, TransportError
from rtk_pipeline.ratelimit import RateLimiter

TOKEN = "mock-secret-token-123"
ROOT = "/client/v4/accounts/acc/realtime/kit/app"


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kw) -> RealtimeKitClient:
    kw = {"max_attempts": 4, "backoff": 0.001, "max_retry_wait": 0.01, **kw}
    return RealtimeKitClient(
        api_token=TOKEN,
        account_id="acc",
        app_id="app",
        base_url="http://127.0.0.1:9/client/v4",
        rate_limiter=RateLimiter(10_000, 1.0),
        transport=httpx.MockTransport(handler),
        **kw,
    )


def flaky(exc: type[httpx.TransportError], then: dict, failures: int = 1):
    """A handler that raises `exc` for the first `failures` requests, then answers `then`."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) <= failures:
            raise exc("simulated", request=request)
        return httpx.Response(200, json=then)

    return handler, seen


CREATED = {"success": True, "data": {"id": "m1", "title": "t"}}


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_post_is_resent_when_it_never_left(exc):
    handler, seen = flaky(exc, CREATED)
    with client_for(handler) as client:
        assert client.create_meeting({"title": "t"}) == CREATED["data"]
        assert client.stats.retries == 1
    assert len(seen) == 2


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError],
)
def test_post_is_not_resent_when_the_server_may_have_acted(exc):
    handler, seen = flaky(exc, CREATED)
    with client_for(handler) as client, pytest.raises(TransportError) as info:
        client.create_meeting({"title": "t"})
    assert len(seen) == 1
    assert info.value.method == "POST"
    assert info.value.path.endswith("/meetings")
    assert exc.__name__ in str(info.value)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_get_and_patch_are_resent_after_a_read_failure(exc):
    handler, seen = flaky(exc, CREATED)
    with client_for(handler) as client:
        assert client.get_meeting("m1") == CREATED["data"]
        assert client.update_meeting("m1", {"title": "u"}) == CREATED["data"]
    assert len(seen) == 3  # one failure, then both succeed


def test_transport_failure_exhausts_into_transport_error():
    handler, seen = flaky(httpx.ReadTimeout, CREATED, failures=99)
    with client_for(handler, max_attempts=3) as client, pytest.raises(TransportError, match="3 attempts"):
        client.get_meeting("m1")
    assert len(seen) == 3


def test_delete_404_after_a_lost_answer_says_so():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadTimeout("simulated", request=request)
        return httpx.Response(404, json={"success": False, "error": {"code": 404, "message": "not found"}})

    with client_for(handler) as client, pytest.raises(NotFoundError, match="earlier attempt") as info:
        client.delete_participant("m1", "p1")
    assert info.value.status == 404
    assert len(seen) == 2


# ---------------------------------------------------------------- malformed listings


def listing(pages: Callable[[int, int], dict]):
    """A handler serving `pages(page_no, per_page)` as the JSON body; records each (page_no, per_page)."""
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page_no, per_page = int(request.url.params["page_no"]), int(request.url.params["per_page"])
        asked.append((page_no, per_page))
        return httpx.Response(200, content=json.dumps(pages(page_no, per_page)).encode())

    return handler, asked


def page(ids: range, total: int, start: int) -> dict:
    data = [{"id": f"m{i}"} for i in ids]
    paging = {"total_count": total, "start_offset": start, "end_offset": start + len(data) - 1}
    return {"success": True, "data": data, "paging": paging}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"success": True, "data": []}, "no `paging`"),
        ({"success": True, "data": None, "paging": {"total_count": 0}}, "`data` is null"),
        ({"success": True, "data": [{"id": "x"}] * 3, "paging": {"start_offset": 1}}, "total_count"),
        (page(range(3), 3, 1) | {"data": [{"id": "x"}, 1, 2]}, "not an object"),
        (
            {**page(range(3), 30, 1), "paging": {"total_count": 30, "start_offset": 1, "end_offset": 30}},
            "1..30",
        ),
        (page(range(3), 2, 1), "beyond total_count"),
    ],
)
def test_malformed_page_is_a_bad_response(body, message):
    handler, _ = listing(lambda page_no, per_page: body)
    with client_for(handler) as client, pytest.raises(BadResponseError, match=message) as info:
        list(client.iter_meeting_pages())
    assert info.value.path == ROOT.removeprefix("/client/v4") + "/meetings"


def test_more_rows_than_asked_is_a_bad_response():
    handler, _ = listing(lambda page_no, per_page: page(range(per_page + 1), 5000, 1))
    with (
        client_for(handler, per_page=10) as client,
        pytest.raises(BadResponseError, match="more than the 10"),
    ):
        list(client.iter_meeting_pages())


def test_server_ignoring_page_no_is_caught():
    handler, asked = listing(lambda page_no, per_page: page(range(10), 30, 1))
    with client_for(handler, per_page=10) as client, pytest.raises(PagingError, match="repeats"):
        list(client.iter_meeting_pages())
    assert len(asked) == 2


def test_offsets_going_backwards_are_caught():
    handler, _ = listing(lambda page_no, per_page: page(range(page_no * 10, page_no * 10 + 10), 30, 1))
    with client_for(handler, per_page=10) as client, pytest.raises(PagingError, match="went backwards"):
        list(client.iter_meeting_pages())


def test_offsets_skipping_rows_are_caught():
    handler, _ = listing(
        lambda page_no, per_page: page(range(page_no * 10, page_no * 10 + 10), 50, page_no * 20 - 19)
    )
    with client_for(handler, per_page=10) as client, pytest.raises(PagingError, match="skipped"):
        list(client.iter_meeting_pages())


def test_total_that_keeps_growing_cannot_loop_forever():
    def pages(page_no: int, per_page: int) -> dict:
        start = (page_no - 1) * per_page + 1
        return page(range(start, start + per_page), total=start + 10 * per_page, start=start)

    handler, asked = listing(pages)
    with client_for(handler, per_page=10) as client, pytest.raises(PagingError, match="still not complete"):
        list(client.iter_participant_pages("m1"))
    assert len(asked) <= 2 * 11 + 2


def test_short_page_in_the_middle_is_caught():
    def pages(page_no: int, per_page: int) -> dict:
        return page(range(10), 30, 1) if page_no == 1 else page(range(10, 15), 30, 11)

    handler, asked = listing(pages)
    with client_for(handler, per_page=10) as client, pytest.raises(PagingError, match="fewer than 10"):
        list(client.iter_participant_pages("m1"))
    assert asked == [(1, 10), (2, 10)]


def test_a_token_echoed_by_the_server_is_scrubbed():
    def handler(request: httpx.Request) -> httpx.Response:
        echo = f"bad header: Bearer {TOKEN}"
        return httpx.Response(400, json={"success": False, "errors": [{"code": 6003, "message": echo}]})

    with client_for(handler) as client, pytest.raises(BadRequestError) as info:
        client.list_meetings()
    assert TOKEN not in str(info.value)
    assert info.value.api_message == "bad header: Bearer ***"


def test_a_body_that_fails_to_decompress_is_retried_for_reads_only():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1 or request.method == "POST":
            return httpx.Response(200, content=b"not gzip at all", headers={"Content-Encoding": "gzip"})
        return httpx.Response(200, json=CREATED)

    with client_for(handler) as client:
        assert client.get_meeting("m1") == CREATED["data"]
        with pytest.raises(BadResponseError, match="DecodingError"):
            client.create_meeting({"title": "t"})
    assert seen == ["GET", "GET", "POST"]
