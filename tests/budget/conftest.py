"""The real PostgreSQL of the lake tests (initdb + pg_ctl, stopped by PID), for the Postgres-shared budget."""

from tests.lake.conftest import postgres  # noqa: F401 - a fixture, used by name
