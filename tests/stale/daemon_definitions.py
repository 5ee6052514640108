"""Code location for the daemon test: only the stale-meeting sensor and job, with the project's resources,
so nothing else the daemon could schedule interferes with what the test watches."""

from __future__ import annotations

from dagster import Definitions

from dagster_defs.resources import resources_from_env
from dagster_defs.stale import deactivate_stale_meetings_job, stale_meetings_sensor

defs = Definitions(
    jobs=[deactivate_stale_meetings_job], sensors=[stale_meetings_sensor], resources=resources_from_env()
)
