"""The HTTP plumbing of the emulator: a stdlib ThreadingHTTPServer on loopback that hands each request to
the emulator and writes its answer in one send with an exact Content-Length (keep-alive reused, no Nagle
delay), or resets the connection when a fault says so. It knows the emulator only as the `Serve` callable it
is given, so the plumbing never imports the emulator that owns it."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from rtk_pipeline.emulator.wire import Response

# What the server calls for each request: (the request's handler, its method).
Serve = Callable[["Handler", str], None]
# What socketserver hands its request methods (a stream server's are sockets).
_Request = socket.socket | tuple[bytes, socket.socket]


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"the emulator only listens on IPv4 loopback (127.0.0.0/8 or localhost), not {host!r}"
        )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "rtk-emulator"
    server: Server  # the one below, which made this handler (the stdlib types it as any BaseServer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator keeps its own request log."""

    def do_GET(self) -> None:
        self.server.serve(self, "GET")

    def do_POST(self) -> None:
        self.server.serve(self, "POST")

    def do_PATCH(self) -> None:
        self.server.serve(self, "PATCH")

    def do_PUT(self) -> None:
        self.server.serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.serve(self, "DELETE")

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, resp: Response) -> None:
        if resp.action == "reset":
            self.close_connection = True
            self.server.mark_reset(self.connection)
            return
        body = resp.body
        head = [
            f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(body)}",
            f"Date: {formatdate(usegmt=True)}",
            "Server: rtk-emulator",
        ]
        head.extend(f"{name}: {value}" for name, value in resp.headers)
        if resp.action == "cut":  # promise the whole body, deliver half, hang up
            body = body[: len(body) // 2]
            self.close_connection = True
        elif self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], serve: Serve) -> None:
        self.serve = serve
        self._conns: set[socket.socket] = set()
        self._resets: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse DNS lookup of the address: loopback needs none."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.socket.getsockname()[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (or a stop() that closes its socket) is normal, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def process_request(self, request: _Request, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(cast(socket.socket, request))  # a TCP server's requests are its sockets
        super().process_request(request, client_address)

    def mark_reset(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._conns_lock:
            self._resets.add(sock)

    def shutdown_request(self, request: _Request) -> None:
        with self._conns_lock:
            self._conns.discard(request)
            reset = request in self._resets
            self._resets.discard(request)
        if reset:
            self.close_request(request)  # no FIN first: with SO_LINGER 0 the close sends RST
        else:
            super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
