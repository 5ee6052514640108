"""httpx transports with one keep-alive connection each, handed to one request at a time.

Requests go straight to an `httpx.HTTPTransport` (httpx's own connection pool, timeouts, TLS, decoding
and exception types); no `httpx.Client` sits in between. A Client's `send` builds two cookie-jar
adapters per request (`urllib.request.Request` objects, URL parsing included) and takes the jar's lock
twice, for an API that authenticates by header and sets no cookies we need: with 8 threads that was
~20% of a backfill's CPU (W1, side by side). One shared pool would do too, but it scans every pooled
connection (a readability poll on each idle one) under its lock on every request, so each request in
flight gets a one-connection transport of its own. A transport passed in (tests, a mock) is shared.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

# What an httpx Client would add: compressed answers (the decoders httpx always has) and keep-alive.
_DEFAULT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}


class Connections:
    """At most one transport per request in flight; idle ones are reused, all are closed together."""

    def __init__(
        self, *, headers: Mapping[str, str], timeout: httpx.Timeout, transport: httpx.BaseTransport | None
    ) -> None:
        self.headers = httpx.Headers({**_DEFAULT_HEADERS, **headers})
        self._extensions = {"timeout": timeout.as_dict()}
        self._shared = transport
        # One TLS context for all: building one (CA bundle included) per transport costs ~20 ms of CPU.
        self._ssl: ssl.SSLContext | bool = True if transport is not None else httpx.create_ssl_context()
        self._idle: list[httpx.BaseTransport] = [transport or self._new()]
        self._all = list(self._idle)
        self._lock = threading.Lock()
        self._closed = False

    def _new(self) -> httpx.BaseTransport:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return httpx.HTTPTransport(verify=self._ssl, limits=limits)

    def request(self, method: str, url: httpx.URL, body: Any) -> httpx.Request:
        """The request as a Client would build it: these headers, these timeouts, `body` as JSON."""
        return httpx.Request(method, url, headers=self.headers, json=body, extensions=self._extensions)

    @contextmanager
    def one(self) -> Iterator[httpx.BaseTransport]:
        """A transport no other request is using right now."""
        if self._closed:
            raise RuntimeError("Cannot send a request, as the RealtimeKit client has been closed.")
        if self._shared is not None:
            yield self._shared
            return
        try:
            transport = self._idle.pop()  # atomic: no lock needed to take one
        except IndexError:
            with self._lock:
                transport = self._new()
                self._all.append(transport)
        try:
            yield transport
        finally:
            self._idle.append(transport)

    @staticmethod
    def send(transport: httpx.BaseTransport, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """The answer and its whole (decoded) body; raises httpx's exceptions, as a Client would."""
        response = transport.handle_request(request)
        try:
            return response, response.read()
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            transports = list(dict.fromkeys(self._all))
        for transport in transports:
            transport.close()
