"""The run's side of the `meeting_deactivations` audit: every decision as a row, buffered and written in
one transaction per flush, with the pending row of a PATCH on disk before the request leaves."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rtk_pipeline.errors import RTKError
from rtk_pipeline.secrets import scrub_text
from rtk_pipeline.stale.candidates import Candidate
from rtk_pipeline.stale.policy import Outcome, StalePolicy
from rtk_pipeline.store import Deactivation, DeactivationLog
from rtk_pipeline.utc import now_utc

_ERROR_MAX_CHARS = 500

# The audit row a decision produces.
Decision = Deactivation


def error_text(exc: BaseException) -> str:
    """What goes into the audit: the typed error's message (method, path, status), secrets redacted."""
    text = str(exc) if isinstance(exc, RTKError) else f"{type(exc).__name__}: {exc}"
    return scrub_text(text, _ERROR_MAX_CHARS) or ""


class Audit:
    """The decisions of one run (what `deactivate_stale` returns) and the rows not yet written."""

    def __init__(self, store: DeactivationLog, policy: StalePolicy, run_id: str, as_of: datetime) -> None:
        self.store = store
        self.policy = policy
        self.run_id = run_id
        self.as_of = as_of
        self.decisions: list[Decision] = []
        self._new: list[Decision] = []  # new rows not yet written
        self._finals: list[Decision] = []  # outcomes of written pending rows not yet written

    def decide(
        self,
        candidate: Candidate,
        decision: Outcome,
        *,
        detail: str | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> Decision:
        """Record a decision; a PENDING one is written by `flush(pending=...)`, the rest by any flush."""
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
            self._new.append(row)
        return row

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
        self._finals.append(final)

    def flush(self, pending: Decision | None = None) -> None:
        """One audit transaction: outcomes of earlier attempts, buffered decisions, and the pending row of
        the PATCH about to be sent (which must be on disk before the request leaves).

        An outcome waits here at most until the next PATCH or the end of the run; a run killed in
        between leaves its row pending, and the next run settles it from the meeting's live status.
        """
        rows = [*self._new, *([pending] if pending else [])]
        self.store.record_deactivations(rows, self._finals)
        self._new.clear()
        self._finals.clear()
