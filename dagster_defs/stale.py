"""Dagster wiring of stale-meeting deactivation: a sensor that finds stale meetings in the warehouse and
requests runs of a one-op job that calls `rtk_pipeline.stale.deactivate_stale` on exactly those ids.

The sensor is conservative about *when*: it skips (with the reason on the tick) while the warehouse is
too old to judge, while an earlier run is still queued or running, and for meetings it requested within
the cool-down unless their last attempt failed or never happened. The cursor remembers what it requested.
"""

# No `from __future__ import annotations`: Dagster reads the config, context and resource annotations
# of decorated functions at definition time and rejects them as strings.

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from dagster_defs.resources import app_resources
from dagster_defs.scope import App
from rtk_pipeline import stale
from rtk_pipeline.errors import RTKError
from rtk_pipeline.settings import env_flag, env_number

DEFAULT_SENSOR_INTERVAL_S = 3600
DEFAULT_COOLDOWN_HOURS = 24.0
# A run in any of these states may still PATCH: never request another one alongside it.
BUSY_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def sensor_interval_seconds() -> int:
    """RTK_STALE_SENSOR_INTERVAL: seconds between sensor evaluations (default 3600)."""
    return env_number("RTK_STALE_SENSOR_INTERVAL", DEFAULT_SENSOR_INTERVAL_S, minimum=1)


def cooldown() -> timedelta:
    """RTK_STALE_COOLDOWN_HOURS: how long a judged meeting is not requested again (default 24)."""
    return timedelta(
        hours=env_number("RTK_STALE_COOLDOWN_HOURS", DEFAULT_COOLDOWN_HOURS, minimum=0, kind=float)
    )


def sensor_enabled_from_env() -> bool:
    """RTK_STALE_SENSOR=on ships the sensor running. Off by default: adding the pipeline to a deployment
    must not set meetings INACTIVE before someone chose that (the UI toggle overrides either default)."""
    return env_flag("RTK_STALE_SENSOR", False)


@dataclass(frozen=True)
class StaleSettings:
    """A component's stale settings; None falls back to the RTK_STALE_* environment at run time."""

    enabled: bool
    stale_after_days: int | None = None
    max_per_run: int | None = None
    dry_run: bool | None = None

    def policy(self) -> stale.StalePolicy:
        return stale.StalePolicy.from_env().overlay(
            stale_after_days=self.stale_after_days,
            max_deactivations=self.max_per_run,
            dry_run=self.dry_run,
        )


class DeactivateStaleConfig(dg.Config):
    """Run config of the job. Unset fields fall back to the RTK_STALE_* environment at run time; the
    sensor fills every field so a run's config records the policy it ran under."""

    meeting_ids: list[str] | None = Field(
        default=None, description="Judge only these meetings; unset = every stale candidate in the warehouse."
    )
    stale_after_days: int | None = Field(
        default=None, description="Days without activity (RTK_STALE_AFTER_DAYS)."
    )
    max_deactivations: int | None = Field(default=None, description="Cap per run (RTK_STALE_MAX_PER_RUN).")
    dry_run: bool | None = Field(
        default=None,
        description="Decide and audit, send no PATCH (RTK_STALE_DRY_RUN; either one switches it on).",
    )
    allow_ids: list[str] | None = Field(
        default=None, description="Only ever touch these ids (added to RTK_STALE_ALLOW_IDS)."
    )
    allow_title_patterns: list[str] | None = Field(
        default=None, description="Only ever touch matching titles (added to RTK_STALE_ALLOW_TITLE)."
    )
    deny_ids: list[str] = Field(
        default=[], description="Never touch these ids (added to RTK_STALE_DENY_IDS)."
    )
    deny_title_patterns: list[str] = Field(
        default=[], description="Never touch matching titles (added to RTK_STALE_DENY_TITLE)."
    )

    def policy(self, base: stale.StalePolicy) -> stale.StalePolicy:
        """`base` (the component's settings over the environment) overlaid with what is set here, by the
        rule the CLI uses too (`StalePolicy.overlay`: set fields replace, lists add up, dry run only
        switches on)."""
        return base.overlay(
            stale_after_days=self.stale_after_days,
            max_deactivations=self.max_deactivations,
            dry_run=self.dry_run,
            allow_ids=self.allow_ids,
            allow_title_patterns=self.allow_title_patterns,
            deny_ids=self.deny_ids,
            deny_title_patterns=self.deny_title_patterns,
        )


