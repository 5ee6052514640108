"""Asset checks, evaluated per partition (UTC day) on what actually landed in DuckDB and Parquet.

Each table gets one multi-check step that judges every day of the run's partition range with a few
short read-only queries: a month-long backfill run yields 31 evaluations per check, one per partition,
so the UI shows check health partition by partition. Checks that protect downstream assets are blocking: a
failure stops participants (after meetings) and the analyst views (after participants).

`latest_partition_fresh` is the exception: it is about the asset as a whole (is the most recent closed
day there, some hours after it closed?) and runs on its own schedule as well as after every sync.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations of
# decorated functions at definition time and rejects them as strings.

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    MetadataValue,
    Output,
    PreviewWarning,
    asset_check,
    multi_asset_check,
)

# Not exported by `dagster`, but the only way to tie a per-partition evaluation built by hand (see
# `_evaluate`) to the materialization it judged, which is how the UI tells a current result from an old one.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from dagster_defs.env import env_number
from dagster_defs.partitions import daily_partitions, partition_day
from dagster_defs.resources import RealtimeKitResource, WarehouseResource
from dagster_defs.secrets import secret_findings
from rtk_pipeline.store import Warehouse

MAX_SAMPLES = 20


@dataclass(frozen=True)
class Table:
    name: str
    asset: AssetKey
    day_column: str
    key: tuple[str, ...]


MEETINGS = Table("meetings", AssetKey("rtk_meetings"), "created_day", ("id",))
PARTICIPANTS = Table(
    "participants", AssetKey("rtk_participants"), "meeting_created_day", ("meeting_id", "id")
)

Outcome = tuple[bool, dict[str, Any]]


@dataclass
class Probe:
    """What a check may look at for one run: the days, the stored rows, and what the sync reported.

    `con` is a read-only connection opened for one check at a time: DuckDB refuses a writer while any
    reader has the file open, so a check step must not hold it while another run waits to commit.
    """

    table: Table
    warehouse: Warehouse
    days: list[date]
    synced: dict[date, Mapping[str, Any]]  # latest materialization metadata per day (raw values)
    api_token: str
    con: Any = None

    @property
    def first(self) -> date:
        return self.days[0]

    @property
    def last(self) -> date:
        return self.days[-1]

    def rows(self, sql: str, params: Iterable | Mapping = ()) -> list[tuple]:
        return self.con.execute(sql, params if isinstance(params, Mapping) else list(params)).fetchall()

    def per_day(self, sql: str, params: Iterable = ()) -> dict[date, tuple]:
        """Run a `SELECT day, ... WHERE day BETWEEN ? AND ? GROUP BY day` over the run's days."""
        return {row[0]: tuple(row[1:]) for row in self.rows(sql, [self.first, self.last, *params])}


# ----------------------------------------------------------------------------------------- the checks


def rows_match_api(probe: Probe) -> dict[date, Outcome]:
    """Stored rows per day equal the rows the sync committed, and that sync's listing was proven complete:
    the distinct ids it saw (stored, rejected, or in the neighbouring days' margin) cover the total the
    API reported for the window; for participants, no meeting's listing went missing."""
    t = probe.table
    stored = probe.per_day(
        f"SELECT {t.day_column}, count(*) FROM {t.name} WHERE {t.day_column} BETWEEN ? AND ? GROUP BY 1"
    )
    missing_by_day: dict[date, list[str]] = {}
    unattributed = False  # more meetings went missing than the metadata lists: fail every day of the run
    if t is PARTICIPANTS:
        unattributed = any(
            int(meta.get("missing_meetings_count", 0)) > len(meta.get("missing_meetings") or [])
            for meta in probe.synced.values()
        )
        missing = sorted({m for meta in probe.synced.values() for m in meta.get("missing_meetings") or []})
        if missing:
            rows = probe.rows(
                "SELECT created_day, id FROM meetings WHERE list_contains(?, id) ORDER BY id", [missing]
            )
            for day, meeting_id in rows:
                missing_by_day.setdefault(day, []).append(meeting_id)
    out = {}
    for day in probe.days:
        meta = probe.synced.get(day)
        if meta is None:
            out[day] = (False, {"reason": "partition was never materialized"})
            continue
        stored_rows = stored.get(day, (0,))[0]
        synced_rows = int(meta["dagster/row_count"])
        api_total, listed = int(meta["api_total_count"]), int(meta["listed_ids"])
        accounted = listed if t is MEETINGS else int(meta["run_rows"]) + int(meta["run_rejected_rows"])
        lost = missing_by_day.get(day, [])
        passed = stored_rows == synced_rows and 0 <= api_total <= accounted and not lost and not unattributed
        out[day] = (
            passed,
            {
                "stored_rows": stored_rows,
                "synced_rows": synced_rows,
                "api_total_count": api_total,
                "ids_accounted_for": accounted,
                "sync_window": str(meta.get("run_window")),
                "meetings_not_listed": MetadataValue.json(lost[:MAX_SAMPLES]),
            },
        )
    return out


