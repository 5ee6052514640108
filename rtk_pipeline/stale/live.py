"""The live side of one decision: re-read a candidate (meeting and participants) and skip it on any sign of
activity since the sync; PATCH it INACTIVE with the pending audit row on disk first; and write what was
seen live into `meetings`, so the table shows a deactivation without waiting for the next sync."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError
from rtk_pipeline.normalize import normalize_meetings, parse_timestamp
from rtk_pipeline.stale.audit import Audit, Decision, error_text
from rtk_pipeline.stale.candidates import Candidate
from rtk_pipeline.stale.health import ApiHealth
from rtk_pipeline.stale.policy import Outcome
from rtk_pipeline.store import DeactivationLog
from rtk_pipeline.utc import now_utc

log = logging.getLogger(__name__)

# The only body ever sent. Users cannot join an INACTIVE meeting; nothing else about it may change.
PATCH_BODY: Mapping[str, str] = {"status": "INACTIVE"}
# Live records written into `meetings` per upsert (each rewrites Parquet day files): a deactivation shows
# in the table within this many decisions, and at the latest when the run ends.
REFRESH_BATCH = 10

# A reason to skip a meeting: (decision, detail), or (FAILED, the API error) when it could not be read.
Skip = tuple[Outcome, str | APIError]


class LiveRecords:
    """Live meeting records seen in this run (GET and PATCH answers), waiting to be written to `meetings`."""

    def __init__(self, store: DeactivationLog) -> None:
        self._store = store
        self._records: dict[str, dict] = {}

    def saw(self, meeting_id: str, record: dict) -> None:
        self._records[meeting_id] = record

    def write(self, *, at_least: int = 1) -> None:
        """Upsert the records held once there are `at_least` of them (each write rewrites Parquet day
        files). A failure is logged, not raised: the PATCHes stand, and the next sync or run (which sees
        the live status) repairs the rows."""
        if len(self._records) < at_least:
            return
        records, self._records = list(self._records.values()), {}
        try:
            normalized = normalize_meetings(records, synced_at=now_utc())
            if normalized.rejected.num_rows:
                log.warning("%d live meeting record(s) rejected by normalize", normalized.rejected.num_rows)
            if normalized.batch.num_rows:
                self._store.upsert_meetings(normalized.batch)
        except Exception as exc:
            log.error("meetings table not updated with %d live record(s): %s", len(records), error_text(exc))


class Deactivator:
    """Checks candidates live and PATCHes them, recording each outcome in the audit."""

    def __init__(
        self,
        client: RealtimeKitClient,
        audit: Audit,
        health: ApiHealth,
        live: LiveRecords,
        cutoff: datetime,
    ) -> None:
        self.client = client
        self.audit = audit
        self.health = health
        self.live = live
        self.cutoff = cutoff
        self.deactivations = 0  # this run's, dry-run ones included: what the cap counts

    def check(self, candidate: Candidate) -> Skip | dict:
        """Re-read the meeting and its participants; a (decision, detail) to skip, or the live record."""
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError as exc:
            self.health.failed(exc)
            return Outcome.FAILED, exc
        status = live.get("status")
        if status != "ACTIVE":
            self.live.saw(candidate.meeting_id, live)
            return Outcome.SKIP_NOT_ACTIVE, f"live status is {status!r}"
        last_activity = candidate.last_activity_at
        if last_activity is None:  # `find_candidates` yields none such: nothing to compare with
            return Outcome.SKIP_UNVERIFIABLE, "the warehouse holds no last activity for it"
        snapshot = candidate.updated_at or last_activity
        try:
            live_updated = parse_timestamp(live.get("updated_at"))
        except (TypeError, ValueError):
            return Outcome.SKIP_UNVERIFIABLE, "live updated_at is missing or unparseable"
        if live_updated > snapshot or live_updated >= self.cutoff:
            self.live.saw(candidate.meeting_id, live)
            return (
                Outcome.SKIP_CHANGED,
                f"live updated_at {live_updated:%Y-%m-%dT%H:%M:%SZ} is newer than the snapshot",
            )
        try:
            latest = self._participant_activity(candidate.meeting_id)
        except APIError as exc:
            self.health.failed(exc)
            return Outcome.FAILED, exc
        except (TypeError, ValueError):
            return Outcome.SKIP_UNVERIFIABLE, "a participant timestamp is unparseable"
        if latest is not None and (latest > last_activity or latest >= self.cutoff):
            return Outcome.SKIP_PARTICIPANTS, f"live participant activity at {latest:%Y-%m-%dT%H:%M:%SZ}"
        return live

    def _participant_activity(self, meeting_id: str) -> datetime | None:
        """The latest participant created_at/updated_at, live.

        Adding or editing a participant does not have to touch the meeting's updated_at, and old
        partitions are not re-synced daily: one listing (usually one request) per meeting that is about
        to be locked is cheap insurance against deactivating a room someone was just invited to.
        """
        latest = None
        for page in self.client.iter_participant_pages(meeting_id):
            for record in page.records:
                for key in ("created_at", "updated_at"):
                    if record.get(key) is not None:
                        ts = parse_timestamp(record[key])
                        latest = ts if latest is None or ts > latest else latest
        return latest

    def patch(self, candidate: Candidate) -> None:
        """PATCH the meeting INACTIVE, its pending row written first, its outcome settled after."""
        pending = self.audit.decide(candidate, Outcome.PENDING, detail="PATCH about to be sent")
        self.audit.flush(pending)
        try:
            # Sent once: after a lost or unreadable answer a GET, not a second PATCH, says if it landed.
            response = self.client.update_meeting(candidate.meeting_id, dict(PATCH_BODY), resend_lost=False)
        except APIError as exc:
            self.health.failed(exc)
            if exc.refused:  # a 4xx answer: the PATCH was certainly not applied
                self.audit.finalize(pending, Outcome.FAILED, http_status=exc.status, error=error_text(exc))
                return
            # 5xx, a dropped connection or a garbled 2xx: the PATCH may have been applied. Look.
            self._confirm_after_error(candidate, pending, exc)
            return
        self.health.ok()
        if response.get("id") != candidate.meeting_id or response.get("status") != "INACTIVE":
            self.health.failed()
            self.audit.finalize(
                pending,
                Outcome.FAILED,
                http_status=200,
                error=f"PATCH answered id={response.get('id')!r} status={response.get('status')!r}",
            )
            return
        self.deactivations += 1
        self.live.saw(candidate.meeting_id, response)
        self.audit.finalize(
            pending, Outcome.DEACTIVATED, http_status=200, detail="PATCH confirmed status INACTIVE"
        )

    def _confirm_after_error(self, candidate: Candidate, pending: Decision, exc: APIError) -> None:
        """A GET decides whether a PATCH whose answer was an error or lost has landed."""
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError:
            self.audit.finalize(pending, Outcome.FAILED, http_status=exc.status, error=error_text(exc))
            return
        if live.get("status") == "INACTIVE":
            self.deactivations += 1
            self.live.saw(candidate.meeting_id, live)
            detail = "PATCH answer lost; a GET confirmed status INACTIVE"
            self.audit.finalize(pending, Outcome.DEACTIVATED, http_status=200, detail=detail)
            return
        self.audit.finalize(pending, Outcome.FAILED, http_status=exc.status, error=error_text(exc))
