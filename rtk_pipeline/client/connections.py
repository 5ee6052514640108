"""httpx Clients with one keep-alive connection each, handed to one request at a time.

One shared Client would do, but its connection pool scans every pooled connection (a readability poll on
each idle one) and takes the pool lock on every request: with 8 threads that was ~15% of a backfill's
CPU (py-spy, W1). A Client per concurrent request keeps httpx whole (timeouts, headers, cookies,
transports) with a one-connection pool. A transport passed in (tests, a mock) is shared by one Client.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.cookiejar import CookieJar

import httpx


class HTTPClients:
    """At most one Client per request in flight; idle ones are reused, all are closed together."""

    def __init__(
        self, *, headers: Mapping[str, str], timeout: httpx.Timeout, transport: httpx.BaseTransport | None
    ) -> None:
        self._headers = headers
        self._timeout = timeout
        # One cookie jar for all (httpx shares a CookieJar it is given): as with a single Client.
        self._cookies = CookieJar()
        self._shared = None if transport is None else self._client(transport)
        # One TLS context for all: building one (CA bundle included) per Client costs ~20 ms of CPU.
        self._ssl: ssl.SSLContext | bool = True if transport is not None else httpx.create_ssl_context()
        self._idle: list[httpx.Client] = [self._shared or self._new()]
        self._all = list(self._idle)
        self._lock = threading.Lock()
        self._closed = False

    def _client(self, transport: httpx.BaseTransport) -> httpx.Client:
        return httpx.Client(
            transport=transport, headers=self._headers, timeout=self._timeout, cookies=self._cookies
        )

    def _new(self) -> httpx.Client:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return self._client(httpx.HTTPTransport(verify=self._ssl, limits=limits))

    @contextmanager
    def one(self) -> Iterator[httpx.Client]:
        """A Client no other request is using right now."""
        if self._shared is not None:
            yield self._shared
            return
        try:
            http = self._idle.pop()  # atomic: no lock needed to take one
        except IndexError:
            with self._lock:
                # Once closed, hand out a closed Client: httpx raises its usual "client has been closed".
                http = self._all[0] if self._closed else self._new()
                self._all.append(http)
        try:
            yield http
        finally:
            self._idle.append(http)

    @property
    def headers(self) -> httpx.Headers:
        return self._all[0].headers

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients = list(dict.fromkeys(self._all))
        for http in clients:
            http.close()
