"""Asset checks, evaluated per partition (UTC day) on what actually landed in DuckDB and Parquet.

The rules are plain library functions (`rtk_pipeline.quality`, also run by `rtk-pipeline verify`); this
module only wires them into Dagster. Each table gets one multi-check step that judges every day of the
run's partition range with a few short read-only queries: a month-long backfill run yields 31 evaluations
per check, one per partition, so the UI shows check health partition by partition. Checks that protect
downstream assets are blocking: a failure stops participants (after meetings) and the analyst views (after
participants).

`latest_partition_fresh` is the exception: it is about the asset as a whole (is the most recent closed
day there, some hours after it closed?) and runs on its own schedule as well as after every sync.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations of
# decorated functions at definition time and rejects them as strings.

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from rtk_pipeline.quality import RULES, Probe, Rule


@dataclass(frozen=True)
class Table:
    name: str
    asset: AssetKey


MEETINGS = Table("meetings", AssetKey("rtk_meetings"))
PARTICIPANTS = Table("participants", AssetKey("rtk_participants"))


def _metadata(details: dict[str, Any]) -> dict[str, Any]:
    """A rule's plain details as Dagster metadata: lists and dicts as JSON, file paths as paths."""
    out = {}
    for key, value in details.items():
        if isinstance(value, list | tuple | dict):
            value = MetadataValue.json(value)
        elif isinstance(value, Path):
            value = MetadataValue.path(str(value))
        out[key] = value
    return out


def _specs(table: Table, checks: list[Rule]) -> list[AssetCheckSpec]:
    with warnings.catch_warnings():
        # Partitioned checks are a preview feature; they are what makes per-day check health visible.
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                c.name,
                asset=table.asset,
                description=c.description,
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
    checks: list[Rule],
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
    probe = Probe(warehouse.get(), table.name, days, synced, realtimekit_token)
    failed_blocking = set()
    for check in checks:
        if check.name not in selected:
            continue
        with probe.store.reading():  # one read-only connection per check, not one per query
            outcomes = check.fn(probe)
        for key, day in zip(keys, days, strict=True):
            passed, metadata = outcomes[day].passed, _metadata(outcomes[day].details)
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


def _table_checks(table: Table, checks: list[Rule]):
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


rtk_meetings_checks = _table_checks(MEETINGS, RULES["meetings"])
rtk_participants_checks = _table_checks(PARTICIPANTS, RULES["participants"])


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
