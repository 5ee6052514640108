"""`rtk-pipeline demo`: the whole pipeline on one machine in well under a minute, no Cloudflare account.

Starts the bundled emulator with a month of seeded meetings, backfills that month through the real Dagster
job (the same ranged runs a UI backfill launches: at most RTK_MAX_PARTITIONS_PER_RUN days per run, every
check included) into data/, deactivates stale meetings through the API, and prints what landed plus the
commands to look at it in DuckDB and in the Dagster UI.
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from dagster import AssetCheckEvaluation, BetaWarning, DagsterInstance, ExecuteInProcessResult
from rich import box
from rich.console import Console
from rich.table import Table

from dagster_defs.local import (
    emulator_config,
    emulator_env,
    first_day,
    partitions_env,
    pin_demo_end,
    prepare_dagster_home,
    warehouse_paths,
)
from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator
from rtk_pipeline.settings import ApiSettings, StoreSettings, SyncSettings
from rtk_pipeline.store import Store
from rtk_pipeline.store.backends import open_store_from

console = Console()

# Meetings idle for this many days count as stale in the demo (the production default is 30, but the
# demo's data only spans a month). At most this many are deactivated, as the guard would in production.
DEMO_STALE_AFTER_DAYS = 14
DEMO_MAX_DEACTIVATIONS = 10
# The project's own definitions file the environment's app under `realtimekit/default/...`.
SYNC_JOB = "realtimekit_default_sync_job"
# Dagster's console logger prints every event; the run's full log is in the instance (and the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Point the resources' EnvVars at the emulator for the demo's duration, then restore."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _backfill(instance: DagsterInstance, first: date, last: date) -> tuple[list, list]:
    """Run the real sync job over first..last in ranged runs, as a multi-run backfill would."""
    from dagster_defs.definitions import build_defs
    from dagster_defs.partitions import chunk_days
    from dagster_defs.schedules import range_tags

    with warnings.catch_warnings():
        # Dagster warns about its own copy of a sensor (the `owners` parameter is beta); not news here.
        warnings.simplefilter("ignore", BetaWarning)
        job = build_defs().resolve_job_def(SYNC_JOB)
    results: list[ExecuteInProcessResult] = []
    evaluations: list[AssetCheckEvaluation] = []
    for start, end in chunk_days(first, last, SyncSettings.from_env().days_per_run):
        console.print(f"  run over {start}..{end} ({(end - start).days + 1} partitions) ...")
        result = job.execute_in_process(
            instance=instance,
            tags={**range_tags(start, end), "rtk/demo": "true"},
            run_config=QUIET,
            raise_on_error=False,
        )
        results.append(result)
        evaluations += result.get_asset_check_evaluations()
    return results, evaluations


def _run_stats(results: list) -> dict[str, Counter]:
    """Per table: partitions materialized, and the run-level sync figures (one observation per run)."""
    stats: dict[str, Counter] = {"meetings": Counter(), "participants": Counter()}
    for result in results:
        for event in result.get_asset_materialization_events():
            table = event.step_materialization_data.materialization.asset_key.path[-1]
            if table in stats:
                stats[table]["partitions"] += 1
        for event in result.get_asset_observation_events():
            observation = event.asset_observation_data.asset_observation
            table = observation.asset_key.path[-1]
            if table in stats:
                for key in ("requests", "retries", "throttled_429", "seconds"):
                    stats[table][key] += observation.metadata[key].value
    return stats


def _landed_table(warehouse: Store, results: list) -> Table:
    table = Table(title="What landed", box=box.SIMPLE_HEAD)
    for column in ("table", "rows", "rejected", "days", "requests", "retries", "429s", "sync s"):
        table.add_column(column, justify="left" if column == "table" else "right")
    stats_by_table = _run_stats(results)
    counts = warehouse.table_counts(list(stats_by_table))
    for name, stats in stats_by_table.items():
        table.add_row(
            name,
            f"{counts[name].rows:,}",
            str(counts[name].rejected),
            str(stats["partitions"]),
            f"{stats['requests']:,}",
            str(stats["retries"]),
            str(stats["throttled_429"]),
            f"{stats['seconds']:.1f}",
        )
    return table


def _checks_table(evaluations: list) -> tuple[Table, int]:
    tally: dict[tuple[str, str], Counter] = {}
    for evaluation in evaluations:
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        tally.setdefault(key, Counter())["passed" if evaluation.passed else "failed"] += 1
    table = Table(title="Asset checks (one evaluation per partition)", box=box.SIMPLE_HEAD)
    for column in ("asset", "check", "passed", "failed"):
        table.add_column(column, justify="right" if column in ("passed", "failed") else "left")
    failed = 0
    for (asset, check), counts in sorted(tally.items()):
        failed += counts["failed"]
        style = "red" if counts["failed"] else "green"
        table.add_row(asset, check, f"[{style}]{counts['passed']}[/]", f"[{style}]{counts['failed']}[/]")
    return table, failed


def _deactivate(warehouse: Store) -> Table:
    """Stale-meeting deactivation through the API (the emulator's, as the environment now says), then each
    deactivated meeting re-read from the API."""
    from dagster_defs.stale import why_none
    from rtk_pipeline.stale import DEACTIVATED, StalePolicy, deactivate_stale, summarize

    policy = StalePolicy(stale_after_days=DEMO_STALE_AFTER_DAYS, max_deactivations=DEMO_MAX_DEACTIVATIONS)
    with RealtimeKitClient.from_settings(ApiSettings.from_env()) as client:
        decisions = deactivate_stale(client, warehouse, **policy.kwargs())
        done = [d for d in decisions if d.decision == DEACTIVATED]
        live = {d.meeting_id: client.get_meeting(d.meeting_id).get("status") for d in done[:5]}
    counts = Counter(d.decision for d in decisions)
    table = Table(
        title=f"Stale meetings (idle > {DEMO_STALE_AFTER_DAYS} days, at most {DEMO_MAX_DEACTIVATIONS})"
    )
    table.add_column("decision")
    table.add_column("meetings", justify="right")
    for decision, count in counts.most_common():
        table.add_row(decision, str(count))
    for d in done[:5]:
        table.add_row(
            f"  {d.meeting_id[:8]}… {'NULL' if d.title is None else repr(d.title[:30])}",
            f"API status now: {live.get(d.meeting_id)}",
        )
    why = why_none(policy, summarize(decisions))
    if why:
        table.caption = why
    return table


def _refresh(warehouse: Store, emu: Emulator) -> Table:
    """A week passes in the emulator (its reusable rooms gain participants), then `refresh` finds them."""
    from rtk_pipeline.refresh import refresh

    emu.clock.set(max(emu.clock.now(), emu.config.resolved_end) + timedelta(days=7))
    with RealtimeKitClient.from_settings(ApiSettings.from_env()) as client:
        report = refresh(client, warehouse)
    table = Table(title="Refresh a week later: late participants in older rooms")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in report.as_json().items():
        table.add_row(name, str(value))
    return table


def run_demo(meetings: int = 3000, days: int = 30, seed: int = 7) -> int:
    """Emulator -> Dagster backfill -> checks -> stale deactivation -> summary. Exit code 0 when every run
    succeeded and every check passed."""
    started = time.perf_counter()
    duckdb_path, parquet_dir = warehouse_paths()
    home = prepare_dagster_home(duckdb_path.parent / "dagster_home")
    config = emulator_config(meetings, days, seed)
    first = first_day(config).date()
    last = first + timedelta(days=days - 1)
    pin_demo_end(duckdb_path, last + timedelta(days=1))  # `make dev` serves these days too
    console.rule("[bold]rtk-pipeline demo")
    with (
        Emulator(config) as emu,
        _environment({**emulator_env(emu, duckdb_path, parquet_dir), **partitions_env(config)}),
    ):
        console.print(
            f"emulator: {meetings:,} meetings created {first}..{last} (seed {seed}), serving {emu.base_url}"
        )
        console.print(f"Dagster backfill of {days} daily partitions into {duckdb_path} (DAGSTER_HOME={home})")
        backfill_started = time.perf_counter()
        # The instance `make dev` opens too: the UI then shows this backfill's runs, metadata and checks.
        with DagsterInstance.from_config(str(home)) as instance:
            results, evaluations = _backfill(instance, first, last)
        backfill_s = time.perf_counter() - backfill_started
        warehouse = open_store_from(StoreSettings.from_env(), emu.app_id)
        console.print(_landed_table(warehouse, results))
        checks, failed_checks = _checks_table(evaluations)
        console.print(checks)
        console.print(_refresh(warehouse, emu))
        console.print(_deactivate(warehouse))
    runs_ok = all(r.success for r in results)
    total_s = time.perf_counter() - started
    console.print(
        f"backfill: {len(results)} run(s) in {backfill_s:.1f}s; demo total {total_s:.1f}s; "
        + (
            "[green]all runs succeeded, all checks passed[/]"
            if runs_ok and not failed_checks
            else "[red]failures above[/]"
        )
    )
    _next_steps(duckdb_path, parquet_dir)
    return 0 if runs_ok and not failed_checks else 1


def _next_steps(duckdb_path: Path, parquet_dir: Path) -> None:
    rel = os.path.relpath(duckdb_path)
    console.rule("[bold]look at it")
    console.print(f"DuckDB CLI:    duckdb -readonly {rel}   then e.g.  FROM meetings_per_day;")
    console.print(
        f"Python:        python -c \"import duckdb; print(duckdb.connect('{rel}', read_only=True)"
        ".sql('FROM meetings_per_day ORDER BY day DESC LIMIT 10'))\""
    )
    console.print(f"Parquet:       {os.path.relpath(parquet_dir)}/meetings/created_day=*/data.parquet")
    console.print(
        "Dagster UI:    make dev   (dagster dev on http://127.0.0.1:3000 over this DuckDB file and this "
        "demo's runs, checks and metadata, with the same emulator data to launch more backfills against)"
    )
