"""Which backend stands behind the `Store` roles: configuration only (`RTK_STORE`).

`duckdb` (default): one DuckDB file + its Parquet mirror (`RTK_DUCKDB_PATH`, `RTK_PARQUET_DIR`).
`delta`: Delta Lake tables under `RTK_TABLE_URI`, reached with the standard AWS variables.
"""

from __future__ import annotations

from collections.abc import Mapping

from rtk_pipeline.config import env_text, warehouse_paths
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.store.roles import Store

BACKENDS = ("duckdb", "delta")


def store_kind(env: Mapping[str, str] | None = None) -> str:
    """RTK_STORE, checked: `duckdb` unless set."""
    kind = env_text("RTK_STORE", "duckdb", env=env).lower()
    if kind not in BACKENDS:
        raise ConfigError(f"RTK_STORE must be one of {', '.join(BACKENDS)}, got {kind!r}")
    return kind


def store_app_id(env: Mapping[str, str] | None = None, app_id: str | None = None) -> str:
    """The app a store is opened for: `app_id` when given, else RTK_APP_ID (required then)."""
    app = (app_id or "").strip() or env_text("RTK_APP_ID", env=env)
    if not app:
        raise ConfigError("RTK_APP_ID is not set: the warehouse files every row under an app id")
    return app


def open_store(env: Mapping[str, str] | None = None, *, app_id: str | None = None) -> Store:
    """The configured backend for one app (cheap: nothing is opened or written until it is used)."""
    app = store_app_id(env, app_id)
    if store_kind(env) == "delta":
        from rtk_pipeline.store.delta import DeltaStore

        return DeltaStore.from_env(env, app_id=app)
    from rtk_pipeline.store.duckdb_file import DuckDBStore

    return DuckDBStore(*warehouse_paths(env), app_id=app)
