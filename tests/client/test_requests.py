"""What every request carries, as the transport receives it (the emulator records no headers, so that no
token ever lands in its log): requests go to the transport with no httpx Client in between, so what a
Client would add is the client's to add."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import httpx
import pytest

from rtk_pipeline import __version__
from tests.client.test_mocked_failures import CREATED, TOKEN, client_for


def recorded() -> tuple[list[httpx.Request], Callable[[httpx.Request], httpx.Response]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=CREATED)

    return seen, handler


def test_every_request_carries_the_token_compression_keep_alive_and_the_timeouts():
    seen, handler = recorded()
    client = client_for(handler, timeout=7.0)
    client.get_meeting("m1")
    client.create_meeting({"title": "t"})
    get, post = seen
    for request in (get, post):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith(f"rtk-pipeline/{__version__} python-httpx/")
        assert "gzip" in request.headers["Accept-Encoding"]
        assert request.headers["Connection"] == "keep-alive"
        assert request.headers["Host"] == "127.0.0.1:9"
        assert request.extensions["timeout"] == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert get.method == "GET" and "content-type" not in get.headers
    assert post.method == "POST" and post.headers["Content-Type"] == "application/json"
    assert json.loads(post.content) == {"title": "t"}
    client.close()


def test_a_compressed_answer_is_decoded():
    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(json.dumps(CREATED).encode())
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    client = client_for(handler)
    assert client.get_meeting("m1") == CREATED["data"]
    client.close()


def test_a_closed_client_says_so():
    seen, handler = recorded()
    client = client_for(handler)
    client.close()
    with pytest.raises(RuntimeError, match="client has been closed"):
        client.get_meeting("m1")
    assert seen == []
