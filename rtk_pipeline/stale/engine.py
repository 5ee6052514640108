"""Stale-meeting deactivation: find ACTIVE meetings nobody has touched for a while and PATCH them INACTIVE.

A wrong deactivation locks people out of their meeting room, so every step leans towards *not* acting:
candidates come from the warehouse view analysts see (`stale_candidates`), each one is re-read live and
skipped on any sign of activity since the sync, deny lists always win, a run deactivates at most N
meetings, and every decision lands in the `meeting_deactivations` audit table. The row for a PATCH is
written as `pending` before the request goes out and finalized after, so a run killed halfway leaves an
audit that tells the truth, and the next run resolves the pending row from the live state instead of
PATCHing again. No Dagster here: the CLI and the Dagster job both call `deactivate_stale`.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import (
    APIError,
    AuthError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    RetriableError,
    RTKError,
)
from rtk_pipeline.normalize import normalize_meetings, parse_timestamp
from rtk_pipeline.secrets import scrub_text
from rtk_pipeline.stale.candidates import Candidate, as_utc, find_candidates, freshness_problem, now_utc
from rtk_pipeline.stale.policy import (
    DEFAULT_MAX_DEACTIVATIONS,
    DEFAULT_MAX_SYNC_AGE_HOURS,
    DEFAULT_STALE_AFTER_DAYS,
    Outcome,
    StalePolicy,
)
from rtk_pipeline.store import Deactivation, DeactivationLog
from rtk_pipeline.sync import check_same_app

log = logging.getLogger(__name__)

# A run stops (leaving the rest for the next tick) once the client has seen this many 429s, or after this
# many API failures in a row: hammering a throttled or broken API only extends the lockout.
THROTTLED_STOP_AFTER = 3
FAILURES_STOP_AFTER = 3
# The only body ever sent. Users cannot join an INACTIVE meeting; nothing else about it may change.
PATCH_BODY: Mapping[str, str] = {"status": "INACTIVE"}
# Live records written into `meetings` per upsert (each rewrites Parquet day files): a deactivation shows
# in the table within this many decisions, and at the latest when the run ends.
REFRESH_BATCH = 10
_ERROR_MAX_CHARS = 500

# The audit row a decision produces.
Decision = Deactivation


class WarehouseNotFreshError(RetriableError):
    """The warehouse is too old to judge staleness from (sync, then try again); the message says which."""


def _error_text(exc: BaseException) -> str:
    """What goes into the audit: the typed error's message (method, path, status), secrets redacted."""
    text = str(exc) if isinstance(exc, RTKError) else f"{type(exc).__name__}: {exc}"
    return scrub_text(text, _ERROR_MAX_CHARS) or ""


