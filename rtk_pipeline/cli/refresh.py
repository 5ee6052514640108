"""`rtk-pipeline refresh`: bring stored meetings and ACTIVE meetings' participants up to date within a
request budget; `--plan` says what a full cycle costs, from the warehouse alone (sends and writes nothing)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from rtk_pipeline.refresh import RefreshPlan, plan, refresh
from rtk_pipeline.settings import APP_ID, RefreshSettings, StoreSettings
from rtk_pipeline.store.backends import open_store_from, store_app_id


def run(args: argparse.Namespace) -> int:
    settings = RefreshSettings.from_env()
    if args.plan:
        return _plan(args, settings)
    from rtk_pipeline.cli.opening import open_app

    client, store = open_app()
    with client:
        report = refresh(client, store, max_requests=args.max_requests, settings=settings)
    _print(report.as_json(), args.json, f"refresh -> {store!r}")
    return 0


def _plan(args: argparse.Namespace, settings: RefreshSettings) -> int:
    """Read-only: a missing warehouse is one line and a non-zero exit, never a new empty one; a warehouse of
    an earlier release is read as it is (its first write migrates it)."""
    store = open_store_from(StoreSettings.from_env(), store_app_id())
    store.require_existing()
    figures: RefreshPlan = plan(store, max_requests=args.max_requests, settings=settings)
    _print(figures.as_json(), args.json, f"refresh plan for app {APP_ID.read()} at {store.location}")
    return 0


def _print(figures: dict, as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(figures))
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
