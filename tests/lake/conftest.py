"""Fixtures for the Delta backend: a real S3 endpoint (moto_server) and a real PostgreSQL, per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import MotoS3, Postgres, postgres_binaries


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[MotoS3]:
    """moto_server on 127.0.0.1 (a free port) with the test bucket; stopped by PID afterwards."""
    server = MotoS3(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl, loopback port); stopped by PID afterwards."""
    bindir, why_not = postgres_binaries()
    if bindir is None:
        pytest.skip(why_not)
    # Not under pytest's tmp_path: that is private to root, and the server may run as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="rtk-pg-"))
    server = None
    try:
        server = Postgres(root, bindir)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
