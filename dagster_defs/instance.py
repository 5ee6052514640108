"""`rtk-pipeline dagster-home DIR [--postgres]`: write a DAGSTER_HOME for this project and open it once.

With `--postgres` the instance keeps runs, event logs and schedules in PostgreSQL (`DAGSTER_PG_URL`), which
is what lets run workers on several hosts share one instance; opening it here checks the database answers
and creates Dagster's tables before the first run, so a wrong URL fails now with the variable's name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from dagster import DagsterInstance
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from dagster_defs.local import prepare_dagster_home

POSTGRES_TEMPLATE = files("dagster_defs") / "dagster_home" / "dagster-postgres.yaml"
_POSTGRES_STORAGES = (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage)


def storage_of(instance: DagsterInstance) -> str:
    """'postgres' when runs, event logs and schedules all live in Postgres, else the run storage's class."""
    parts = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    inner = [getattr(part, "_storage", part) for part in parts]  # the instance may wrap each storage
    if all(isinstance(s, kind) for s, kind in zip(inner, _POSTGRES_STORAGES, strict=True)):
        return "postgres"
    return type(inner[0]).__name__


def command(sub: argparse._SubParsersAction) -> Callable[[argparse.Namespace], int]:
    parser = sub.add_parser("dagster-home", help="write a DAGSTER_HOME (instance config) and check it opens")
    parser.add_argument("home", type=Path, help="the folder to use as DAGSTER_HOME")
    parser.add_argument(
        "--postgres", action="store_true", help="run/event/schedule storage in PostgreSQL (DAGSTER_PG_URL)"
    )

    def run(args: argparse.Namespace) -> int:
        home = prepare_dagster_home(args.home, POSTGRES_TEMPLATE if args.postgres else None)
        with DagsterInstance.from_config(str(home)) as instance:
            print(f"DAGSTER_HOME={home.resolve()} ({storage_of(instance)} storage)")
        return 0

    return run
