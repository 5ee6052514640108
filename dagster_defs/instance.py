"""The DAGSTER_HOME behind `rtk-pipeline dagster-home DIR [--postgres]`: write it and open it once.

With `--postgres` the instance keeps runs, event logs and schedules in PostgreSQL (`DAGSTER_PG_URL`), which
is what lets run workers on several hosts share one instance; opening it here checks the database answers
and creates Dagster's tables before the first run, so a wrong URL fails now with the variable's name.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from dagster import DagsterInstance
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from dagster_defs.local import prepare_dagster_home
from dagster_defs.scope import DEFAULT_TOKEN_ENV, token_pool

POSTGRES_TEMPLATE = files("dagster_defs") / "dagster_home" / "dagster-postgres.yaml"
_POSTGRES_STORAGES = (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage)


def storage_of(instance: DagsterInstance) -> str:
    """'postgres' when runs, event logs and schedules all live in Postgres, else the run storage's class."""
    parts = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    inner = [getattr(part, "_storage", part) for part in parts]  # the instance may wrap each storage
    if all(isinstance(s, kind) for s, kind in zip(inner, _POSTGRES_STORAGES, strict=True)):
        return "postgres"
    return type(inner[0]).__name__


def prepare_instance(
    home: Path, *, postgres: bool, token_envs: tuple[str, ...] = (DEFAULT_TOKEN_ENV,)
) -> str:
    """Write `home`/dagster.yaml (the Postgres template or the one-host one) and open the instance once;
    returns what it stores in ("postgres", or the storage class). `token_envs`: the token variables of
    the apps, whose pools get their rows now."""
    prepare_dagster_home(home, POSTGRES_TEMPLATE if postgres else None)
    with DagsterInstance.from_config(str(home)) as instance:
        # Create each token pool's row now: runs that start at the same instant on a fresh database each
        # try to insert it, and the loser's run fails on the unique key (seen with two partition runs).
        for pool in dict.fromkeys(token_pool(name) for name in token_envs):
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        return storage_of(instance)
