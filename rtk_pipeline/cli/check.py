"""`rtk-pipeline check [--json]`: what the API does where its reference is silent, and whether the token may
read and write, in at most 15 requests that change nothing; exit 0 (all the sync relies on holds), 1 (an
assumption is broken: the message says what it would do to the data) or 2 (settings or auth)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from rtk_pipeline import probe
from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import ApiSettings

err_console = Console(stderr=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")


def run(args: argparse.Namespace) -> int:
    try:
        settings = ApiSettings.from_env()
        client = RealtimeKitClient.from_settings(settings, max_attempts=1)  # one attempt = one request
    except ConfigError as exc:
        err_console.print(f"[bold red]settings:[/] {exc}", markup=True, highlight=False)
        if args.json:
            print(json.dumps(probe.Findings().as_json()))
        return 2
    with client:
        found = probe.run_check(client)
    if args.json:
        print(json.dumps(found.as_json()))
        err_console.print(probe.verdict(found), highlight=False)
    else:
        console = Console()
        console.print(probe.findings_table(found, title=f"rtk-pipeline check: {settings.base_url}"))
        console.print(probe.verdict(found), highlight=False)
    return found.exit_code()
