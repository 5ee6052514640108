"""Dagster resources: one API client per app, and the warehouse its stores open.

The token is always an `EnvVar` (the component's `token_env`), so the UI and the run config show the
variable's *name*, never the token, and runs read the value from the environment of the process that
executes them. The token field is also kept out of `repr()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from dagster_defs.env import env_number, env_var_or
from dagster_defs.scope import App
from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.config import DEFAULT_BASE_URL, DEFAULT_DUCKDB_PATH, DEFAULT_PARQUET_DIR
from rtk_pipeline.ratelimit import DEFAULT_MAX_REQUESTS, DEFAULT_PERIOD, shared_limiter
from rtk_pipeline.store import Store
from rtk_pipeline.store.backends import open_store


class RealtimeKitResource(ConfigurableResource):
    """Hands out a `RealtimeKitClient` for one step of one app, paced by its token's budget (1,200
    requests / 300 s against Cloudflare), which every process of the token shares (`rtk_pipeline.budget`:
    the host's state file, or Postgres with DAGSTER_PG_URL), so no instance setting is needed for safety.
    """

    api_token: str = Field(repr=False, description="Cloudflare API token (CLOUDFLARE_API_TOKEN).")
    account_id: str = Field(description="Cloudflare account id (CLOUDFLARE_ACCOUNT_ID).")
    app_id: str = Field(description="RealtimeKit app id (RTK_APP_ID).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API root (RTK_BASE_URL).")
    rate_limit_requests: int = Field(
        default=DEFAULT_MAX_REQUESTS, description="Requests allowed per rate_limit_period_s for this token."
    )
    rate_limit_period_s: float = Field(default=DEFAULT_PERIOD, description="Rate-limit window in seconds.")
    max_in_flight: int = Field(default=16, description="Concurrent HTTP requests within one step.")
    max_attempts: int = Field(default=6, description="HTTP attempts per request before the step fails.")
    max_retry_wait_s: float = Field(default=60.0, description="Longest wait between two HTTP attempts.")
    timeout_s: float = Field(default=30.0, description="HTTP timeout per request.")
    participant_workers: int = Field(default=8, description="Meetings whose participants are listed at once.")

    @contextmanager
    def client(self) -> Iterator[RealtimeKitClient]:
        limiter = shared_limiter(
            self.api_token,
            self.base_url,
            max_requests=self.rate_limit_requests,
            period=self.rate_limit_period_s,
        )
        with RealtimeKitClient(
            api_token=self.api_token,
            account_id=self.account_id,
            app_id=self.app_id,
            base_url=self.base_url,
            timeout=self.timeout_s,
            rate_limiter=limiter,
            max_in_flight=self.max_in_flight,
            max_attempts=self.max_attempts,
            max_retry_wait=self.max_retry_wait_s,
        ) as client:
            yield client


class WarehouseResource(ConfigurableResource):
    """Where the tables live: by default one DuckDB file (single writer, serialized by the store's file lock)
    and a Parquet folder with one file per table and day; with `store="delta"` Delta Lake tables under
    `table_uri` (object-store credentials come from the process's AWS_* variables, never from config)."""

    store: str = Field(default="duckdb", description="Backend: duckdb or delta (RTK_STORE).")
    duckdb_path: str = Field(default=DEFAULT_DUCKDB_PATH, description="DuckDB file (RTK_DUCKDB_PATH).")
    parquet_dir: str = Field(default=DEFAULT_PARQUET_DIR, description="Parquet root (RTK_PARQUET_DIR).")
    table_uri: str = Field(default="", description="Root of the Delta tables (RTK_TABLE_URI).")

    def get(self, app_id: str) -> Store:
        """The store of one app: its rows in the shared tables, and only its rows."""
        settings = {
            "RTK_STORE": self.store,
            "RTK_DUCKDB_PATH": self.duckdb_path,
            "RTK_PARQUET_DIR": self.parquet_dir,
            "RTK_TABLE_URI": self.table_uri,
        }
        return open_store({**os.environ, **settings}, app_id=app_id)


def app_resources(context: Any, app: App) -> tuple[RealtimeKitResource, Store]:
    """One app's client resource and its store, from a step's or a sensor's context (the component binds
    them under the app's resource keys, not fixed parameter names, so several apps fit one project)."""
    realtimekit = getattr(context.resources, app.resource)
    return realtimekit, getattr(context.resources, app.warehouse.resource).get(realtimekit.app_id)


def api_resource(
    *, token_env: str, account_id: str | None, app_id: str | None, base_url: str | None
) -> RealtimeKitResource:
    """One app's client resource: the token by name only; what is not given comes from today's
    variables (CLOUDFLARE_ACCOUNT_ID, RTK_APP_ID, RTK_BASE_URL), read by the process that runs."""
    return RealtimeKitResource(
        api_token=EnvVar(token_env),
        account_id=account_id or EnvVar("CLOUDFLARE_ACCOUNT_ID"),
        app_id=app_id or EnvVar("RTK_APP_ID"),
        base_url=base_url or env_var_or("RTK_BASE_URL", DEFAULT_BASE_URL),
        rate_limit_requests=env_number("RTK_RATE_LIMIT_REQUESTS", DEFAULT_MAX_REQUESTS, minimum=1),
        rate_limit_period_s=env_number("RTK_RATE_LIMIT_PERIOD_S", DEFAULT_PERIOD, minimum=0.001, kind=float),
    )


def warehouse_resource(
    *, backend: str | None, duckdb_path: str | None, parquet_dir: str | None, table_uri: str | None
) -> WarehouseResource:
    """The store settings given, else today's variables (RTK_STORE, RTK_DUCKDB_PATH, RTK_PARQUET_DIR,
    RTK_TABLE_URI). Object-store credentials are never settings: the AWS_* variables of the process."""
    return WarehouseResource(
        store=backend or env_var_or("RTK_STORE", "duckdb"),
        duckdb_path=duckdb_path or env_var_or("RTK_DUCKDB_PATH", DEFAULT_DUCKDB_PATH),
        parquet_dir=parquet_dir or env_var_or("RTK_PARQUET_DIR", DEFAULT_PARQUET_DIR),
        table_uri=table_uri or env_var_or("RTK_TABLE_URI", ""),
    )
