"""Data-quality rules: plain functions over a store's `QualityReads` that judge each UTC day of a table.

Dagster runs them as asset checks (dagster_defs/checks.py, one evaluation per partition) and
`rtk-pipeline verify` runs them without Dagster. A rule returns, per day, whether it passed and plain
details (numbers, short id samples, a file path) that say what it found; findings name columns and row
ids, never a secret's value.

`rows_match_api` judges a day against what its sync reported (Dagster keeps that report in the
partition's materialization metadata), so it runs only where that report exists: in Dagster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rtk_pipeline.secrets import secret_findings
from rtk_pipeline.store import QualityReads
from rtk_pipeline.sync import day_range

MAX_SAMPLES = 20
CHECKED_TABLES = ("meetings", "participants")


@dataclass(frozen=True)
class Result:
    """One rule's verdict on one day."""

    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleInput:
    """What a rule may look at: the store, the table, the days, and (in Dagster) what each day's sync
    reported (its partition's materialization metadata and its run's totals, raw values)."""

    store: QualityReads
    table: str
    days: list[date]
    synced: Mapping[date, Mapping[str, Any]] = field(default_factory=dict)
    api_token: str = ""

    @property
    def first(self) -> date:
        return self.days[0]

    @property
    def last(self) -> date:
        return self.days[-1]


RuleFn = Callable[[RuleInput], dict[date, Result]]


# ----------------------------------------------------------------------------------------- the rules


def rows_match_api(given: RuleInput) -> dict[date, Result]:
    """Stored rows per day equal the rows the sync committed, and that sync's listing was proven complete:
    the distinct ids it saw (stored, rejected, or in the neighbouring days' margin) cover the total the
    API reported for the window; for participants, no meeting's listing went missing."""
    meetings = given.table == "meetings"
    stored = given.store.rows_by_day(given.table, given.first, given.last)
    missing_by_day: dict[date, list[str]] = {}
    unattributed = False  # more meetings went missing than the metadata lists: fail every day of the run
    if not meetings:
        reports = given.synced.values()
        unattributed = any(
            int(meta.get("missing_meetings_count", 0)) > len(meta.get("missing_meetings") or [])
            for meta in reports
        )
        missing = sorted({m for meta in reports for m in meta.get("missing_meetings") or []})
        for meeting_id, day in given.store.meeting_days(missing):
            missing_by_day.setdefault(day, []).append(meeting_id)
    out = {}
    for day in given.days:
        meta = given.synced.get(day)
        if meta is None:
            out[day] = Result(False, {"reason": "partition was never materialized"})
            continue
        stored_rows = stored.get(day, 0)
        synced_rows = int(meta["dagster/partition_row_count"])
        api_total, listed = int(meta["api_total_count"]), int(meta["listed_ids"])
        accounted = listed if meetings else int(meta["run_rows"]) + int(meta["run_rejected_rows"])
        lost = missing_by_day.get(day, [])
        passed = stored_rows == synced_rows and 0 <= api_total <= accounted and not lost and not unattributed
        out[day] = Result(
            passed,
            {
                "stored_rows": stored_rows,
                "synced_rows": synced_rows,
                "api_total_count": api_total,
                "ids_accounted_for": accounted,
                "sync_window": str(meta.get("run_window")),
                "meetings_not_listed": lost[:MAX_SAMPLES],
            },
        )
    return out


def ids_unique(given: RuleInput) -> dict[date, Result]:
    """No NULL key, no key twice within the day, and no key of the day stored under another day too."""
    reports = given.store.key_reports(given.table, given.first, given.last)
    out = {}
    for day in given.days:
        r = reports.get(day)
        nulls, dupes, moved = (r.null_keys, r.duplicate_rows, r.also_elsewhere) if r else (0, 0, 0)
        out[day] = Result(
            nulls == 0 and dupes == 0 and moved == 0,
            {
                "null_keys": nulls,
                "duplicate_rows": dupes,
                "also_stored_under_other_day": moved,
                "duplicate_ids": list(r.duplicate_ids if r else ())[:MAX_SAMPLES],
            },
        )
    return out


def created_at_in_partition(given: RuleInput) -> dict[date, Result]:
    """Every meeting's created_at falls inside its partition's UTC day [00:00, 24:00)."""
    found = given.store.created_outside_day(given.first, given.last)
    out = {}
    for day in given.days:
        bad = found.get(day)
        out[day] = Result(
            bad is None or bad.rows == 0,
            {"rows_outside_day": bad.rows if bad else 0, "sample_ids": list(bad.sample_ids if bad else ())},
        )
    return out


