"""Stale-meeting deactivation: `policy` says what may be done (its RTK_STALE_* variables declared in
`rtk_pipeline.settings`), `candidates` reads what the warehouse says, `engine` does it over a `Store`
(with `audit`, `live`, `settle` and `health`), and `eligibility` says what a scheduler should request when."""

from rtk_pipeline.errors import DeactivationBusyError
from rtk_pipeline.stale.audit import Decision
from rtk_pipeline.stale.candidates import Candidate, find_candidates, freshness_problem, latest_decisions
from rtk_pipeline.stale.eligibility import SensorSettings, Tick, plan_tick
from rtk_pipeline.stale.engine import (
    WarehouseNotFreshError,
    deactivate_stale,
    summarize,
)
from rtk_pipeline.stale.health import FAILURES_STOP_AFTER, THROTTLED_STOP_AFTER
from rtk_pipeline.stale.live import PATCH_BODY, REFRESH_BATCH
from rtk_pipeline.stale.policy import (
    DEFAULT_MAX_DEACTIVATIONS,
    DEFAULT_MAX_SYNC_AGE_HOURS,
    DEFAULT_STALE_AFTER_DAYS,
    RETRY_SOON,
    Outcome,
    StalePolicy,
)

# The decisions by their short names (`stale.DEACTIVATED`), as callers have always used them.
DEACTIVATED = Outcome.DEACTIVATED
WOULD_DEACTIVATE = Outcome.WOULD_DEACTIVATE
FAILED = Outcome.FAILED
PENDING = Outcome.PENDING
SKIP_DENIED = Outcome.SKIP_DENIED
SKIP_NOT_ALLOWED = Outcome.SKIP_NOT_ALLOWED
SKIP_NOT_STALE = Outcome.SKIP_NOT_STALE
SKIP_NOT_ACTIVE = Outcome.SKIP_NOT_ACTIVE
SKIP_CHANGED = Outcome.SKIP_CHANGED
SKIP_PARTICIPANTS = Outcome.SKIP_PARTICIPANTS
SKIP_UNVERIFIABLE = Outcome.SKIP_UNVERIFIABLE
SKIP_CAP = Outcome.SKIP_CAP
SKIP_THROTTLED = Outcome.SKIP_THROTTLED
SKIP_UNHEALTHY = Outcome.SKIP_UNHEALTHY
SKIP_PENDING = Outcome.SKIP_PENDING

__all__ = [
    "DEACTIVATED",
    "DEFAULT_MAX_DEACTIVATIONS",
    "DEFAULT_MAX_SYNC_AGE_HOURS",
    "DEFAULT_STALE_AFTER_DAYS",
    "FAILED",
    "FAILURES_STOP_AFTER",
    "PATCH_BODY",
    "PENDING",
    "REFRESH_BATCH",
    "RETRY_SOON",
    "SKIP_CAP",
    "SKIP_CHANGED",
    "SKIP_DENIED",
    "SKIP_NOT_ACTIVE",
    "SKIP_NOT_ALLOWED",
    "SKIP_NOT_STALE",
    "SKIP_PARTICIPANTS",
    "SKIP_PENDING",
    "SKIP_THROTTLED",
    "SKIP_UNHEALTHY",
    "SKIP_UNVERIFIABLE",
    "THROTTLED_STOP_AFTER",
    "WOULD_DEACTIVATE",
    "Candidate",
    "DeactivationBusyError",
    "Decision",
    "Outcome",
    "SensorSettings",
    "StalePolicy",
    "Tick",
    "WarehouseNotFreshError",
    "deactivate_stale",
    "find_candidates",
    "freshness_problem",
    "latest_decisions",
    "plan_tick",
    "summarize",
]