class _Run:
    """State of one deactivation run: counters, the audit buffer, and the stop condition."""

    def __init__(
        self,
        client: RealtimeKitClient,
        warehouse: DeactivationLog,
        policy: StalePolicy,
        run_id: str,
        as_of: datetime,
    ) -> None:
        self.client = client
        self.warehouse = warehouse
        self.policy = policy
        self.run_id = run_id
        self.as_of = as_of
        self.cutoff = as_of - timedelta(days=policy.stale_after_days)
        self.decisions: list[Decision] = []
        self.buffer: list[Decision] = []  # new rows not yet written
        self.finals: list[Decision] = []  # outcomes of written pending rows not yet written
        self.deactivations = 0
        self.failures_in_a_row = 0
        self.stop: tuple[Outcome, str] | None = None
        self.throttled_at_start = client.stats.throttled
        self.refresh: dict[str, dict] = {}  # live meeting records the `meetings` table should get

    # -- audit -------------------------------------------------------------------------------------
    def decide(
        self,
        candidate: Candidate,
        decision: Outcome,
        *,
        detail: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> Decision:
        row = Decision(
            meeting_id=candidate.meeting_id,
            title=candidate.title,
            last_activity_at=candidate.last_activity_at,
            threshold_days=self.policy.stale_after_days,
            decision=decision,
            dry_run=self.policy.dry_run,
            http_status=http_status,
            error=error,
            detail=detail,
            decided_at=now_utc(),
            run_id=self.run_id,
            as_of=self.as_of,
        )
        self.decisions.append(row)
        if decision != Outcome.PENDING:
            self.buffer.append(row)
        return row

    def flush(self, pending: Decision | None = None) -> None:
        """One audit transaction: outcomes of earlier attempts, buffered decisions, and the pending row of
        the PATCH about to be sent (which must be on disk before the request leaves).

        An outcome waits here at most until the next PATCH or the end of the run; a run killed in
        between leaves its row pending, and the next run settles it from the meeting's live status.
        """
        rows = [*self.buffer, *([pending] if pending else [])]
        self.warehouse.record_deactivations(rows, self.finals)
        self.buffer.clear()
        self.finals.clear()

    def finalize(
        self,
        pending: Decision,
        decision: Outcome,
        *,
        detail: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> None:
        """Settle the pending row of an attempt (same attempt_id); written with the next flush."""
        final = dataclasses.replace(
            pending,
            decision=decision,
            detail=detail,
            http_status=http_status,
            error=error,
            decided_at=now_utc(),
        )
        self.decisions[self.decisions.index(pending)] = final
        self.finals.append(final)

    # -- API bookkeeping ---------------------------------------------------------------------------
    def api_failed(self, exc: APIError | None = None) -> None:
        self.failures_in_a_row += 1
        if isinstance(exc, RateLimitedError):
            self.stop = (
                Outcome.SKIP_THROTTLED,
                "stopped early: the API kept answering 429; left for the next tick",
            )
        elif isinstance(exc, AuthError):
            self.stop = (Outcome.SKIP_UNHEALTHY, "stopped early: the API rejected the credentials")
        elif self.failures_in_a_row >= FAILURES_STOP_AFTER:
            self.stop = (
                Outcome.SKIP_UNHEALTHY,
                f"stopped early after {self.failures_in_a_row} API failures in a row",
            )

    def api_ok(self) -> None:
        """A meeting was judged end to end: the failure streak (counted per meeting, not per request)
        is broken."""
        self.failures_in_a_row = 0

    def check_throttle(self) -> None:
        if (
            self.stop is None
            and self.client.stats.throttled - self.throttled_at_start >= THROTTLED_STOP_AFTER
        ):
            self.stop = (
                Outcome.SKIP_THROTTLED,
                "stopped early: the API answered 429 repeatedly; left for the next tick",
            )

    def refresh_warehouse(self, *, at_least: int = 1) -> None:
        """Write the live meeting records seen so far into `meetings` (PATCH answers included), so the
        table shows a deactivation without waiting for the next sync. Batched (`at_least`): each write
        rewrites Parquet day files. A failure is logged, not raised: the PATCHes stand, and the next sync
        or run (which sees the live status) repairs the rows.
        """
        if len(self.refresh) < at_least:
            return
        records, self.refresh = list(self.refresh.values()), {}
        try:
            normalized = normalize_meetings(records, synced_at=now_utc())
            if normalized.rejected.num_rows:
                log.warning("%d live meeting record(s) rejected by normalize", normalized.rejected.num_rows)
            if normalized.batch.num_rows:
                self.warehouse.upsert_meetings(normalized.batch)
        except Exception as exc:
            log.error("meetings table not updated with %d live record(s): %s", len(records), _error_text(exc))

    # -- one candidate -----------------------------------------------------------------------------
    def live_check(self, candidate: Candidate) -> tuple[Outcome, str | APIError] | dict:
        """Re-read the meeting and its participants; a (decision, detail) to skip, or the live record."""
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError as exc:
            self.api_failed(exc)
            return Outcome.FAILED, exc
        status = live.get("status")
        if status != "ACTIVE":
            self.refresh[candidate.meeting_id] = live
            return Outcome.SKIP_NOT_ACTIVE, f"live status is {status!r}"
        snapshot = candidate.updated_at or candidate.last_activity_at
        try:
            live_updated = parse_timestamp(live.get("updated_at"))
        except (TypeError, ValueError):
            return Outcome.SKIP_UNVERIFIABLE, "live updated_at is missing or unparseable"
        if live_updated > snapshot or live_updated >= self.cutoff:
            self.refresh[candidate.meeting_id] = live
            return (
                Outcome.SKIP_CHANGED,
                f"live updated_at {live_updated:%Y-%m-%dT%H:%M:%SZ} is newer than the snapshot",
            )
        # Adding or editing a participant does not have to touch the meeting's updated_at, and old
        # partitions are not re-synced daily: one listing (usually one request) per meeting that is
        # about to be locked is cheap insurance against deactivating a room someone was just invited to.
        try:
            latest = None
            for page in self.client.iter_participant_pages(candidate.meeting_id):
                for record in page.records:
                    for key in ("created_at", "updated_at"):
                        if record.get(key) is not None:
                            ts = parse_timestamp(record[key])
                            latest = ts if latest is None or ts > latest else latest
        except APIError as exc:
            self.api_failed(exc)
            return Outcome.FAILED, exc
        except (TypeError, ValueError):
            return Outcome.SKIP_UNVERIFIABLE, "a participant timestamp is unparseable"
        if latest is not None and (latest > candidate.last_activity_at or latest >= self.cutoff):
            return Outcome.SKIP_PARTICIPANTS, f"live participant activity at {latest:%Y-%m-%dT%H:%M:%SZ}"
        return live

    def process(self, candidate: Candidate) -> None:
        screened = self.policy.screen(candidate.meeting_id, candidate.title)
        if screened:
            self.decide(candidate, screened[0], detail=screened[1])
            return
        if self.stop:
            self.decide(candidate, self.stop[0], detail=self.stop[1])
            return
        if self.deactivations >= self.policy.max_deactivations:
            self.decide(
                candidate, Outcome.SKIP_CAP, detail=f"cap of {self.policy.max_deactivations} per run reached"
            )
            return
        outcome = self.live_check(candidate)
        self.check_throttle()
        if isinstance(outcome, tuple):
            decision, why = outcome
            if isinstance(why, APIError):
                self.decide(candidate, decision, http_status=why.status, error=_error_text(why))
            else:
                self.api_ok()
                self.decide(candidate, decision, detail=why)
            return
        if self.policy.dry_run:
            self.api_ok()
            self.deactivations += 1
            self.decide(candidate, Outcome.WOULD_DEACTIVATE, detail="dry run: no PATCH sent")
            return
        self.patch(candidate)
        self.check_throttle()

    def patch(self, candidate: Candidate) -> None:
        pending = self.decide(candidate, Outcome.PENDING, detail="PATCH about to be sent")
        self.flush(pending)
        try:
            response = self.client.update_meeting(candidate.meeting_id, dict(PATCH_BODY))
        except APIError as exc:
            self.api_failed(exc)
            if exc.refused:  # a 4xx answer: the PATCH was certainly not applied
                self.finalize(pending, Outcome.FAILED, http_status=exc.status, error=_error_text(exc))
                return
            # 5xx, a dropped connection or a garbled 2xx: the PATCH may have been applied. Look.
            self.confirm_after_error(candidate, pending, exc)
            return
        self.api_ok()
        if response.get("id") != candidate.meeting_id or response.get("status") != "INACTIVE":
            self.api_failed()
            self.finalize(
                pending,
                Outcome.FAILED,
                http_status=200,
                error=f"PATCH answered id={response.get('id')!r} status={response.get('status')!r}",
            )
            return
        self.deactivations += 1
        self.refresh[candidate.meeting_id] = response
        self.finalize(pending, Outcome.DEACTIVATED, http_status=200, detail="PATCH confirmed status INACTIVE")

    def confirm_after_error(self, candidate: Candidate, pending: Decision, exc: APIError) -> None:
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError:
            self.finalize(pending, Outcome.FAILED, http_status=exc.status, error=_error_text(exc))
            return
        if live.get("status") == "INACTIVE":
            self.deactivations += 1
            self.refresh[candidate.meeting_id] = live
            detail = "PATCH answer lost; a GET confirmed status INACTIVE"
            self.finalize(pending, Outcome.DEACTIVATED, http_status=200, detail=detail)
            return
        self.finalize(pending, Outcome.FAILED, http_status=exc.status, error=_error_text(exc))

    # -- pending rows left by a killed run ---------------------------------------------------------
    def resolve_pending(self) -> set[str]:
        """Finalize pending rows of earlier runs from the live state; ids that could not be resolved.

        The run lock guarantees no other run is mid-PATCH, so a pending row here is from a run that
        died between writing it and finalizing it: INACTIVE now means its PATCH landed (never send
        another); ACTIVE means it did not, and the meeting is judged again in this run.
        """
        unresolved = set()
        for pending in self.warehouse.pending_deactivations():
            self.decisions.append(pending)
            try:
                live = self.client.get_meeting(pending.meeting_id)
            except APIError as exc:
                self.api_failed(exc)
                if isinstance(exc, NotFoundError):
                    self.finalize(pending, Outcome.FAILED, http_status=404, error=_error_text(exc))
                else:
                    unresolved.add(pending.meeting_id)
                    self.decisions.remove(pending)
                continue
            self.api_ok()
            if live.get("status") == "INACTIVE":
                self.refresh[pending.meeting_id] = live
                detail = f"run interrupted after the PATCH; run {self.run_id} saw status INACTIVE"
                self.finalize(pending, Outcome.DEACTIVATED, http_status=200, detail=detail)
            else:
                self.finalize(
                    pending,
                    Outcome.FAILED,
                    http_status=200,
                    error="run interrupted before the PATCH took effect "
                    f"(live status {live.get('status')!r}); will be retried",
                )
        self.flush()
        self.refresh_warehouse()  # before candidates are read: resolved meetings are not judged again
        return unresolved


def deactivate_stale(
    client: RealtimeKitClient,
    warehouse: DeactivationLog,
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
    check_same_app(client, warehouse)
    run = _Run(client, warehouse, policy, run_id or uuid.uuid4().hex, as_of)
    with warehouse.lock("deactivate"):
        warehouse.ensure_schema()  # an older warehouse file may predate the audit table
        problem = freshness_problem(warehouse, max_sync_age_hours=policy.max_sync_age_hours)
        if problem:
            raise WarehouseNotFreshError(problem)
        unresolved = set() if policy.dry_run else run.resolve_pending()
        candidates = find_candidates(warehouse, stale_after_days=policy.stale_after_days, as_of=as_of)
        if candidate_ids is not None:
            wanted = list(dict.fromkeys(candidate_ids))
            by_id = {c.meeting_id: c for c in candidates}
            snapshots = warehouse.meeting_snapshots([i for i in wanted if i not in by_id])
            for meeting_id in wanted:
                if meeting_id not in by_id:
                    snap = snapshots.get(meeting_id) or Candidate(meeting_id, None, None, None, None)
                    run.decide(
                        snap, Outcome.SKIP_NOT_STALE, detail="not a stale ACTIVE meeting in the warehouse now"
                    )
            candidates = [by_id[i] for i in wanted if i in by_id]
        try:
            for candidate in candidates:
                if candidate.meeting_id in unresolved:
                    run.decide(
                        candidate, Outcome.SKIP_PENDING, detail="an earlier attempt is still unresolved"
                    )
                    continue
                run.process(candidate)
                run.refresh_warehouse(at_least=REFRESH_BATCH)
        finally:
            run.flush()
            run.refresh_warehouse()
    log.info("deactivate_stale run %s: %s", run.run_id, summarize(run.decisions))
    return run.decisions


def summarize(decisions: Iterable[Decision]) -> dict[str, int]:
    """Decision -> count, for logs, Dagster metadata and the CLI footer."""
    return dict(Counter(d.decision for d in decisions))