def _decisions_markdown(decisions: list[stale.Decision], limit: int = 200) -> str:
    lines = ["| meeting | title | last activity | decision | HTTP | detail |", "|---|---|---|---|---|---|"]
    for d in decisions[:limit]:
        cells = [
            d.meeting_id,
            (d.title or "").replace("|", "/")[:40],
            f"{d.last_activity_at:%Y-%m-%d %H:%M}" if d.last_activity_at else "",
            d.decision,
            str(d.http_status or ""),
            (d.error or d.detail or "").replace("|", "/")[:120],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if len(decisions) > limit:
        lines.append(f"\n{len(decisions) - limit} more in `meeting_deactivations`.")
    return "\n".join(lines)


def _load_cursor(raw: str | None) -> dict[str, datetime]:
    """Cursor = {"requested": {meeting_id: ISO time requested}}; unreadable cursors start afresh."""
    if not raw:
        return {}
    try:
        return {k: datetime.fromisoformat(v) for k, v in json.loads(raw).get("requested", {}).items()}
    except (ValueError, AttributeError, TypeError):
        return {}


def _dump_cursor(requested: dict[str, datetime]) -> str:
    return json.dumps({"requested": {k: v.isoformat() for k, v in sorted(requested.items())}})


@dataclass(frozen=True)
class AppStale:
    job: dg.JobDefinition
    sensor: dg.SensorDefinition


def build_app_stale(app: App, settings: StaleSettings) -> AppStale:
    """One app's deactivation job (its own token's pool) and the sensor that requests it."""
    op_name, job_name = app.named("deactivate_stale_meetings"), app.named("deactivate_stale_job")
    keys = {app.resource, app.store_resource}

    @dg.op(
        name=op_name,
        pool=app.pool,
        required_resource_keys=keys,
        description="Re-check stale meetings live and PATCH them INACTIVE, with caps, deny lists, an audit.",
    )
    def deactivate(context: dg.OpExecutionContext, config: DeactivateStaleConfig) -> dg.Output[dict]:
        policy = config.policy(settings.policy())
        realtimekit, store = app_resources(context, app)
        try:
            with realtimekit.client() as client:
                decisions = stale.deactivate_stale(
                    client,
                    store,
                    **policy.kwargs(),
                    candidate_ids=config.meeting_ids,
                    run_id=context.run_id,
                )
        except RTKError as exc:
            raise dg.Failure(description=str(exc)) from None
        counts = stale.summarize(decisions)
        context.log.info("stale-meeting decisions: %s", counts)
        metadata = {
            "decisions": dg.MetadataValue.json(counts),
            "deactivated": dg.MetadataValue.int(counts.get(stale.DEACTIVATED, 0)),
            "failed": dg.MetadataValue.int(counts.get(stale.FAILED, 0)),
            "dry_run": dg.MetadataValue.bool(policy.dry_run),
            "stale_after_days": dg.MetadataValue.int(policy.stale_after_days),
            "max_deactivations": dg.MetadataValue.int(policy.max_deactivations),
            "table": dg.MetadataValue.md(_decisions_markdown(decisions)),
        }
        failed = counts.get(stale.FAILED, 0)
        if failed:
            # Fail the run so it shows red; the failed meetings are retried on a later tick.
            raise dg.Failure(
                description=f"{failed} of {len(decisions)} decision(s) failed; see meeting_deactivations. "
                "The sensor requests them again on a later tick.",
                metadata=metadata,
            )
        return dg.Output(counts, metadata=metadata)

    @dg.job(
        name=job_name,
        description=f"App `{app.name}`: deactivate stale RealtimeKit meetings (PATCH status INACTIVE), "
        "with guards and an audit.",
        tags={"rtk/feature": "stale-deactivation", "rtk/app": app.name},
    )
    def job() -> None:
        deactivate()

    @dg.sensor(
        name=app.named("stale_sensor"),
        job=job,
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING if settings.enabled else dg.DefaultSensorStatus.STOPPED,
        required_resource_keys=keys,
        description=f"App `{app.name}`: requests deactivation of meetings the warehouse shows stale. "
        "Stopped unless `stale.enabled` (or RTK_STALE_SENSOR=on); try `stale.dry_run: true` first.",
    )
    def sensor(context: dg.SensorEvaluationContext, **_resources: object) -> dg.SensorResult:
        # Dagster passes the required resources as keywords when the sensor is called directly (as in
        # tests); they are read from `context.resources` either way.
        now = datetime.now(UTC)
        policy = settings.policy()
        requested = {k: v for k, v in _load_cursor(context.cursor).items() if now - v < cooldown()}
        cursor = _dump_cursor(requested)
        busy = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=BUSY_STATUSES), limit=1
        )
        if busy:
            return dg.SensorResult(skip_reason=f"run {busy[0].run_id} is still in progress", cursor=cursor)
        if policy.max_deactivations == 0:
            return dg.SensorResult(
                skip_reason="max_per_run (RTK_STALE_MAX_PER_RUN) is 0: deactivation is off", cursor=cursor
            )
        _, wh = app_resources(context, app)
        try:
            problem = stale.freshness_problem(wh, max_sync_age_hours=policy.max_sync_age_hours, now=now)
            if problem:
                return dg.SensorResult(skip_reason=problem, cursor=cursor)
            candidates = stale.find_candidates(wh, stale_after_days=policy.stale_after_days, as_of=now)
            candidates = [c for c in candidates if policy.screen(c.meeting_id, c.title) is None]
            last = stale.latest_decisions(
                wh, {c.meeting_id: requested[c.meeting_id] for c in candidates if c.meeting_id in requested}
            )
        except RTKError as exc:  # e.g. a long commit holds the file: try again next tick
            return dg.SensorResult(skip_reason=f"warehouse not readable now: {exc}", cursor=cursor)
        eligible = [
            c.meeting_id
            for c in candidates
            if c.meeting_id not in requested or last.get(c.meeting_id, stale.PENDING) in stale.RETRY_SOON
        ]
        if not eligible:
            reason = (
                f"{len(candidates)} stale candidate(s), all judged within the last {cooldown()}"
                if candidates
                else f"no ACTIVE meeting without activity for {policy.stale_after_days} days"
            )
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        ids = eligible[: policy.max_deactivations]
        run_key = hashlib.sha256((str(context.cursor) + "|" + ",".join(ids)).encode()).hexdigest()[:20]
        requested.update(dict.fromkeys(ids, now))
        config = DeactivateStaleConfig(
            meeting_ids=ids,
            stale_after_days=policy.stale_after_days,
            max_deactivations=policy.max_deactivations,
            dry_run=policy.dry_run,
            allow_ids=list(policy.allow_ids),
            allow_title_patterns=list(policy.allow_title_patterns),
            deny_ids=list(policy.deny_ids),
            deny_title_patterns=list(policy.deny_title_patterns),
        )
        request = dg.RunRequest(
            run_key=f"stale-{run_key}",
            run_config=dg.RunConfig(ops={op_name: config}),
            tags={"rtk/stale_candidates": str(len(ids)), "rtk/dry_run": str(policy.dry_run).lower()},
        )
        context.log.info("requesting deactivation of %d of %d stale meeting(s)", len(ids), len(candidates))
        return dg.SensorResult(run_requests=[request], cursor=_dump_cursor(requested))

    return AppStale(job, sensor)
