"""RealtimeKit assets: thin wrappers that call the library's sync functions and report what they did.

A run covers one partition or a range of them (the backfill policy groups up to the component's
`days_per_run` per run); either way the library is called once for the whole range, so a month is one wide
meetings listing, not thirty narrow ones. Each partition records its own figures (its rows as
`dagster/partition_row_count`, rejects, Parquet file, a preview of the stored rows, and the table's
`dagster/row_count`); the run's totals (requests, retries, 429s, seconds, window) are one asset observation
per run, so no per-partition plot is a flat line of run totals. Previews read the stored tables, which hold
no secrets.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations of
# decorated functions at definition time and rejects them as strings.

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetsDefinition,
    Backoff,
    BetaWarning,
    Failure,
    Jitter,
    MetadataValue,
    RetryPolicy,
    asset,
)

from dagster_defs import markdown
from dagster_defs.metadata import kinds, table_metadata, table_name
from dagster_defs.partitions import window_days
from dagster_defs.resources import app_resources
from dagster_defs.scope import App, ComponentScope
from dagster_defs.secrets import redact_rows
from rtk_pipeline.errors import PermanentError
from rtk_pipeline.settings import SyncSettings
from rtk_pipeline.store import Store
from rtk_pipeline.sync import SyncResult, sync_meetings, sync_participants

PREVIEW_ROWS = 5
MAX_MISSING_LISTED = 1000  # meeting ids kept in metadata when participants could not be listed


# Columns shown in the markdown previews: enough to recognise the rows, no JSON blobs, no names.
_PREVIEW_COLUMNS = {
    "meetings": ("id", "title", "status", "created_at", "updated_at"),
    "participants": ("meeting_id", "id", "preset_name", "created_at", "updated_at"),
}


def sync_retry_policy(settings: SyncSettings) -> RetryPolicy:
    """Whole-step retries with exponential backoff, for the faults the client already retried until its
    budget ran out (429, 5xx, timeouts, a listing that kept moving). Errors a retry cannot fix fail at once
    (`Failure(allow_retries=False)`)."""
    return RetryPolicy(
        max_retries=settings.step_max_retries,
        delay=settings.step_retry_delay_s,
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )


@contextmanager
def _beta_backfill_policy() -> Iterator[None]:
    """BackfillPolicy is "beta" in Dagster 1.13 and warns at every load; the policy is what keeps
    backfills to ~12 runs a year, so it stays, without the noise (here only, not for other assets)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
        yield


def _log_progress(context: AssetExecutionContext) -> Callable[[str, int], None]:
    """Progress callback for the library: one log line per 5 s at most, so long backfills show life."""
    state = {"rows": 0, "logged": time.monotonic()}

    def progress(table: str, rows: int) -> None:
        state["rows"] += rows
        if time.monotonic() - state["logged"] >= 5:
            state["logged"] = time.monotonic()
            context.log.info(f"{table}: {state['rows']:,} rows fetched so far")

    return progress


def _sync_and_report(
    context: AssetExecutionContext, app: App, sync: Callable[..., SyncResult], **kwargs
) -> None:
    """Call the library once for the run's whole partition range, then report what it did.

    Permanent API errors skip Dagster's retries (a wrong token stays wrong); transient ones raise and
    are retried by the assets' `sync_retry_policy`."""
    start_day, end_day = window_days(*context.partition_time_window)
    context.log.info(f"syncing {start_day}..{end_day} ({len(context.partition_keys)} partitions)")
    realtimekit, store = app_resources(context, app)
    try:
        with realtimekit.client() as client:
            result = sync(
                client,
                store,
                start_day,
                end_day,
                run_id=context.run_id,
                progress=_log_progress(context),
                **kwargs,
            )
    except PermanentError as exc:
        raise Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
    _report(context, store, result, realtimekit.api_token, table_name(app.scope.store, result.table))


def _markdown(rows: pa.Table, api_tokens: list[str]) -> str:
    """A small table for the UI; any cell holding something secret-shaped (or any of the tokens) is
    redacted first, because metadata is kept for good and shown to everyone with UI access."""
    return markdown.table(rows.column_names, redact_rows(markdown.arrow_rows(rows), api_tokens))


def _previews(store: Store, table: str, start_day: date, end_day: date, api_token: str) -> dict[date, str]:
    """Markdown preview of the first stored rows of each day, read back from the (scrubbed) table."""
    previews = store.day_previews(table, start_day, end_day, _PREVIEW_COLUMNS[table], PREVIEW_ROWS)
    return {day: _markdown(rows, [api_token]) for day, rows in previews.items()}


def _run_totals(result: SyncResult) -> dict:
    """What the run did as a whole (recorded once per run, not on each of its partitions)."""
    totals = {
        "run_window": f"{result.start_day}..{result.end_day}",
        "run_days": len(result.days),
        "run_rows": result.rows,
        "run_rejected_rows": result.rejected,
        "requests": result.requests,
        "retries": result.retries,
        "throttled_429": result.throttled,
        "seconds": round(result.seconds, 3),
        "api_total_count": result.api_total_count if result.api_total_count is not None else -1,
        "listed_ids": result.listed_ids,
        "listing_passes": result.passes,
    }
    if result.table == "meetings":
        totals["outside_window"] = result.outside_window
    else:
        totals["missing_meetings_count"] = len(result.missing_meetings)
        totals["missing_meetings"] = MetadataValue.json(sorted(result.missing_meetings)[:MAX_MISSING_LISTED])
    return totals


