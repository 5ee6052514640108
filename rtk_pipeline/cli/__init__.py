"""`rtk-pipeline` command: demo, dev, emulator, check, backfill, refresh, deactivate-stale, verify, sql,
repair.

Each subcommand is a thin shell over a library function, so the CLI and the Dagster assets load the same
data. Failures end with a one-line cause on stderr and a non-zero exit, never a traceback of secrets.
`demo` and `dev` run Dagster, which this package never imports: the Dagster side registers them under the
`rtk_pipeline.commands` entry point group and the parser discovers them (importlib.metadata).
Each command imports what it needs when it runs: `--help` stays fast, and no command pays for pandas.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, NoReturn

from rtk_pipeline.cli.failures import MAX_LINE, RedactingFilter, one_line, secret_values
from rtk_pipeline.errors import RTKError
from rtk_pipeline.settings import DEFAULT_WORKERS, MAX_PARTITIONS_PER_RUN, day_out_of_range

if TYPE_CHECKING:
    from rich.console import Console

Handler = Callable[[argparse.Namespace], int]
COMMAND_GROUP = "rtk_pipeline.commands"


def _err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _run(module: str) -> Handler:
    """The `run` of a `rtk_pipeline.cli` submodule, imported only when its command runs."""
    return lambda args: importlib.import_module(f"rtk_pipeline.cli.{module}").run(args)


def _day(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None
    wrong = day_out_of_range(day)
    if wrong:
        raise argparse.ArgumentTypeError(wrong)
    return day


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def build_parser(argv: Sequence[str] | None = None) -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The parser and the handler of each subcommand (the library's, then the registered ones).

    The emulator's, `check`'s and `deactivate-stale`'s own flags live in modules that take 0.1-0.3 s to
    import, so they are added only when `argv` (default: the command line) names that command."""
    named = set(sys.argv[1:] if argv is None else argv)

    parser = _Parser(prog="rtk-pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="-v info, -vv debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers: dict[str, Handler] = {}
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        handlers[entry.name] = entry.load()(sub)

    emu = sub.add_parser("emulator", help="serve the RealtimeKit API locally")
    if "emulator" in named:
        from rtk_pipeline import emulator

        emulator.add_cli_arguments(emu)
    handlers["emulator"] = _emulator

    probe = sub.add_parser("check", help="probe auth, permissions and the list semantics a sync relies on")
    if "check" in named:
        from rtk_pipeline.cli import check

        check.add_arguments(probe)
    handlers["check"] = _run("check")

    backfill = sub.add_parser("backfill", help="sync meetings and participants for UTC days (inclusive)")
    backfill.add_argument("--start", type=_day, required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--end", type=_day, required=True, metavar="YYYY-MM-DD")
    backfill.add_argument("--no-participants", action="store_true", help="meetings only")
    backfill.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        help="most participant listings at once (fewer while more list no faster)",
    )
    backfill.add_argument(
        "--days-per-run",
        type=positive_int,
        default=MAX_PARTITIONS_PER_RUN.default,
        help="days per listing and commit (as in Dagster)",
    )
    handlers["backfill"] = _run("backfill")

    stale = sub.add_parser("deactivate-stale", help="PATCH stale ACTIVE meetings to INACTIVE")
    stale.add_argument(
        "--stale-after-days", type=positive_int, default=None, help="idle days before a meeting is stale (30)"
    )
    stale.add_argument("--max", type=positive_int, default=None, help="deactivations per run at most (50)")
    stale.add_argument("--dry-run", action="store_true", help="decide and audit, send no PATCH")
    if "deactivate-stale" in named:
        from rtk_pipeline.cli import deactivate

        deactivate.add_cli_arguments(stale)
    handlers["deactivate-stale"] = _run("deactivate")

    fresh = sub.add_parser(
        "refresh", help="bring stored meetings and ACTIVE meetings' participants up to date within a budget"
    )
    fresh.add_argument(
        "--max-requests",
        type=positive_int,
        default=None,
        help="requests this run may send, retries included (default: the token's budget over 30 minutes)",
    )
    fresh.add_argument("--plan", action="store_true", help="print what a full cycle costs; send nothing")
    fresh.add_argument("--json", action="store_true", help="print one JSON object")
    handlers["refresh"] = _run("refresh")

    checks = sub.add_parser("verify", help="run the data-quality rules over stored UTC days (no Dagster)")
    checks.add_argument("--start", type=_day, required=True, metavar="YYYY-MM-DD")
    checks.add_argument("--end", type=_day, required=True, metavar="YYYY-MM-DD")
    handlers["verify"] = _run("verify")

    query = sub.add_parser("sql", help="run SQL over the warehouse (either backend) with the analyst views")
    query.add_argument("query", help="SQL, or a table/view name (e.g. meetings_per_day)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    handlers["sql"] = _run("sql")

    sub.add_parser(
        "repair", help="rebuild the pipeline's state from the Parquet mirror (Delta: check the tables)"
    )
    handlers["repair"] = _run("repair")
    return parser, handlers


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the command and what is wrong), exit 2: the usage text
    is a `--help` away, and a script's log should hold the cause, not a screen of usage."""

    def error(self, message: str) -> NoReturn:
        line = " ".join(f"{self.prog}: error: {message}".split())
        self.exit(2, (line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser, handlers = build_parser(argv)
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secrets = secret_values()
    redacting = RedactingFilter(secrets)
    log_handlers = logging.getLogger().handlers
    for handler in log_handlers:
        handler.addFilter(redacting)
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        _err_console().print("interrupted")
        return 130
    except Exception as exc:  # every failure ends as one line; -v logs an unexpected one's traceback
        if args.verbose and not isinstance(exc, RTKError):  # the library's own say all in their line
            logging.getLogger("rtk_pipeline.cli").error("%s failed", args.command, exc_info=exc)
        from rich.markup import escape

        line = escape(one_line(exc, secrets))
        _err_console().print(f"[bold red]error:[/] {line}", markup=True, highlight=False, soft_wrap=True)
        return 1
    finally:
        for handler in log_handlers:
            handler.removeFilter(redacting)


def _emulator(args: argparse.Namespace) -> int:
    from rtk_pipeline import emulator

    config, faults = emulator.config_from_args(args)
    emulator.serve(config, faults, host=args.host, port=args.port)
    return 0
