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

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AutomationCondition,
    DagsterInstance,
    MetadataValue,
    Output,
    PreviewWarning,
    asset_check,
    deserialize_value,
    multi_asset_check,
)

from dagster_defs.partitions import partition_day
from dagster_defs.resources import app_resources
from dagster_defs.scope import App
from rtk_pipeline.quality import RULES, Rule, RuleInput

# The stored name of an evaluation's target materialization (see `_target`).
_TARGET = "AssetCheckEvaluationTargetMaterializationData"
# Observations looked through for a run's totals: runs of other partitions may have observed the asset
# between this run's observation and its materializations.
_OBSERVATIONS_SEARCHED = 20


@dataclass(frozen=True)
class Table:
    """One synced table of one app: its name in the warehouse and its asset."""

    app: App
    name: str

    @property
    def asset(self) -> AssetKey:
        return self.app.key(self.name)


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
                partitions_def=table.app.scope.partitions,
            )
            for c in checks
        ]


def _synced_metadata(context: AssetCheckExecutionContext, asset: AssetKey, key: str) -> tuple[Any, Any]:
    """What one partition's latest sync reported (None before the first): its materialization's raw
    metadata values over the totals of the run that wrote it; and that materialization as an evaluation's
    target."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None, None
    record = records[0]
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    synced = {**run_totals(context.instance, asset, record.run_id, record.storage_id), **metadata}
    return synced, _target(record.run_id, record.storage_id, record.timestamp)


def _target(run_id: str, storage_id: int, timestamp: float) -> Any:
    """The materialization an evaluation judged: the UI shows a partition's check result only while it
    targets the partition's latest materialization. Dagster exports no constructor for it, so it is built
    from its stored form (which Dagster keeps readable across releases: event logs hold it) through the
    public `deserialize_value`."""
    stored = {"__class__": _TARGET, "run_id": run_id, "storage_id": storage_id, "timestamp": timestamp}
    return deserialize_value(json.dumps(stored))


def run_totals(instance: DagsterInstance, asset: AssetKey, run_id: str, before: int) -> dict:
    """The run's totals: its observation of the asset logged last before the materialization `before`
    (a sync logs one before its materializations; a refresh, one before each day it carries)."""
    observations = instance.fetch_observations(
        AssetRecordsFilter(asset_key=asset, before_storage_id=before), limit=_OBSERVATIONS_SEARCHED
    ).records
    for record in observations:
        if record.run_id == run_id and record.asset_observation is not None:
            return {k: v.value for k, v in record.asset_observation.metadata.items()}
    return {}


def _evaluate(
    context: AssetCheckExecutionContext,
    table: Table,
    checks: list[Rule],
) -> Iterator:
    """Yield one evaluation per (selected check, partition), then the step outputs Dagster expects.

    Evaluations are built directly because `AssetCheckResult` carries no partition: in a run over a
    range of partitions it would be recorded once, for no partition at all. Each names the
    materialization it judged, which is how the UI tells a current result from an old one.
    """
    keys = list(context.partition_keys)
    days = [partition_day(k) for k in keys]
    synced, targets = {}, {}
    for key, day in zip(keys, days, strict=True):
        metadata, target = _synced_metadata(context, table.asset, key)
        if metadata is not None:
            synced[day], targets[day] = metadata, target
    selected = {k.name for k in context.selected_asset_check_keys}
    realtimekit, store = app_resources(context, table.app)
    given = RuleInput(store, table.name, days, synced, realtimekit.api_token)
    failed_blocking = set()
    for check in checks:
        if check.name not in selected:
            continue
        with given.store.reading():  # one read-only connection per check, not one per query
            outcomes = check.fn(given)
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
        name=table.app.named(f"{table.name}_checks"),
        description=f"Per-partition checks of `{table.name}` (app `{table.app.name}`) in the warehouse.",
        can_subset=True,
        required_resource_keys={table.app.resource, table.app.store_resource},
    )
    def _checks(context: AssetCheckExecutionContext):
        yield from _evaluate(context, table, checks)

    return _checks


# ------------------------------------------------------------------------------------------ freshness


def expected_partition(now: datetime, grace_hours: float, first: date) -> str | None:
    """The newest partition that should have landed by `now`: the last UTC day that ended at least
    `grace_hours` ago (None before the first partition, `first`, is due)."""
    due = (now.astimezone(UTC) - timedelta(hours=grace_hours)).date() - timedelta(days=1)
    return due.isoformat() if due >= first else None


def _freshness(context: AssetCheckExecutionContext, table: Table, grace_hours: int) -> AssetCheckResult:
    now = datetime.now(UTC)
    asset = table.asset
    expected = expected_partition(now, grace_hours, table.app.scope.partitions.start.date())
    materialized = context.instance.get_materialized_partitions(asset)
    latest = max(materialized) if materialized else None
    metadata: dict[str, Any] = {
        "expected_partition": expected or "(none due yet)",
        "latest_materialized_partition": latest or "(none)",
        "grace_hours": grace_hours,
    }
    if expected is None:
        return AssetCheckResult(passed=True, metadata=metadata)
    passed = expected in materialized
    if not passed:
        overdue = now - (
            datetime.combine(partition_day(expected), datetime.min.time(), UTC) + timedelta(days=1)
        )
        metadata["overdue_hours"] = round(overdue.total_seconds() / 3600 - grace_hours, 1)
    return AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None if passed else f"partition {expected} has not been materialized",
    )


def freshness_cron(grace_hours: int) -> str:
    """Shortly after the freshness deadline (UTC), when the freshness checks run on their own."""
    return f"5 {grace_hours % 24} * * *"


def _freshness_check(table: Table, grace_hours: int, automated: bool):
    condition: AutomationCondition[AssetCheckKey] = AutomationCondition.cron_tick_passed(
        freshness_cron(grace_hours), "UTC"
    )

    @asset_check(
        asset=table.asset,
        name="latest_partition_fresh",
        blocking=False,
        automation_condition=condition if automated else None,
        description=(
            f"The most recent closed UTC day is materialized once {grace_hours} hours "
            "(`freshness_grace_hours`) have passed after it ended."
        ),
    )
    def _fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return _freshness(context, table, grace_hours)

    return _fresh


@dataclass(frozen=True)
class AppChecks:
    """Every check of one app's two tables: per-partition checks, and the freshness checks that also
    run on their own schedule."""

    partition: list
    freshness: list

    @property
    def all(self) -> list:
        return [*self.partition, *self.freshness]


def build_app_checks(app: App, grace_hours: int, *, automated: bool = False) -> AppChecks:
    """`grace_hours`: how long after a UTC day ends its partition may still be missing; `automated`: the
    freshness checks carry an automation condition (instead of a schedule)."""
    tables = [Table(app, "meetings"), Table(app, "participants")]
    return AppChecks(
        partition=[_table_checks(t, RULES[t.name]) for t in tables],
        freshness=[_freshness_check(t, grace_hours, automated) for t in tables],
    )