def ids_unique(probe: Probe) -> dict[date, Outcome]:
    """No NULL key, no key twice within the day, and no key of the day stored under another day too."""
    t = probe.table
    key = ", ".join(t.key)
    day = t.day_column
    counts = probe.per_day(
        f"""
        WITH k AS (
            SELECT {day}, {key}, count(*) AS n FROM {t.name} WHERE {day} BETWEEN ? AND ? GROUP BY ALL
        )
        SELECT {day},
               sum(n) FILTER (WHERE {" OR ".join(f"{k} IS NULL" for k in t.key)}),
               sum(n - 1),
               list({t.key[-1]} ORDER BY {t.key[-1]}) FILTER (WHERE n > 1)
        FROM k GROUP BY 1
        """
    )
    elsewhere = probe.per_day(
        f"""
        SELECT m.{day}, count(*) FROM {t.name} m JOIN {t.name} o USING ({key})
        WHERE m.{day} BETWEEN ? AND ? AND o.{day} <> m.{day} GROUP BY 1
        """
    )
    out = {}
    for d in probe.days:
        nulls, dupes, sample = counts.get(d, (0, 0, []))
        nulls, dupes, moved = int(nulls or 0), int(dupes or 0), elsewhere.get(d, (0,))[0]
        out[d] = (
            nulls == 0 and dupes == 0 and moved == 0,
            {
                "null_keys": nulls,
                "duplicate_rows": dupes,
                "also_stored_under_other_day": moved,
                "duplicate_ids": MetadataValue.json((sample or [])[:MAX_SAMPLES]),
            },
        )
    return out


def created_at_in_partition(probe: Probe) -> dict[date, Outcome]:
    """Every meeting's created_at falls inside its partition's UTC day [00:00, 24:00)."""
    found = probe.per_day(
        """
        SELECT created_day, count(*), list(id ORDER BY id)[1:20]
        FROM meetings
        WHERE created_day BETWEEN ? AND ?
          AND CAST(timezone('UTC', created_at) AS DATE) <> created_day
        GROUP BY 1
        """
    )
    out = {}
    for day in probe.days:
        bad, sample = found.get(day, (0, []))
        out[day] = (bad == 0, {"rows_outside_day": bad, "sample_ids": MetadataValue.json(sample or [])})
    return out


def meeting_exists(probe: Probe) -> dict[date, Outcome]:
    """Every participant's meeting is in `meetings`, created on the day the participant is filed under.
    (A meeting stored twice is `ids_unique`'s finding, not its participants'.)"""
    found = probe.per_day(
        """
        WITH m AS (SELECT id, list(created_day) AS days FROM meetings GROUP BY id)
        SELECT p.meeting_created_day,
               count(*) FILTER (WHERE m.id IS NULL),
               count(*) FILTER (WHERE NOT list_contains(m.days, p.meeting_created_day)),
               list(DISTINCT p.meeting_id)
                   FILTER (WHERE m.id IS NULL OR NOT list_contains(m.days, p.meeting_created_day))
        FROM participants p LEFT JOIN m ON m.id = p.meeting_id
        WHERE p.meeting_created_day BETWEEN ? AND ?
        GROUP BY 1
        """
    )
    out = {}
    for day in probe.days:
        orphans, wrong_day, sample = found.get(day, (0, 0, []))
        out[day] = (
            orphans == 0 and wrong_day == 0,
            {
                "participants_without_meeting": orphans,
                "participants_under_wrong_day": wrong_day,
                "meeting_ids": MetadataValue.json(sorted(sample or [])[:MAX_SAMPLES]),
            },
        )
    return out


def secrets_absent(probe: Probe) -> dict[date, Outcome]:
    """No secret in any text column of the day's rows nor in their rejected records: no API token, no
    JSON key the scrubber removes (token, access_key, secret, password, private_key, ...), no JWT /
    private key / AWS key id / bearer value. Findings name the column and row id, never the value."""
    t = probe.table
    text_columns = [
        name
        for name, dtype in probe.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?", [t.name]
        )
        if dtype in ("VARCHAR", "JSON")
    ]
    selected = ", ".join(f"{c}::VARCHAR" for c in text_columns)
    scans = [
        (
            t.name,
            text_columns,
            f"SELECT {t.day_column}, {t.key[-1]}, {selected} FROM {t.name} "
            f"WHERE {t.day_column} BETWEEN ? AND ?",
            [probe.first, probe.last],
        ),
        (
            "rejected_records",
            ["raw"],
            "SELECT day, record_id, raw::VARCHAR FROM rejected_records "
            "WHERE table_name = ? AND day BETWEEN ? AND ?",
            [t.name, probe.first, probe.last],
        ),
    ]
    findings: dict[date, list[dict]] = {}
    for table, columns, sql, params in scans:
        for day, row_id, *texts in probe.rows(sql, params):
            for column, text in zip(columns, texts, strict=True):
                kinds = secret_findings(text, probe.api_token) if text else []
                if kinds:
                    findings.setdefault(day, []).append(
                        {"table": table, "column": column, "id": row_id, "kinds": sorted(set(kinds))}
                    )
    return {
        day: (
            not findings.get(day),
            {
                "findings": len(findings.get(day, [])),
                "where": MetadataValue.json(findings.get(day, [])[:MAX_SAMPLES]),
            },
        )
        for day in probe.days
    }


