"""Dagster wiring of stale-meeting deactivation: a sensor that finds stale meetings in the warehouse and
requests runs of a one-op job that calls `rtk_pipeline.stale.deactivate_stale` on exactly those ids.

The rules of *when* and *which* are the library's (`rtk_pipeline.stale.eligibility`); the sensor adds the
one Dagster-only rule: no request while an earlier run is still queued or running.
"""

# No `from __future__ import annotations`: Dagster reads the config, context and resource annotations
# of decorated functions at definition time and rejects them as strings.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from dagster_defs.resources import app_resources
from dagster_defs.scope import App
from rtk_pipeline import stale
from rtk_pipeline.errors import RTKError
from rtk_pipeline.stale import eligibility
from rtk_pipeline.stale.env import describe, read

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
    fields fall back to the RTK_STALE_* environment at run time; the sensor fills every field so a run's
    config records the policy it ran under."""

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
        """`base` (the component's settings over the environment) overlaid with what is set here, by the
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


@dataclass(frozen=True)
class AppStale:
    job: dg.JobDefinition
    sensor: dg.SensorDefinition


def build_app_stale(app: App, *, enabled: bool, policy: Callable[[], stale.StalePolicy]) -> AppStale:
    """One app's deactivation job (its own token's pool) and the sensor that requests it. `policy` gives
    the component's policy over the RTK_STALE_* environment, read when a run or tick starts."""
    deactivate = _deactivate_op(app, policy)

    @dg.job(
        name=app.named("deactivate_stale_job"),
        description=f"App `{app.name}`: deactivate stale RealtimeKit meetings (PATCH status INACTIVE), "
        "with guards and an audit.",
        tags={"rtk/feature": "stale-deactivation", "rtk/app": app.name},
    )
    def job() -> None:
        deactivate()

    return AppStale(job, _sensor(app, job, enabled=enabled, policy=policy))


def _deactivate_op(app: App, policy: Callable[[], stale.StalePolicy]) -> dg.OpDefinition:
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
        run_policy = config.policy(policy())
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
        context.log.info("stale-meeting decisions: %s", counts)
        metadata = {
            "decisions": dg.MetadataValue.json(counts),
            "deactivated": dg.MetadataValue.int(counts.get(stale.DEACTIVATED, 0)),
            "failed": dg.MetadataValue.int(counts.get(stale.FAILED, 0)),
            "dry_run": dg.MetadataValue.bool(run_policy.dry_run),
            "stale_after_days": dg.MetadataValue.int(run_policy.stale_after_days),
            "max_deactivations": dg.MetadataValue.int(run_policy.max_deactivations),
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

    return deactivate


def _sensor(
    app: App, job: dg.JobDefinition, *, enabled: bool, policy: Callable[[], stale.StalePolicy]
) -> dg.SensorDefinition:
    """The sensor: the library's `plan_tick`, plus no request while an earlier run may still PATCH."""
    op_name, job_name = app.named(_OP), job.name

    @dg.sensor(
        name=app.named("stale_sensor"),
        job=job,
        minimum_interval_seconds=read(stale.SensorSettings, "interval_s"),
        default_status=dg.DefaultSensorStatus.RUNNING if enabled else dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={app.resource, app.store_resource},
        description=f"App `{app.name}`: requests deactivation of meetings the warehouse shows stale. "
        "Stopped unless `stale.enabled` (or RTK_STALE_SENSOR=on); try `stale.dry_run: true` first.",
    )
    def sensor(context: dg.SensorEvaluationContext, **_resources: object) -> dg.SensorResult:
        # Dagster passes the required resources as keywords when the sensor is called directly (as in
        # tests); they are read from `context.resources` either way.
        now = datetime.now(UTC)
        cooldown = eligibility.cooldown()
        requested = eligibility.within_cooldown(eligibility.load_cursor(context.cursor), now, cooldown)
        busy = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, statuses=BUSY_STATUSES), limit=1
        )
        if busy:
            return dg.SensorResult(
                skip_reason=f"run {busy[0].run_id} is still in progress",
                cursor=eligibility.dump_cursor(requested),
            )
        run_policy = policy()
        tick = eligibility.plan_tick(
            lambda: app_resources(context, app)[1], run_policy, requested, now=now, cooldown=cooldown
        )
        if not tick.ids:
            return dg.SensorResult(skip_reason=tick.skip_reason, cursor=tick.cursor)
        request = dg.RunRequest(
            run_key=eligibility.run_key(context.cursor, tick.ids),
            run_config=dg.RunConfig(ops={op_name: DeactivateStaleConfig.of(run_policy, tick.ids)}),
            tags={"rtk/stale_candidates": str(len(tick.ids)), "rtk/dry_run": str(run_policy.dry_run).lower()},
        )
        context.log.info(
            "requesting deactivation of %d of %d stale meeting(s)", len(tick.ids), tick.candidates
        )
        return dg.SensorResult(run_requests=[request], cursor=tick.cursor)

    return sensor
