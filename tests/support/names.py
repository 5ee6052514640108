"""What the project's own definitions (one `RealtimeKitComponent`, the app from the environment) are
called in Dagster: the names a user sees in the UI and passes to `dagster job execute`."""

from __future__ import annotations

from dagster import AssetKey

MEETINGS = AssetKey(["realtimekit", "default", "meetings"])
PARTICIPANTS = AssetKey(["realtimekit", "default", "participants"])
VIEWS = AssetKey(["realtimekit", "analyst_views"])
# asset key as the UI writes it, and as a step key
M, P, V = (k.to_user_string() for k in (MEETINGS, PARTICIPANTS, VIEWS))
M_STEP, P_STEP = MEETINGS.to_python_identifier(), PARTICIPANTS.to_python_identifier()

SYNC_JOB = "realtimekit_default_sync_job"
CHECKS_JOB = "realtimekit_default_checks_job"
FRESHNESS_JOB = "realtimekit_default_freshness_job"
STALE_JOB = "realtimekit_default_deactivate_stale_job"
STALE_OP = "realtimekit_default_deactivate_stale_meetings"
STALE_SENSOR = "realtimekit_default_stale_sensor"
DAILY_SCHEDULE = "realtimekit_default_daily_sync"
REFRESH_JOB = "realtimekit_default_refresh_job"
REFRESH_OP = "realtimekit_default_refresh"
REFRESH_SCHEDULE = "realtimekit_default_daily_refresh"
FRESHNESS_SCHEDULE = "realtimekit_default_freshness"
API_RESOURCE = "realtimekit_default_api"
WAREHOUSE_RESOURCE = "realtimekit_warehouse"