def parquet_matches_table(probe: Probe) -> dict[date, Outcome]:
    """The day's Parquet file holds exactly the day's DuckDB rows (same keys, as often); a day without
    rows has no file. Analysts reading the Parquet folder see what DuckDB users see."""
    t = probe.table
    key = ", ".join(t.key)
    files = {day: path for day in probe.days if (path := probe.warehouse.parquet_path(t.name, day)).exists()}
    table_rows = (
        f"SELECT {t.day_column} AS day, {key} FROM {t.name} WHERE {t.day_column} BETWEEN $first AND $last"
    )
    if files:
        listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files.values())
        file_rows = (
            f"SELECT CAST(regexp_extract(filename, '=([0-9-]+)/[^/]*$', 1) AS DATE) AS day, {key} "
            f"FROM read_parquet([{listed}], filename = true, hive_partitioning = false)"
        )
    else:
        file_rows = "SELECT * FROM t WHERE false"
    counts: dict[tuple[str, date], int] = {
        (kind, day): n
        for kind, day, n in probe.rows(
            f"""
            WITH t AS ({table_rows}), p AS ({file_rows})
            SELECT 'table', day, count(*) FROM t GROUP BY day
            UNION ALL SELECT 'parquet', day, count(*) FROM p GROUP BY day
            UNION ALL SELECT 'only_table', day, count(*) FROM (FROM t EXCEPT ALL FROM p) GROUP BY day
            UNION ALL SELECT 'only_parquet', day, count(*) FROM (FROM p EXCEPT ALL FROM t) GROUP BY day
            """,
            {"first": probe.first, "last": probe.last},
        )
    }
    out = {}
    for day in probe.days:
        n = {kind: counts.get((kind, day), 0) for kind in ("table", "parquet", "only_table", "only_parquet")}
        out[day] = (
            n["only_table"] == 0 and n["only_parquet"] == 0,
            {
                "table_rows": n["table"],
                "parquet_rows": n["parquet"],
                "rows_only_in_table": n["only_table"],
                "rows_only_in_parquet": n["only_parquet"],
                "parquet_file": MetadataValue.path(str(files[day])) if day in files else "(no file: no rows)",
            },
        )
    return out


# ------------------------------------------------------------------------------------ wiring to Dagster

CheckFn = Callable[[Probe], dict[date, Outcome]]


@dataclass(frozen=True)
class CheckDef:
    name: str
    fn: CheckFn
    blocking: bool


def _specs(table: Table, checks: list[CheckDef]) -> list[AssetCheckSpec]:
    with warnings.catch_warnings():
        # Partitioned checks are a preview feature; they are what makes per-day check health visible.
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                c.name,
                asset=table.asset,
                description=(c.fn.__doc__ or "").strip(),
                blocking=c.blocking,
                partitions_def=daily_partitions,
            )
            for c in checks
        ]


