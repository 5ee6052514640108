"""The one `Definitions` object of the code location (`workspace.yaml`, `[tool.dagster]`)."""

from __future__ import annotations

from dagster import Definitions

from dagster_defs.assets import rtk_analyst_views, rtk_meetings, rtk_participants
from dagster_defs.checks import all_checks
from dagster_defs.resources import resources_from_env
from dagster_defs.schedules import (
    rtk_checks_job,
    rtk_daily_sync_schedule,
    rtk_freshness_job,
    rtk_freshness_schedule,
    rtk_sync_job,
)
from dagster_defs.stale import deactivate_stale_meetings_job, stale_meetings_sensor


def build_defs() -> Definitions:
    """Everything, with resources read from the environment now (the demo calls this after pointing
    the environment at its emulator)."""
    return Definitions(
        assets=[rtk_meetings, rtk_participants, rtk_analyst_views],
        asset_checks=all_checks,
        jobs=[rtk_sync_job, rtk_checks_job, rtk_freshness_job, deactivate_stale_meetings_job],
        schedules=[rtk_daily_sync_schedule, rtk_freshness_schedule],
        sensors=[stale_meetings_sensor],
        resources=resources_from_env(),
    )


defs = build_defs()
