"""The refresh run: meetings first, then participants, never more than the budget's requests (every
attempt counted where it leaves, retries included: budget.RequestCap)."""

from __future__ import annotations

import contextlib

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError, PagingError, RefreshFailedError
from rtk_pipeline.refresh import cost
from rtk_pipeline.refresh.budget import BudgetSpent, RequestCap
from rtk_pipeline.refresh.cycle import cycle
from rtk_pipeline.refresh.meetings import MeetingsOutcome, refresh_meetings
from rtk_pipeline.refresh.participants import ParticipantsOutcome, refresh_participants
from rtk_pipeline.refresh.report import RefreshPlan, RefreshReport
from rtk_pipeline.settings import DEFAULT_WORKERS, RefreshSettings
from rtk_pipeline.store import RefreshStore
from rtk_pipeline.sync import check_same_app
from rtk_pipeline.utc import now_utc

JOB = "refresh"


def _budget(max_requests: int | None, settings: RefreshSettings) -> int:
    budget = settings.default_budget if max_requests is None else max_requests
    if budget < 1:
        raise ValueError(f"max_requests must be >= 1, got {budget}")
    return budget


def refresh(
    client: RealtimeKitClient,
    store: RefreshStore,
    *,
    max_requests: int | None = None,
    settings: RefreshSettings | None = None,
) -> RefreshReport:
    """Refresh meetings and the due meetings' participants, sending at most `max_requests` requests
    (retries included; default `settings.default_budget`). One refresh of an app and warehouse at a time
    (the store's "refresh" lock). Raises RefreshFailedError when a request failed for good; what the run
    replaced before stays, the rest keeps what was stored."""
    settings = settings or RefreshSettings.from_env()
    budget = _budget(max_requests, settings)
    check_same_app(client, store)
    store.ensure_schema()
    with store.lock(JOB):
        cap = RequestCap(client.rate_limiter, budget)
        before = client.stats.snapshot()
        meetings, participants = MeetingsOutcome(), ParticipantsOutcome()
        try:
            with client.paced_by(cap):
                with contextlib.suppress(BudgetSpent):  # a window not finished is listed again next run
                    meetings = refresh_meetings(client, store, cost.states(store.meeting_states()), cap)
                stored = cost.states(store.meeting_states())
                participants = refresh_participants(client, store, stored, cap, workers=DEFAULT_WORKERS)
        except (APIError, PagingError) as exc:
            raise RefreshFailedError(_one_line(exc)) from exc
        requests = (client.stats.snapshot() - before).requests
    return _report(store, settings, budget, requests, meetings, participants)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _report(
    store: RefreshStore,
    settings: RefreshSettings,
    budget: int,
    requests: int,
    meetings: MeetingsOutcome,
    participants: ParticipantsOutcome,
) -> RefreshReport:
    stored = cost.states(store.meeting_states())
    return RefreshReport(
        meetings_listed=meetings.listed,
        meetings_changed=meetings.changed,
        meetings_added=meetings.added,
        meetings_refreshed=participants.refreshed,
        participants_added=participants.added,
        participants_removed=participants.removed,
        requests=requests,
        budget=budget,
        active_meetings=sum(1 for m in stored if m.active),
        active_behind=cost.behind(stored, now_utc(), settings.participants_max_age_days),
        oldest_active_sync=cost.oldest_active_sync(stored),
        changed_days=tuple(sorted(meetings.days | participants.days)),
    )


def plan(
    store: RefreshStore,
    *,
    max_requests: int | None = None,
    settings: RefreshSettings | None = None,
) -> RefreshPlan:
    """What a full cycle needs at this budget, from the warehouse alone: sends nothing, writes nothing."""
    settings = settings or RefreshSettings.from_env()
    budget = _budget(max_requests, settings)
    stored = cost.states(store.meeting_states())
    full = cycle(stored, budget)
    return RefreshPlan(
        active_meetings=sum(1 for m in stored if m.active),
        active_behind=cost.behind(stored, now_utc(), settings.participants_max_age_days),
        cycle_requests=full.requests,
        cycle_runs=full.runs,
        budget=budget,
        oldest_active_sync=cost.oldest_active_sync(stored),
    )