def meeting_exists(given: RuleInput) -> dict[date, Result]:
    """Every participant's meeting is in `meetings`, created on the day the participant is filed under.
    (A meeting stored twice is `ids_unique`'s finding, not its participants'.)"""
    found = given.store.participants_misfiled(given.first, given.last)
    out = {}
    for day in given.days:
        bad = found.get(day)
        orphans, wrong_day = (bad.rows, bad.other_rows) if bad else (0, 0)
        out[day] = Result(
            orphans == 0 and wrong_day == 0,
            {
                "participants_without_meeting": orphans,
                "participants_under_wrong_day": wrong_day,
                "meeting_ids": list(bad.sample_ids if bad else ())[:MAX_SAMPLES],
            },
        )
    return out


def secrets_absent(given: RuleInput) -> dict[date, Result]:
    """No secret in any text column of the day's rows nor in their rejected records: no API token, no
    JSON key the scrubber removes (token, access_key, secret, password, private_key, ...), no JWT /
    private key / AWS key id / bearer value. Findings name the column and row id, never the value."""
    findings: dict[date, list[dict]] = {}
    for cell in given.store.text_cells(given.table, given.first, given.last):
        kinds = secret_findings(cell.text, given.api_token)
        if kinds:
            findings.setdefault(cell.day, []).append(
                {"table": cell.table, "column": cell.column, "id": cell.row_id, "kinds": sorted(set(kinds))}
            )
    return {
        day: Result(
            not findings.get(day),
            {"findings": len(findings.get(day, [])), "where": findings.get(day, [])[:MAX_SAMPLES]},
        )
        for day in given.days
    }


def parquet_matches_table(given: RuleInput) -> dict[date, Result]:
    """The day's Parquet file holds exactly the day's DuckDB rows (same keys, as often); a day without
    rows has no file. Analysts reading the Parquet folder see what DuckDB users see."""
    diffs = given.store.mirror_diffs(given.table, given.first, given.last)
    out = {}
    for day in given.days:
        d = diffs[day]
        out[day] = Result(
            d.only_table == 0 and d.only_mirror == 0,
            {
                "table_rows": d.table_rows,
                "parquet_rows": d.mirror_rows,
                "rows_only_in_table": d.only_table,
                "rows_only_in_parquet": d.only_mirror,
                "parquet_file": Path(d.location) if d.location else "(no file: no rows)",
            },
        )
    return out


# ------------------------------------------------------------------------------------------ rule sets


@dataclass(frozen=True)
class Rule:
    """A rule as a check: `blocking` rules stop downstream assets when they fail; `needs_sync_report`
    rules judge against the sync's own report, which only Dagster keeps."""

    name: str
    fn: RuleFn
    blocking: bool
    needs_sync_report: bool = False

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or "").strip()


def _rules(integrity: RuleFn) -> list[Rule]:
    """The rules both tables get; the third is the table's own integrity rule. Only the Parquet mirror
    rule does not block: DuckDB, which downstream assets read, is right even when it fails."""
    return [
        Rule("rows_match_api", rows_match_api, blocking=True, needs_sync_report=True),
        Rule("ids_unique", ids_unique, blocking=True),
        Rule(integrity.__name__, integrity, blocking=True),
        Rule("secrets_absent", secrets_absent, blocking=True),
        Rule("parquet_matches_table", parquet_matches_table, blocking=False),
    ]


RULES: dict[str, list[Rule]] = {
    "meetings": _rules(created_at_in_partition),
    "participants": _rules(meeting_exists),
}


@dataclass(frozen=True)
class Verdict:
    """One rule on one day of one table (what `verify` reports)."""

    table: str
    rule: str
    day: date
    passed: bool
    details: dict[str, Any]


def verify(
    store: QualityReads,
    first: date,
    last: date,
    *,
    api_token: str = "",
    tables: Iterable[str] = CHECKED_TABLES,
) -> list[Verdict]:
    """Every rule that needs no sync report, over every day of [first, last], for each table."""
    days = list(day_range(first, last))
    verdicts = []
    for table in tables:
        given = RuleInput(store, table, days, api_token=api_token)
        for rule in RULES[table]:
            if rule.needs_sync_report:
                continue
            results = rule.fn(given)
            verdicts += [Verdict(table, rule.name, d, results[d].passed, results[d].details) for d in days]
    return verdicts
