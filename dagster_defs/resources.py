"""Dagster resources: one API client per app, and the store its steps open.

The token is always an `EnvVar` (the component's `token_env`), so the UI and the run config show the
variable's *name*, never the token, and runs read the value from the environment of the process that
executes them. The token field is also kept out of `repr()`. Each resource turns its fields into the
library's typed settings (`ApiSettings`, `StoreSettings`) once, checked by the same parsers as the
variables they stand for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from dagster_defs.scope import App
from rtk_pipeline import settings as env_settings
from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.settings import ApiSettings, StoreSettings, Variable
from rtk_pipeline.store import Store
from rtk_pipeline.store.backends import open_store_from


def _described(variable: Variable[Any]) -> str:
    """A resource field's description: what its variable is for, and the variable's name."""
    return f"{variable.doc.removesuffix('.')} ({variable.name})."


class RealtimeKitResource(ConfigurableResource):
    """Hands out a `RealtimeKitClient` for one step of one app, paced by its token's budget (1,200
    requests / 300 s against Cloudflare), which every process of the token shares (`rtk_pipeline.budget`:
    the host's state file, or Postgres with DAGSTER_PG_URL), so no instance setting is needed for safety.
    """

    api_token: str = Field(repr=False, description=_described(env_settings.API_TOKEN))
    account_id: str = Field(description=_described(env_settings.ACCOUNT_ID))
    app_id: str = Field(description=_described(env_settings.APP_ID))
    base_url: str = Field(
        default=env_settings.BASE_URL.default, description=_described(env_settings.BASE_URL)
    )
    rate_limit_requests: int = Field(
        default=env_settings.RATE_LIMIT_REQUESTS.default,
        description="Requests allowed per rate_limit_period_s for this token.",
    )
    rate_limit_period_s: float = Field(
        default=env_settings.RATE_LIMIT_PERIOD_S.default, description="Rate-limit window in seconds."
    )
    max_in_flight: int = Field(
        default=env_settings.DEFAULT_MAX_IN_FLIGHT, description="Concurrent HTTP requests within one step."
    )
    max_attempts: int = Field(
        default=env_settings.DEFAULT_MAX_ATTEMPTS,
        description="HTTP attempts per request before the step fails.",
    )
    max_retry_wait_s: float = Field(
        default=env_settings.DEFAULT_MAX_RETRY_WAIT_S, description="Longest wait between two HTTP attempts."
    )
    timeout_s: float = Field(default=env_settings.DEFAULT_TIMEOUT_S, description="HTTP timeout per request.")
    participant_workers: int = Field(
        default=env_settings.DEFAULT_WORKERS,
        description="Most meetings whose participants are listed at once (fewer while more list no faster).",
    )

    def settings(self) -> ApiSettings:
        """This app's API settings (the token, read from its variable when the run started)."""
        return ApiSettings(
            api_token=self.api_token,
            account_id=self.account_id,
            app_id=self.app_id,
            base_url=self.base_url,
            rate_limit_requests=self.rate_limit_requests,
            rate_limit_period_s=self.rate_limit_period_s,
            timeout_s=self.timeout_s,
            max_in_flight=self.max_in_flight,
            max_attempts=self.max_attempts,
            max_retry_wait_s=self.max_retry_wait_s,
        )

    @contextmanager
    def client(self) -> Iterator[RealtimeKitClient]:
        with RealtimeKitClient.from_settings(self.settings()) as client:
            yield client


class StoreResource(ConfigurableResource):
    """Where the tables live: by default one DuckDB file (single writer, serialized by the store's file lock)
    and a Parquet folder with one file per table and day; with `store="delta"` Delta Lake tables under
    `table_uri` (object-store credentials come from the process's AWS_* variables, never from config)."""

    store: str = Field(default=env_settings.STORE.default, description=_described(env_settings.STORE))
    duckdb_path: str = Field(
        default=str(env_settings.DUCKDB_PATH.default),
        description=_described(env_settings.DUCKDB_PATH),
    )
    parquet_dir: str = Field(
        default=str(env_settings.PARQUET_DIR.default),
        description=_described(env_settings.PARQUET_DIR),
    )
    table_uri: str = Field(
        default=env_settings.TABLE_URI.default,
        description=_described(env_settings.TABLE_URI),
    )

    def settings(self) -> StoreSettings:
        """These fields as the library's store settings (a bad backend name fails as RTK_STORE would)."""
        return StoreSettings(
            backend=env_settings.STORE.parse(self.store),
            duckdb_path=Path(self.duckdb_path),
            parquet_dir=Path(self.parquet_dir),
            table_uri=self.table_uri,
        )

    def get(self, app_id: str) -> Store:
        """The store of one app: its rows in the shared tables, and only its rows."""
        return open_store_from(self.settings(), app_id)


def app_resources(context: Any, app: App) -> tuple[RealtimeKitResource, Store]:
    """One app's client resource and its store, from a step's or a sensor's context (the component binds
    them under the app's resource keys, not fixed parameter names, so several apps fit one project)."""
    realtimekit = getattr(context.resources, app.resource)
    return realtimekit, getattr(context.resources, app.store_resource).get(realtimekit.app_id)


def api_resource(
    *,
    token_env: str,
    account_id: str | None,
    app_id: str | None,
    base_url: str,
    rate_limit: tuple[int, float],
    participant_workers: int,
) -> RealtimeKitResource:
    """One app's client resource: the token by name only; account and app id as given, else the variables
    (CLOUDFLARE_ACCOUNT_ID, RTK_APP_ID) read by the process that runs, like the token; the token's budget
    (requests, period) and the participant workers as the component says."""
    return RealtimeKitResource(
        api_token=EnvVar(token_env),
        account_id=account_id or EnvVar(env_settings.ACCOUNT_ID.name),
        app_id=app_id or EnvVar(env_settings.APP_ID.name),
        base_url=base_url,
        rate_limit_requests=rate_limit[0],
        rate_limit_period_s=rate_limit[1],
        participant_workers=participant_workers,
    )


def store_resource(store: StoreSettings) -> StoreResource:
    """The component's store. Object-store credentials are never settings: the AWS_* variables of the
    process."""
    return StoreResource(
        store=store.backend,
        duckdb_path=str(store.duckdb_path),
        parquet_dir=str(store.parquet_dir),
        table_uri=store.table_uri,
    )
