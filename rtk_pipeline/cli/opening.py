"""What the commands that talk to the API open: the client and the store of the environment's app."""

from __future__ import annotations

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.settings import ApiSettings, StoreSettings
from rtk_pipeline.store import Store
from rtk_pipeline.store.backends import open_store_from


def open_app() -> tuple[RealtimeKitClient, Store]:
    """The API client and the configured store (RTK_STORE), both for the app the environment names; a
    missing or malformed setting is a ConfigError before anything is opened."""
    api = ApiSettings.from_env()
    store = StoreSettings.from_env()
    return RealtimeKitClient.from_settings(api), open_store_from(store, api.app_id)
