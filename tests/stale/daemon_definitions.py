"""Code location for the daemon test: only the stale-meeting sensor (turned on by the component's
`stale.enabled`) and its job, with the component's resources, so nothing else the daemon could schedule
interferes with what the test watches."""

from __future__ import annotations

from dagster import Definitions

from dagster_defs.component import RealtimeKitComponent
from tests.support.names import STALE_JOB


def _stale_only() -> Definitions:
    component = RealtimeKitComponent.from_env()  # the shipped definitions, with the sensor turned on
    stale_on = component.stale.model_copy(update={"enabled": True})
    full = component.model_copy(update={"stale": stale_on}).build_defs()
    return Definitions(
        jobs=[j for j in full.jobs if j.name == STALE_JOB],
        sensors=list(full.sensors),
        resources=dict(full.resources),
    )


defs = _stale_only()
