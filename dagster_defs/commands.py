"""The `rtk-pipeline` subcommands that run Dagster, registered under the `rtk_pipeline.commands` entry point
group (pyproject.toml): the CLI finds them with importlib.metadata and never imports this package itself.

Each entry is a `register(subparsers) -> handler` function: it adds its subparser and returns what runs it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rtk_pipeline.cli import positive_int
from rtk_pipeline.settings import API_TOKEN

Handler = Callable[[argparse.Namespace], int]


def demo(sub: argparse._SubParsersAction) -> Handler:
    parser = sub.add_parser("demo", help="emulator + Dagster backfill + stale deactivation, then a summary")
    parser.add_argument("--meetings", type=positive_int, default=3000)
    parser.add_argument("--days", type=positive_int, default=30)
    parser.add_argument("--seed", type=int, default=7)

    def run(args: argparse.Namespace) -> int:
        from dagster_defs.demo import run_demo

        return run_demo(meetings=args.meetings, days=args.days, seed=args.seed)

    return run


def dev(sub: argparse._SubParsersAction) -> Handler:
    sub.add_parser("dev", help="start the emulator and `dagster dev` together (Ctrl-C stops both)")

    def run(args: argparse.Namespace) -> int:
        from dagster_defs.dev import run_dev

        return run_dev()

    return run


def dagster_home(sub: argparse._SubParsersAction) -> Handler:
    parser = sub.add_parser("dagster-home", help="write a DAGSTER_HOME (instance config) and check it opens")
    parser.add_argument("home", type=Path, help="the folder to use as DAGSTER_HOME")
    parser.add_argument(
        "--postgres", action="store_true", help="run/event/schedule storage in PostgreSQL (DAGSTER_PG_URL)"
    )
    parser.add_argument(
        "--token-env",
        action="append",
        metavar="NAME",
        help=f"a token variable your apps use (repeatable; default {API_TOKEN.name}): create its pool now",
    )

    def run(args: argparse.Namespace) -> int:
        from dagster_defs.instance import prepare_instance

        names = tuple(args.token_env or (API_TOKEN.name,))
        storage = prepare_instance(args.home, postgres=args.postgres, token_envs=names)
        print(f"DAGSTER_HOME={args.home.resolve()} ({storage} storage)")
        return 0

    return run
