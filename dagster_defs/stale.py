"""Dagster wiring of stale-meeting deactivation: a sensor that finds stale meetings in the warehouse and
requests runs of a one-op job that calls `rtk_pipeline.stale.deactivate_stale` on exactly those ids.

The rules of *when* and *which* are the library's (`rtk_pipeline.stale.eligibility`); the sensor adds the
one Dagster-only rule: no request while an earlier run is still queued or running.
"""

# No `from __future__ import annotations`: Dagster reads the config, context and resource annotations
# of decorated functions at definition time and rejects them as strings.

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from dagster_defs import cursor, markdown
from dagster_defs.resources import app_resources
from dagster_defs.scope import App
from rtk_pipeline import stale
from rtk_pipeline.errors import RTKError
from rtk_pipeline.settings import describe
from rtk_pipeline.stale import eligibility

_OP = "deactivate_stale_meetings"  # the op's name within an app (`App.named`)
# A run in any of these states may still PATCH: never request another one alongside it.
BUSY_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _said(field_name: str) -> str:
    """A run-config field's description: the policy's, and how it combines with its variable."""
    return describe(stale.StalePolicy, field_name, combined=True)


class DeactivateStaleConfig(dg.Config):
    """Run config of the job: a view of `StalePolicy` (same field names) plus the ids to judge. Unset
    fields keep the component's policy (the shipped definitions read it from the RTK_STALE_* variables);
    the sensor fills every field so a run's config records the policy it ran under."""

    meeting_ids: list[str] | None = Field(
        default=None, description="Judge only these meetings; unset = every stale candidate in the warehouse."
    )
    stale_after_days: int | None = Field(default=None, description=_said("stale_after_days"))
    max_deactivations: int | None = Field(default=None, description=_said("max_deactivations"))
    dry_run: bool | None = Field(default=None, description=_said("dry_run"))
    allow_ids: list[str] | None = Field(default=None, description=_said("allow_ids"))
    allow_title_patterns: list[str] | None = Field(default=None, description=_said("allow_title_patterns"))
    deny_ids: list[str] = Field(default=[], description=_said("deny_ids"))
    deny_title_patterns: list[str] = Field(default=[], description=_said("deny_title_patterns"))

    def policy(self, base: stale.StalePolicy) -> stale.StalePolicy:
        """`base` (the component's policy) overlaid with what is set here, by the
        rule the CLI uses too (`StalePolicy.overlay`: set fields replace, lists add up, dry run only
        switches on)."""
        return base.overlay(**self.model_dump(exclude={"meeting_ids"}))

    @classmethod
    def of(cls, policy: stale.StalePolicy, meeting_ids: list[str]) -> "DeactivateStaleConfig":
        """The run config that judges `meeting_ids` under `policy`, every policy field written out."""
        values: dict[str, Any] = {"meeting_ids": meeting_ids}
        for name in cls.model_fields.keys() - {"meeting_ids"}:
            value = getattr(policy, name)
            values[name] = list(value) if isinstance(value, tuple) else value
        return cls.model_validate(values)


def _decisions_markdown(decisions: list[stale.Decision], limit: int = 200) -> str:
    headers = ["meeting", "title", "last activity", "decision", "HTTP", "detail"]
    rows = [
        [
            d.meeting_id,
            None if d.title is None else d.title[:40],
            f"{d.last_activity_at:%Y-%m-%d %H:%M}" if d.last_activity_at else None,
            str(d.decision),
            d.http_status,
            (d.error or d.detail or "")[:120],
        ]
        for d in decisions[:limit]
    ]
    text = markdown.table(headers, rows)
    if len(decisions) > limit:
        text += f"\n\n{len(decisions) - limit} more in `meeting_deactivations`."
    return text


def counts_line(counts: dict[str, int]) -> str:
    """Decision counts as a log line reads them: "deactivated 3, skipped:denied 1" (no enum reprs)."""
    return ", ".join(f"{decision} {count}" for decision, count in sorted(counts.items())) or "none"


def why_none(policy: stale.StalePolicy, counts: dict[str, int]) -> str | None:
    """Why a run deactivated nothing (a dry run, no candidate, or every one skipped); None if it did."""
    if counts.get(stale.DEACTIVATED):
        return None
    if policy.dry_run:
        return (
            f"dry run: {counts.get(stale.WOULD_DEACTIVATE, 0)} meeting(s) would be deactivated; "
            "no PATCH was sent"
        )
    if not counts:
        return (
            f"no stale candidate: the warehouse holds no ACTIVE meeting idle for "
            f"{policy.stale_after_days} days"
        )
    return f"nothing deactivated: {counts_line(counts)}"


@dataclass(frozen=True)
class AppStale:
    job: dg.JobDefinition
    sensor: dg.SensorDefinition


