"""Stale-meeting deactivation: find ACTIVE meetings nobody has touched for a while and PATCH them INACTIVE.

A wrong deactivation locks people out of their meeting room, so every step leans towards *not* acting:
candidates come from the warehouse view analysts see (`stale_candidates`), each one is re-read live and
skipped on any sign of activity since the sync, deny lists always win, a run deactivates at most N
meetings, and every decision lands in the `meeting_deactivations` audit table. The row for a PATCH is
written as `pending` before the request goes out and finalized after, so a run killed halfway leaves an
audit that tells the truth, and the next run resolves the pending row from the live state instead of
PATCHing again. No Dagster here: the CLI and the Dagster job both call `deactivate_stale`.

This module runs one deactivation; its parts have their own: `audit` (the rows), `live` (the live check,
the PATCH and what the `meetings` table is told), `settle` (pending rows of a killed run), `health` (when
to stop early).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError, ConfigError, RetriableError
from rtk_pipeline.stale.audit import Audit, Decision, error_text
from rtk_pipeline.stale.candidates import Candidate, find_candidates, freshness_problem
from rtk_pipeline.stale.health import ApiHealth
from rtk_pipeline.stale.live import REFRESH_BATCH, Deactivator, LiveRecords
from rtk_pipeline.stale.policy import (
    DEFAULT_MAX_DEACTIVATIONS,
    DEFAULT_MAX_SYNC_AGE_HOURS,
    DEFAULT_STALE_AFTER_DAYS,
    Outcome,
    StalePolicy,
)
from rtk_pipeline.stale.settle import settle_pending
from rtk_pipeline.store import DeactivationLog
from rtk_pipeline.sync import check_same_app
from rtk_pipeline.utc import as_utc, now_utc

log = logging.getLogger(__name__)


class WarehouseNotFreshError(RetriableError):
    """The warehouse is too old to judge staleness from (sync, then try again); the message says which."""


class _Run:
    """One deactivation run: its parts, and the rule that takes one candidate to one decision."""

    def __init__(
        self,
        client: RealtimeKitClient,
        store: DeactivationLog,
        policy: StalePolicy,
        run_id: str,
        as_of: datetime,
    ) -> None:
        self.client = client
        self.store = store
        self.policy = policy
        self.audit = Audit(store, policy, run_id, as_of)
        self.health = ApiHealth(client)
        self.live = LiveRecords(store)
        cutoff = as_of - timedelta(days=policy.stale_after_days)
        self.deactivator = Deactivator(client, self.audit, self.health, self.live, cutoff)

    def candidates(self, candidate_ids: Sequence[str] | None) -> list[Candidate]:
        """The warehouse's stale meetings, or only the requested ones (requested ids that are not stale
        any more are audited as skipped)."""
        candidates = find_candidates(
            self.store, stale_after_days=self.policy.stale_after_days, as_of=self.audit.as_of
        )
        if candidate_ids is None:
            return candidates
        wanted = list(dict.fromkeys(candidate_ids))
        by_id = {c.meeting_id: c for c in candidates}
        snapshots = self.store.meeting_snapshots([i for i in wanted if i not in by_id])
        for meeting_id in wanted:
            if meeting_id not in by_id:
                snap = snapshots.get(meeting_id) or Candidate(meeting_id, None, None, None, None)
                self.audit.decide(
                    snap, Outcome.SKIP_NOT_STALE, detail="not a stale ACTIVE meeting in the warehouse now"
                )
        return [by_id[i] for i in wanted if i in by_id]

    def process(self, candidate: Candidate) -> None:
        """Screen, stop and cap first (no request); then the live check, and the PATCH unless a dry run."""
        policy, decide = self.policy, self.audit.decide
        screened = policy.screen(candidate.meeting_id, candidate.title)
        if screened:
            decide(candidate, screened[0], detail=screened[1])
            return
        if self.health.stop:
            decide(candidate, self.health.stop[0], detail=self.health.stop[1])
            return
        if self.deactivator.deactivations >= policy.max_deactivations:
            decide(candidate, Outcome.SKIP_CAP, detail=f"cap of {policy.max_deactivations} per run reached")
            return
        outcome = self.deactivator.check(candidate)
        self.health.check_throttle()
        if isinstance(outcome, tuple):
            decision, why = outcome
            if isinstance(why, APIError):
                decide(candidate, decision, http_status=why.status, error=error_text(why))
            else:
                self.health.ok()
                decide(candidate, decision, detail=why)
            return
        if policy.dry_run:
            self.health.ok()
            self.deactivator.deactivations += 1
            decide(candidate, Outcome.WOULD_DEACTIVATE, detail="dry run: no PATCH sent")
            return
        self.deactivator.patch(candidate)
        self.health.check_throttle()

    def judge(self, candidates: Iterable[Candidate], unsettled: set[str]) -> None:
        """Every candidate to a decision, the audit flushed and `meetings` refreshed even if one raises."""
        try:
            for candidate in candidates:
                if candidate.meeting_id in unsettled:
                    self.audit.decide(
                        candidate, Outcome.SKIP_PENDING, detail="an earlier attempt is still unresolved"
                    )
                    continue
                self.process(candidate)
                self.live.write(at_least=REFRESH_BATCH)
        finally:
            self.audit.flush()
            self.live.write()


def deactivate_stale(
    client: RealtimeKitClient,
    store: DeactivationLog,
    *,
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS,
    max_deactivations: int = DEFAULT_MAX_DEACTIVATIONS,
    dry_run: bool = False,
    allow_ids: Sequence[str] = (),
    allow_title_patterns: Sequence[str] = (),
    deny_ids: Sequence[str] = (),
    deny_title_patterns: Sequence[str] = (),
    candidate_ids: Sequence[str] | None = None,
    run_id: str | None = None,
    as_of: datetime | None = None,
    max_sync_age_hours: float | None = DEFAULT_MAX_SYNC_AGE_HOURS,
) -> list[Decision]:
    """Deactivate the warehouse's stale meetings, with guards; every decision is audited and returned.

    `candidate_ids` restricts the run to those meetings (the sensor's request); ids that are not
    stale in the warehouse any more are audited as skipped. `as_of` moves "now" for the staleness
    threshold only. Raises WarehouseNotFreshError when no recent successful sync backs the judgement,
    DeactivationBusyError when another run holds this warehouse.
    """
    policy = StalePolicy(
        stale_after_days=stale_after_days,
        max_deactivations=max_deactivations,
        dry_run=dry_run,
        allow_ids=tuple(allow_ids),
        allow_title_patterns=tuple(allow_title_patterns),
        deny_ids=tuple(deny_ids),
        deny_title_patterns=tuple(deny_title_patterns),
        max_sync_age_hours=max_sync_age_hours,
    )
    as_of = as_utc(as_of) or now_utc()
    if as_of > now_utc() + timedelta(minutes=5):
        # A future "now" would call meetings stale before they are: never an acceptable way to run.
        raise ConfigError(f"as_of {as_of:%Y-%m-%d %H:%M} UTC is in the future")
    check_same_app(client, store)
    run = _Run(client, store, policy, run_id or uuid.uuid4().hex, as_of)
    with store.lock("deactivate"):
        store.ensure_schema()  # an older warehouse file may predate the audit table
        problem = freshness_problem(store, max_sync_age_hours=policy.max_sync_age_hours)
        if problem:
            raise WarehouseNotFreshError(problem)
        unsettled = set() if policy.dry_run else settle_pending(client, run.audit, run.health, run.live)
        run.judge(run.candidates(candidate_ids), unsettled)
    log.info("deactivate_stale run %s: %s", run.audit.run_id, summarize(run.audit.decisions))
    return run.audit.decisions


def summarize(decisions: Iterable[Decision]) -> dict[str, int]:
    """Decision -> count, for logs, Dagster metadata and the CLI footer."""
    return dict(Counter(d.decision for d in decisions))
