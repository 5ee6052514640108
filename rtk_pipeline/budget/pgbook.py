"""The token's GCRA state in one PostgreSQL row, shared by every host that points at the same database.

A reservation is one autocommitted `UPDATE ... RETURNING`: Postgres takes the row lock, applies the step of
`gcra.gcra_step` (written out in SQL below) and answers with the wait, so no lock is held across a round
trip. Times come from the database's own clock (`clock_timestamp()`), so hosts whose clocks disagree still
agree on the slots. The row is keyed by the token's hash (`budget.token_key`), never the token.
psycopg2 is the driver dagster-postgres already brings; it is imported only when Postgres is configured.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from rtk_pipeline.errors import ConfigError, RetriableError
from rtk_pipeline.secrets import scrub_text

TABLE = "rtk_rate_budget"
_LOCK_ID = 0x52544B42  # "RTKB": serializes the one-time CREATE TABLE of several hosts starting at once

_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    token_key  text PRIMARY KEY,
    tat        double precision NOT NULL,
    not_before double precision NOT NULL,
    last_slot  double precision NOT NULL
)"""
_ADD_ROW = f"INSERT INTO {TABLE} VALUES (%s, 0, 0, 0) ON CONFLICT (token_key) DO NOTHING"
# gcra_step in SQL: every SET expression reads the row as it was, so last_slot is this caller's slot.
_RESERVE = f"""
WITH c AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now)
UPDATE {TABLE} b
SET last_slot = greatest(c.now, b.tat - %(tolerance)s, b.not_before),
    tat = greatest(b.tat, greatest(c.now, b.tat - %(tolerance)s, b.not_before)) + %(interval)s
FROM c WHERE b.token_key = %(key)s
RETURNING b.last_slot - c.now"""
_HOLD = f"""
UPDATE {TABLE} SET not_before = greatest(not_before, extract(epoch FROM clock_timestamp()) + %(seconds)s)
WHERE token_key = %(key)s"""


class BudgetUnavailableError(RetriableError):
    """The shared budget's database did not answer; the request was not sent."""


def libpq_url(url: str) -> str:
    """`postgresql+psycopg2://...` (SQLAlchemy's spelling, which Dagster accepts) as libpq wants it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class PgBook:
    """One token's row in `TABLE`; one connection per process, shared by its threads under a lock."""

    def __init__(self, url: str, key: str, *, setting: str) -> None:
        self._dsn = libpq_url(url)
        self._key = key
        self._setting = setting
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        try:
            with self._lock:
                self._connection()
        except BudgetUnavailableError as exc:
            raise ConfigError(str(exc)) from None

    def __repr__(self) -> str:
        return f"PgBook(table={TABLE!r})"

    def reserve(self, interval: float, tolerance: float) -> float:
        row = self._run(_RESERVE, {"key": self._key, "interval": interval, "tolerance": tolerance})
        return float(row[0])

    def hold(self, seconds: float) -> None:
        self._run(_HOLD, {"key": self._key, "seconds": seconds})

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        """One statement; a dropped connection is reopened once before the caller hears of it."""
        import psycopg2

        with self._lock:
            try:
                return self._execute(sql, params)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self._conn = None  # dropped (server restart, idle timeout): one fresh connection
            try:
                return self._execute(sql, params)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self._conn = None
                raise BudgetUnavailableError(
                    f"the rate budget's database ({self._setting}) stopped answering"
                ) from None

    def _execute(self, sql: str, params: dict[str, Any]) -> Any:
        with self._connection().cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone() if cur.description else None

    def _connection(self) -> Any:
        """The open connection, made (with the table and this token's row) on first use and in a forked
        child, which must not talk over its parent's socket."""
        if self._conn is not None and not self._conn.closed and self._pid == os.getpid():
            return self._conn
        import psycopg2

        try:
            conn = psycopg2.connect(self._dsn, connect_timeout=10, application_name="rtk-pipeline budget")
            with conn, conn.cursor() as cur:  # one transaction: create once, whoever comes first
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                cur.execute(_CREATE)
                cur.execute(_ADD_ROW, (self._key,))
        except psycopg2.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            detail = scrub_text(first.replace(self._dsn, "***"))
            raise BudgetUnavailableError(
                f"{self._setting}: the rate budget's database did not answer ({detail})"
            ) from None
        conn.autocommit = True
        self._conn, self._pid = conn, os.getpid()
        return conn