def _report(
    context: AssetExecutionContext, store: Store, result: SyncResult, api_token: str, table: str
) -> None:
    """Each partition's own figures on its materialization; the run's totals once, as an observation.
    `table`: the table's name as the analysts write it."""
    context.log_event(AssetObservation(asset_key=context.asset_key, metadata=_run_totals(result)))
    previews = _previews(store, result.table, result.start_day, result.end_day, api_token)
    rejected = store.rejects_by_day(result.table, result.start_day, result.end_day)
    table_rows = store.table_counts([result.table])[result.table].rows
    files = {p.parent.name.split("=", 1)[-1]: p for p in result.parquet_files}
    for key in context.partition_keys:
        day = date.fromisoformat(key)
        metadata = {
            "dagster/partition_row_count": result.rows_by_day.get(day, 0),
            "dagster/row_count": table_rows,
            "dagster/table_name": table,
            "rejected_rows": rejected.get(day, 0),
            "preview": MetadataValue.md(previews.get(day, "_no rows for this day_")),
        }
        if key in files:
            metadata["parquet_path"] = MetadataValue.path(str(files[key]))
        context.add_asset_metadata(metadata, partition_key=key)
    context.log.info(
        f"{result.table} {result.start_day}..{result.end_day}: {result.rows:,} rows, "
        f"{result.rejected} rejected, {result.requests} requests, {result.retries} retries, "
        f"{result.throttled} throttled, {result.seconds:.1f}s"
    )


def _synced(app: App, retry: RetryPolicy, table: str, description: str, **extra) -> dict:
    """What both synced tables of an app share: its key, daily partitions, ranged backfill runs, its
    token's pool, step retries, its API resource, the store, and the component's shaping."""
    return {
        **_shaped(app.scope),
        "key": app.key(table),
        "description": description,
        "partitions_def": app.scope.partitions,
        "backfill_policy": app.scope.backfill,
        "pool": app.pool,
        "retry_policy": retry,
        "kinds": kinds(app.scope.store),
        "required_resource_keys": {app.resource, app.store_resource},
        "metadata": table_metadata(app.scope.store, table),
        **extra,
    }


def _shaped(scope: ComponentScope) -> dict:
    """What the component's attributes give every asset: group, owners, tags, automation condition."""
    return {
        "group_name": scope.group,
        "owners": list(scope.owners),
        "tags": dict(scope.tags),
        "automation_condition": scope.automation,
    }


def build_app_assets(app: App, settings: SyncSettings) -> list[AssetsDefinition]:
    """The two synced tables of one app. Each app has its own assets, so its partitions succeed or fail
    on their own and a failing app never holds up another app's runs."""
    retry = sync_retry_policy(settings)
    with _beta_backfill_policy():
        return _app_assets(app, retry)


def _app_assets(app: App, retry: RetryPolicy) -> list[AssetsDefinition]:
    @asset(
        **_synced(
            app,
            retry,
            "meetings",
            f"RealtimeKit meetings of app `{app.name}`, one partition per UTC creation day: table "
            "`meetings` (its rows have this app's app_id) and Parquet `meetings/created_day=YYYY-MM-DD/`. "
            "A run replaces this app's rows of its days whole with what the API holds now.",
        )
    )
    def meetings(context: AssetExecutionContext) -> None:
        _sync_and_report(context, app, sync_meetings)

    @asset(
        **_synced(
            app,
            retry,
            "participants",
            f"Participants of app `{app.name}`'s meetings created on each UTC day (same partition as their "
            "meeting), listed meeting by meeting on a few threads: table `participants` and Parquet "
            "`participants/meeting_created_day=YYYY-MM-DD/`.",
            deps=[app.key("meetings")],
        )
    )
    def participants(context: AssetExecutionContext) -> None:
        realtimekit = getattr(context.resources, app.resource)
        _sync_and_report(context, app, sync_participants, workers=realtimekit.participant_workers)

    return [meetings, participants]


def build_views_asset(scope: ComponentScope, apps: list[App]) -> AssetsDefinition:
    """The analyst views and macros from `sql/views/`, (re)created over the whole warehouse (every app);
    each one is queried once so a view that no longer compiles fails here, not in an analyst's notebook."""
    deps = [app.key(table) for app in apps for table in ("meetings", "participants")]

    @asset(
        key=scope.views_key,
        deps=deps,
        **_shaped(scope),
        kinds={"duckdb", "sql"},
        required_resource_keys={scope.resource, *(app.resource for app in apps)},
        description=(
            "The analyst views and macros from `sql/views/` over every app of the warehouse (with an "
            "app_id column), recreated and each queried once, so a view that no longer compiles fails here."
        ),
    )
    def analyst_views(context: AssetExecutionContext) -> None:
        clients = [getattr(context.resources, app.resource) for app in apps]
        store = getattr(context.resources, scope.resource).get(clients[0].app_id)
        store.ensure_schema()
        tokens = [client.api_token for client in clients]
        views = store.view_summaries(PREVIEW_ROWS)
        for view in views:
            context.add_asset_metadata(
                {
                    f"{view.name}_rows": view.rows,
                    f"{view.name}_preview": MetadataValue.md(_markdown(view.preview, tokens)),
                }
            )
        context.add_asset_metadata({"views": MetadataValue.json([view.name for view in views])})

    return analyst_views
