"""Command-line options of the emulator, so `rtk-pipeline emulator` (and `python -m rtk_pipeline.emulator`)
stay thin: `add_cli_arguments(parser)`, then `config_from_args(args)` and `serve(cfg, faults, args.host,
args.port)`."""

from __future__ import annotations

import argparse
from datetime import datetime

from rtk_pipeline.emulator.config import ORDERS, WINDOW_FIELDS, EmulatorConfig
from rtk_pipeline.emulator.faults import Faults
from rtk_pipeline.emulator.server import serve

_CFG = EmulatorConfig(end=datetime(2000, 1, 1))  # only its defaults are read
_FAULTS = Faults()


def _rate_limit(text: str) -> tuple[int, float]:
    try:
        count, _, period = text.partition("/")
        return int(count), float(period)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected MAX_REQUESTS/PERIOD_SECONDS, e.g. 1200/300, got {text!r}"
        ) from None


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number within [0, 1], got {text!r}") from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError(f"a probability is within [0, 1], got {text}")
    return p


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --host/--port, the data options and the fault options to `parser`."""
    srv = parser.add_argument_group("emulator")
    srv.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default %(default)s)"
    )
    srv.add_argument("--port", type=int, default=8787, help="port (default %(default)s; 0 = any free port)")
    data = parser.add_argument_group("emulated data")
    data.add_argument("--meetings", type=int, default=_CFG.meetings, help="default %(default)s")
    data.add_argument("--days", type=int, default=_CFG.days, help="days of history (default %(default)s)")
    data.add_argument(
        "--seed", type=int, default=_CFG.seed, help="same seed => same data (default %(default)s)"
    )
    data.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="end of the data, ISO 8601, naive = UTC (default: now, rounded down to the minute)",
    )
    data.add_argument("--participants-mean", type=float, default=_CFG.participants_mean, help="0 = none")
    data.add_argument(
        "--rooms",
        type=_probability,
        default=_CFG.rooms,
        metavar="SHARE",
        help="share of meetings reused as rooms, gaining participants for weeks (0 = none)",
    )
    data.add_argument("--max-per-page", type=int, default=_CFG.max_per_page, help="per_page cap (silent)")
    data.add_argument("--default-per-page", type=int, default=_CFG.default_per_page)
    data.add_argument(
        "--page-base", type=int, choices=(0, 1), default=_CFG.page_base, help="number of page one"
    )
    data.add_argument("--order", choices=ORDERS, default=_CFG.order, help="list order (default %(default)s)")
    data.add_argument(
        "--window-field", choices=WINDOW_FIELDS, default=_CFG.window_field, help="what start/end_time filter"
    )
    data.add_argument("--exclusive-start", action="store_true", help="start_time < field (default <=)")
    data.add_argument("--exclusive-end", action="store_true", help="field < end_time (default <=)")
    data.add_argument("--no-status-filter", action="store_true", help="the list ignores `status`")
    data.add_argument("--token", default=_CFG.token, help="API token to accept (default %(default)s)")
    data.add_argument("--read-only-token", default=None, help="a second token: reads work, writes get 403")
    data.add_argument("--account-id", default=_CFG.account_id)
    data.add_argument("--app-id", default=_CFG.app_id)
    data.add_argument("--no-secrets", action="store_true", help="no storage credentials in recording_config")
    f = parser.add_argument_group("faults (probabilities per request)")
    f.add_argument("--p429", type=_probability, default=0.0, help="answer 429 with Retry-After")
    f.add_argument("--retry-after", default=_FAULTS.retry_after, help="seconds, or 'date' for an HTTP-date")
    f.add_argument("--p5xx", type=_probability, default=0.0, help="answer 500/502/503/504")
    f.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    f.add_argument("--p-truncated", type=_probability, default=0.0, help="cut the JSON body in half")
    f.add_argument("--truncate-style", choices=("json", "transport"), default=_FAULTS.truncate_style)
    f.add_argument("--p-non-json", type=_probability, default=0.0, help="an HTML page from a proxy")
    f.add_argument("--p-success-false", type=_probability, default=0.0, help="HTTP 200 with success: false")
    f.add_argument("--p-reset", type=_probability, default=0.0, help="close the connection without an answer")
    f.add_argument(
        "--drift-insert", type=_probability, default=0.0, help="per list page: insert a meeting on top"
    )
    f.add_argument("--drift-delete", type=_probability, default=0.0, help="per participants page: delete one")
    f.add_argument(
        "--drift-update", type=_probability, default=0.0, help="per list page: update a later meeting"
    )
    f.add_argument("--rate-limit", type=_rate_limit, default=None, metavar="N/SECONDS", help="e.g. 1200/300")
    f.add_argument(
        "--lockout", type=float, default=_FAULTS.lockout_s, help="seconds locked out after the limit"
    )
    f.add_argument(
        "--fault-paths", default=None, help="endpoints the faults hit: list, read, write, or names"
    )
    f.add_argument("--fault-seed", type=int, default=_FAULTS.seed)


def config_from_args(args: argparse.Namespace) -> tuple[EmulatorConfig, Faults]:
    """The parsed options -> (EmulatorConfig, Faults); ValueError names a bad combination."""
    cfg = EmulatorConfig(
        meetings=args.meetings,
        days=args.days,
        seed=args.seed,
        end=args.end,
        participants_mean=args.participants_mean,
        rooms=args.rooms,
        max_per_page=args.max_per_page,
        default_per_page=args.default_per_page,
        page_base=args.page_base,
        order=args.order,
        window_field=args.window_field,
        start_inclusive=not args.exclusive_start,
        end_inclusive=not args.exclusive_end,
        status_filter=not args.no_status_filter,
        token=args.token,
        read_only_token=args.read_only_token,
        account_id=args.account_id,
        app_id=args.app_id,
        secrets=not args.no_secrets,
    )
    retry_after = None if args.retry_after in (None, "", "none") else args.retry_after
    faults = Faults(
        p429=args.p429,
        retry_after=retry_after,
        p5xx=args.p5xx,
        latency_s=args.latency,
        p_truncated=args.p_truncated,
        truncate_style=args.truncate_style,
        p_non_json=args.p_non_json,
        p_success_false=args.p_success_false,
        p_reset=args.p_reset,
        drift_insert=args.drift_insert,
        drift_delete=args.drift_delete,
        drift_update=args.drift_update,
        rate_limit=args.rate_limit,
        lockout_s=args.lockout,
        fault_paths=args.fault_paths,
        seed=args.fault_seed,
    )
    return cfg, faults


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rtk_pipeline.emulator", description="Serve a local RealtimeKit Meetings API."
    )
    add_cli_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg, faults = config_from_args(args)
    except ValueError as e:
        parser.error(str(e))
    serve(cfg, faults, args.host, args.port)
    return 0
