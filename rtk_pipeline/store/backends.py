"""Which backend stands behind the `Store` roles: configuration only (`RTK_STORE`).

`duckdb` (default): one DuckDB file + its Parquet mirror (`RTK_DUCKDB_PATH`, `RTK_PARQUET_DIR`).
`delta`: Delta Lake tables under `RTK_TABLE_URI`, reached with the standard AWS variables.
"""

from __future__ import annotations

from collections.abc import Mapping

from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import APP_ID, StoreSettings
from rtk_pipeline.store.roles import Store


def store_app_id(env: Mapping[str, str] | None = None, app_id: str | None = None) -> str:
    """The app a store is opened for: `app_id` when given, else RTK_APP_ID (required then)."""
    app = (app_id or "").strip() or APP_ID.read(env)
    if not app:
        raise ConfigError(f"{APP_ID.name} is not set: the warehouse files every row under an app id")
    return app


def open_store(env: Mapping[str, str] | None = None, *, app_id: str | None = None) -> Store:
    """The backend the environment (or `env`) configures, for one app."""
    app = store_app_id(env, app_id)
    return open_store_from(StoreSettings.from_env(env), app, env=env)


def open_store_from(
    settings: StoreSettings,
    app_id: str,
    *,
    env: Mapping[str, str] | None = None,
    busy_timeout: float | None = None,
) -> Store:
    """The backend `settings` name, for one app (cheap: nothing is opened or written until it is used).
    Object-store credentials come from the AWS_* variables of `env`, by default the process's (delta-rs's
    contract: they are never settings). `busy_timeout`: how long a DuckDB open waits for another process
    (the DuckDB file's default if None; Delta never waits)."""
    if settings.backend == "delta":
        from rtk_pipeline.store.delta import DeltaStore
        from rtk_pipeline.store.delta.objectstore import TableRoot

        return DeltaStore(TableRoot.from_env(settings.table_uri, env), app_id=app_id)
    from rtk_pipeline.store.duckdb_file import DuckDBStore

    store = DuckDBStore(settings.duckdb_path, settings.parquet_dir, app_id=app_id)
    if busy_timeout is not None:
        store.busy_timeout = busy_timeout
    return store
