"""Which stale meetings a scheduler (the Dagster sensor) should request a deactivation run for, and when.

Conservative about *when*: nothing while the warehouse is too old to judge or the cap is 0, and a meeting
requested within the cool-down is not requested again unless its last attempt failed or never happened.
The cursor remembers what was requested. No Dagster here: the sensor wraps `plan_tick`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rtk_pipeline import settings
from rtk_pipeline.errors import RTKError
from rtk_pipeline.settings import declared, load
from rtk_pipeline.stale.candidates import Candidate, find_candidates, freshness_problem, latest_decisions
from rtk_pipeline.stale.policy import RETRY_SOON, Outcome, StalePolicy
from rtk_pipeline.store import Store

DEFAULT_SENSOR_INTERVAL_S = settings.STALE_SENSOR_INTERVAL.default
DEFAULT_COOLDOWN_HOURS = settings.STALE_COOLDOWN_HOURS.default


@dataclass(frozen=True)
class SensorSettings:
    """The scheduler's RTK_STALE_* settings (the policy's are `StalePolicy`'s); off by default."""

    enabled: bool = declared(settings.STALE_SENSOR)
    interval_s: int = declared(settings.STALE_SENSOR_INTERVAL)
    cooldown_hours: float = declared(settings.STALE_COOLDOWN_HOURS)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SensorSettings:
        return load(cls, env)


def cooldown(env: Mapping[str, str] | None = None) -> timedelta:
    """RTK_STALE_COOLDOWN_HOURS, read when a tick starts."""
    return timedelta(hours=settings.STALE_COOLDOWN_HOURS.read(env))


def load_cursor(raw: str | None) -> dict[str, datetime]:
    """Cursor = {"requested": {meeting_id: ISO time requested}}; unreadable cursors start afresh."""
    if not raw:
        return {}
    try:
        return {k: datetime.fromisoformat(v) for k, v in json.loads(raw).get("requested", {}).items()}
    except (ValueError, AttributeError, TypeError):
        return {}


def dump_cursor(requested: Mapping[str, datetime]) -> str:
    return json.dumps({"requested": {k: v.isoformat() for k, v in sorted(requested.items())}})


def within_cooldown(
    requested: Mapping[str, datetime], now: datetime, cooldown: timedelta
) -> dict[str, datetime]:
    """The requests still inside the cool-down; older ones are forgotten (the meeting may be asked again)."""
    return {k: v for k, v in requested.items() if now - v < cooldown}


def eligible_ids(
    candidates: Sequence[Candidate], requested: Mapping[str, datetime], last: Mapping[str, str]
) -> list[str]:
    """Candidates never requested within the cool-down, or whose last decision since the request says
    "try again soon" (failed, left for later, or none recorded: the run never got to it)."""
    return [
        c.meeting_id
        for c in candidates
        if c.meeting_id not in requested or last.get(c.meeting_id, Outcome.PENDING) in RETRY_SOON
    ]


def run_key(cursor: str | None, ids: Sequence[str]) -> str:
    """The same request from the same cursor gets the same key, so a repeated tick is not run twice."""
    return "stale-" + hashlib.sha256((str(cursor) + "|" + ",".join(ids)).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Tick:
    """One evaluation's outcome: the ids to request (none with a `skip_reason`) and the cursor to keep."""

    ids: list[str]
    candidates: int
    cursor: str
    skip_reason: str | None = None


def plan_tick(
    open_store: Callable[[], Store],
    policy: StalePolicy,
    requested: Mapping[str, datetime],
    *,
    now: datetime,
    cooldown: timedelta,
) -> Tick:
    """What to request now. `requested` is the cursor's map already cut to the cool-down; the store is
    opened only when the policy can deactivate at all. A warehouse that cannot be read now (e.g. a long
    commit holds it) is a skip: the next tick tries again."""
    cursor = dump_cursor(requested)
    if policy.max_deactivations == 0:
        reason = "max_per_run (RTK_STALE_MAX_PER_RUN) is 0: deactivation is off"
        return Tick([], 0, cursor, reason)
    store = open_store()
    try:
        problem = freshness_problem(store, max_sync_age_hours=policy.max_sync_age_hours, now=now)
        if problem:
            return Tick([], 0, cursor, problem)
        candidates = find_candidates(store, stale_after_days=policy.stale_after_days, as_of=now)
        candidates = [c for c in candidates if policy.screen(c.meeting_id, c.title) is None]
        asked = {c.meeting_id: requested[c.meeting_id] for c in candidates if c.meeting_id in requested}
        last = latest_decisions(store, asked)
    except RTKError as exc:
        return Tick([], 0, cursor, f"warehouse not readable now: {exc}")
    eligible = eligible_ids(candidates, requested, last)
    if not eligible:
        reason = (
            f"{len(candidates)} stale candidate(s), all judged within the last {cooldown}"
            if candidates
            else f"no ACTIVE meeting without activity for {policy.stale_after_days} days"
        )
        return Tick([], len(candidates), cursor, reason)
    ids = eligible[: policy.max_deactivations]
    return Tick(ids, len(candidates), dump_cursor({**requested, **dict.fromkeys(ids, now)}))