def _synced_metadata(context: AssetCheckExecutionContext, asset: AssetKey, key: str):
    """Latest materialization of one partition: its raw metadata values and the record's identity."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None, None
    record = records[0]
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    target = AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
    )
    return metadata, target


def _evaluate(
    context: AssetCheckExecutionContext,
    table: Table,
    checks: list[CheckDef],
    warehouse: WarehouseResource,
    realtimekit_token: str,
) -> Iterator:
    """Yield one evaluation per (selected check, partition), then the step outputs Dagster expects.

    Evaluations are built directly because `AssetCheckResult` carries no partition: in a run over a
    range of partitions it would be recorded once, for no partition at all.
    """
    keys = list(context.partition_keys)
    days = [partition_day(k) for k in keys]
    synced, targets = {}, {}
    for key, day in zip(keys, days, strict=True):
        metadata, target = _synced_metadata(context, table.asset, key)
        if metadata is not None:
            synced[day], targets[day] = metadata, target
    selected = {k.name for k in context.selected_asset_check_keys}
    probe = Probe(table, warehouse.get(), days, synced, realtimekit_token)
    failed_blocking = set()
    for check in checks:
        if check.name not in selected:
            continue
        with probe.warehouse.connect(read_only=True) as probe.con:
            outcomes = check.fn(probe)
        for key, day in zip(keys, days, strict=True):
            passed, metadata = outcomes[day]
            if not passed and check.blocking:
                failed_blocking.add(key)
            yield AssetCheckEvaluation(
                asset_key=table.asset,
                check_name=check.name,
                passed=passed,
                metadata=metadata,
                target_materialization_data=targets.get(day),
                severity=AssetCheckSeverity.ERROR,
                blocking=check.blocking,
                partition=key,
            )
    if failed_blocking:
        context.log.error(f"{table.name}: blocking checks failed for {len(failed_blocking)} partition(s)")
    assets_def = context.op_execution_context.assets_def
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.name):
        yield Output(None, output_name=assets_def.get_output_name_for_asset_check_key(check_key))


def _check_list(integrity: CheckFn) -> list[CheckDef]:
    """The checks both tables get; the third is the table's own integrity rule. Only the Parquet mirror
    check does not block: DuckDB, which downstream assets read, is right even when it fails."""
    return [
        CheckDef("rows_match_api", rows_match_api, blocking=True),
        CheckDef("ids_unique", ids_unique, blocking=True),
        CheckDef(integrity.__name__, integrity, blocking=True),
        CheckDef("secrets_absent", secrets_absent, blocking=True),
        CheckDef("parquet_matches_table", parquet_matches_table, blocking=False),
    ]


MEETING_CHECKS = _check_list(created_at_in_partition)
PARTICIPANT_CHECKS = _check_list(meeting_exists)


def _table_checks(table: Table, checks: list[CheckDef]):
    """One step per table that evaluates its checks for every partition of the run."""

    @multi_asset_check(
        specs=_specs(table, checks),
        name=f"{table.asset.path[-1]}_checks",
        description=f"Per-partition checks of `{table.name}` in DuckDB and Parquet.",
        can_subset=True,
    )
    def _checks(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource, realtimekit: RealtimeKitResource
    ):
        yield from _evaluate(context, table, checks, warehouse, realtimekit.api_token)

    return _checks


rtk_meetings_checks = _table_checks(MEETINGS, MEETING_CHECKS)
rtk_participants_checks = _table_checks(PARTICIPANTS, PARTICIPANT_CHECKS)


# ------------------------------------------------------------------------------------------ freshness

FRESHNESS_GRACE_HOURS = env_number("RTK_FRESHNESS_GRACE_HOURS", 6, minimum=0)


def expected_partition(now: datetime, grace_hours: float) -> str | None:
    """The newest partition that should have landed by `now`: the last UTC day that ended at least
    `grace_hours` ago (None before the first partition is due)."""
    due = (now.astimezone(UTC) - timedelta(hours=grace_hours)).date() - timedelta(days=1)
    return due.isoformat() if due >= daily_partitions.start.date() else None


def _freshness(context: AssetCheckExecutionContext, asset: AssetKey) -> AssetCheckResult:
    now = datetime.now(UTC)
    expected = expected_partition(now, FRESHNESS_GRACE_HOURS)
    materialized = context.instance.get_materialized_partitions(asset)
    latest = max(materialized) if materialized else None
    metadata: dict[str, Any] = {
        "expected_partition": expected or "(none due yet)",
        "latest_materialized_partition": latest or "(none)",
        "grace_hours": FRESHNESS_GRACE_HOURS,
    }
    if expected is None:
        return AssetCheckResult(passed=True, metadata=metadata)
    passed = expected in materialized
    if not passed:
        overdue = now - (
            datetime.combine(partition_day(expected), datetime.min.time(), UTC) + timedelta(days=1)
        )
        metadata["overdue_hours"] = round(overdue.total_seconds() / 3600 - FRESHNESS_GRACE_HOURS, 1)
    return AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None if passed else f"partition {expected} has not been materialized",
    )


def _freshness_check(table: Table):
    @asset_check(
        asset=table.asset,
        name="latest_partition_fresh",
        blocking=False,
        description=(
            "The most recent closed UTC day is materialized once RTK_FRESHNESS_GRACE_HOURS have passed "
            "after it ended."
        ),
    )
    def _fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return _freshness(context, table.asset)

    return _fresh


rtk_meetings_fresh = _freshness_check(MEETINGS)
rtk_participants_fresh = _freshness_check(PARTICIPANTS)


partition_checks = [rtk_meetings_checks, rtk_participants_checks]
freshness_checks = [rtk_meetings_fresh, rtk_participants_fresh]
all_checks = [*partition_checks, *freshness_checks]
