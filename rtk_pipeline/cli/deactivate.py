"""`rtk-pipeline deactivate-stale`: its flags, how they overlay the RTK_STALE_* policy, and the decisions
table it prints."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from rtk_pipeline.cli.opening import open_app
from rtk_pipeline.stale import (
    DEFAULT_MAX_SYNC_AGE_HOURS,
    Decision,
    Outcome,
    StalePolicy,
    deactivate_stale,
    summarize,
)

# Keyed by the Outcome (a str enum), looked up by the decision's stored text.
_STYLE: dict[str, str] = {
    Outcome.DEACTIVATED: "bold green",
    Outcome.WOULD_DEACTIVATE: "cyan",
    Outcome.FAILED: "bold red",
    Outcome.PENDING: "yellow",
}


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The allow/deny and scope flags of `deactivate-stale` (--stale-after-days, --max and --dry-run are
    the main parser's). They overlay the RTK_STALE_* settings by `StalePolicy.overlay`."""
    parser.add_argument(
        "--deny-id", action="append", default=[], metavar="ID", help="never touch this meeting"
    )
    parser.add_argument(
        "--deny-title",
        action="append",
        default=[],
        metavar="REGEX",
        help="never touch meetings whose title matches",
    )
    parser.add_argument(
        "--allow-id", action="append", default=[], metavar="ID", help="only consider these ids"
    )
    parser.add_argument(
        "--allow-title", action="append", default=[], metavar="REGEX", help="only consider matching titles"
    )
    parser.add_argument(
        "--meeting", action="append", default=None, metavar="ID", help="restrict the run to these meeting ids"
    )
    parser.add_argument(
        "--max-sync-age-hours",
        type=float,
        default=None,
        metavar="H",
        help=f"refuse to run when the last successful sync is older (default {DEFAULT_MAX_SYNC_AGE_HOURS:g})",
    )


def kwargs_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`deactivate_stale` keyword arguments: the RTK_STALE_* policy overlaid with the parsed flags."""
    cap = getattr(args, "max", None)
    policy = StalePolicy.from_env(env).overlay(
        stale_after_days=getattr(args, "stale_after_days", None),
        max_deactivations=cap if cap is not None else getattr(args, "max_deactivations", None),
        dry_run=getattr(args, "dry_run", False),
        max_sync_age_hours=getattr(args, "max_sync_age_hours", None),
        deny_ids=getattr(args, "deny_id", []),
        deny_title_patterns=getattr(args, "deny_title", []),
        allow_ids=getattr(args, "allow_id", []),
        allow_title_patterns=getattr(args, "allow_title", []),
    )
    kwargs = policy.kwargs()
    meetings = getattr(args, "meeting", None)
    if meetings:
        kwargs["candidate_ids"] = list(meetings)
    return kwargs


def print_decisions(decisions: Sequence[Decision], console: Console | None = None) -> None:
    """Print the decisions as a table, with a one-line summary."""
    console = console or Console()
    dry = any(d.dry_run for d in decisions)
    table = Table(title="Stale-meeting deactivation" + (" (dry run: no PATCH sent)" if dry else ""))
    for column in ("meeting id", "title", "last activity (UTC)", "decision", "HTTP", "detail / error"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        style = _STYLE.get(d.decision, "dim" if d.skipped else "")
        table.add_row(
            d.meeting_id,
            (d.title or "")[:40],
            f"{d.last_activity_at:%Y-%m-%d %H:%M}" if d.last_activity_at else "",
            f"[{style}]{d.decision}[/]" if style else str(d.decision),
            str(d.http_status or ""),
            d.error or d.detail or "",
        )
    if decisions:
        console.print(table)
    counts = summarize(decisions)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no stale meetings"
    console.print(f"{len(decisions)} decision(s): {summary}")


def run(args: argparse.Namespace) -> int:
    """Deactivate per the policy, print the decisions; exit 1 when a PATCH failed (cron users need to see
    it in the exit code; the table says which meeting)."""
    kwargs = kwargs_from_args(args)  # a bad policy is refused before anything is opened
    client, store = open_app()
    with client:
        decisions = deactivate_stale(client, store, **kwargs)
    print_decisions(decisions, console=Console())
    return 1 if any(d.decision == Outcome.FAILED for d in decisions) else 0
