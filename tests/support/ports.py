"""Loopback ports for the servers the tests start in other processes (Dagster's UI, moto, PostgreSQL)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server subprocess to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