def build_app_stale(app: App, *, sensor: stale.SensorSettings, policy: stale.StalePolicy) -> AppStale:
    """One app's deactivation job (its own token's pool) and the sensor that requests it, under the
    component's sensor settings and policy."""
    deactivate = _deactivate_op(app, policy)

    @dg.job(
        name=app.named("deactivate_stale_job"),
        description=f"App `{app.name}`: deactivate stale RealtimeKit meetings (PATCH status INACTIVE), "
        "with guards and an audit.",
        tags={"rtk/feature": "stale-deactivation", "rtk/app": app.name},
    )
    def job() -> None:
        deactivate()

    return AppStale(job, _sensor(app, job, settings=sensor, policy=policy))


def _deactivate_op(app: App, policy: stale.StalePolicy) -> dg.OpDefinition:
    """The op: `deactivate_stale` under the run config's policy, its decisions as metadata; red when a
    decision failed."""
    op_name = app.named(_OP)

    @dg.op(
        name=op_name,
        pool=app.pool,
        required_resource_keys={app.resource, app.store_resource},
        description="Re-check stale meetings live and PATCH them INACTIVE, with caps, deny lists, an audit.",
    )
    def deactivate(context: dg.OpExecutionContext, config: DeactivateStaleConfig) -> dg.Output[dict]:
        run_policy = config.policy(policy)
        realtimekit, store = app_resources(context, app)
        try:
            with realtimekit.client() as client:
                decisions = stale.deactivate_stale(
                    client,
                    store,
                    **run_policy.kwargs(),
                    candidate_ids=config.meeting_ids,
                    run_id=context.run_id,
                )
        except RTKError as exc:
            raise dg.Failure(description=str(exc)) from None
        counts = stale.summarize(decisions)
        context.log.info(f"stale-meeting decisions: {counts_line(counts)}")
        why = why_none(run_policy, counts)
        if why:
            context.log.info(why)
        metadata = {
            "decisions": dg.MetadataValue.json(counts),
            "deactivated": dg.MetadataValue.int(counts.get(stale.DEACTIVATED, 0)),
            "failed": dg.MetadataValue.int(counts.get(stale.FAILED, 0)),
            "dry_run": dg.MetadataValue.bool(run_policy.dry_run),
            "stale_after_days": dg.MetadataValue.int(run_policy.stale_after_days),
            "max_deactivations": dg.MetadataValue.int(run_policy.max_deactivations),
            "table": dg.MetadataValue.md(_decisions_markdown(decisions)),
        }
        if why:
            metadata["why_none"] = dg.MetadataValue.text(why)
        failed = counts.get(stale.FAILED, 0)
        if failed:
            # Fail the run so it shows red; the failed meetings are retried on a later tick.
            raise dg.Failure(
                description=f"{failed} of {len(decisions)} decision(s) failed; see meeting_deactivations. "
                "The sensor requests them again on a later tick.",
                metadata=metadata,
            )
        return dg.Output(counts, metadata=metadata)

    return deactivate


def _sensor(
    app: App, job: dg.JobDefinition, *, settings: stale.SensorSettings, policy: stale.StalePolicy
) -> dg.SensorDefinition:
    """The sensor: the library's `plan_tick`, plus no request while an earlier run may still PATCH."""
    op_name, job_name = app.named(_OP), job.name

    @dg.sensor(
        name=app.named("stale_sensor"),
        job=job,
        minimum_interval_seconds=settings.interval_s,
        default_status=(
            dg.DefaultSensorStatus.RUNNING if settings.enabled else dg.DefaultSensorStatus.STOPPED
        ),
        required_resource_keys={app.resource, app.store_resource},
        description=f"App `{app.name}`: requests deactivation of meetings the warehouse shows stale. "
        "Stopped unless `stale.enabled`; try `stale.dry_run: true` first.",
    )
    def sensor(context: dg.SensorEvaluationContext, **_resources: object) -> dg.SensorResult:
        # Dagster passes the required resources as keywords when the sensor is called directly (as in
        # tests); they are read from `context.resources` either way.
        now = datetime.now(UTC)
        cooldown = timedelta(hours=settings.cooldown_hours)
        requested = cursor.Requested(
            eligibility.within_cooldown(cursor.unpack(context.cursor), now, cooldown)
        )
        busy = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=BUSY_STATUSES), limit=1
        )
        if busy:
            return dg.SensorResult(
                skip_reason=f"run {busy[0].run_id} is still in progress",
                cursor=cursor.pack(eligibility.dump_cursor(requested)),
            )
        tick = eligibility.plan_tick(
            lambda: app_resources(context, app)[1], policy, requested, now=now, cooldown=cooldown
        )
        if not tick.ids:
            return dg.SensorResult(skip_reason=tick.skip_reason, cursor=cursor.pack(tick.cursor))
        request = dg.RunRequest(
            run_key=eligibility.run_key(context.cursor, tick.ids),
            run_config=dg.RunConfig(ops={op_name: DeactivateStaleConfig.of(policy, tick.ids)}),
            tags={"rtk/stale_candidates": str(len(tick.ids)), "rtk/dry_run": str(policy.dry_run).lower()},
        )
        context.log.info(
            "requesting deactivation of %d of %d stale meeting(s)", len(tick.ids), tick.candidates
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor.pack(tick.cursor))

    return sensor
