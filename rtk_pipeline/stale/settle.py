"""Settling the pending audit rows a killed run left: the live status says whether its PATCH landed, so
the meeting is never PATCHed a second time for an attempt that already took effect."""

from __future__ import annotations

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError, NotFoundError
from rtk_pipeline.stale.audit import Audit, error_text
from rtk_pipeline.stale.health import ApiHealth
from rtk_pipeline.stale.live import LiveRecords
from rtk_pipeline.stale.policy import Outcome


def settle_pending(client: RealtimeKitClient, audit: Audit, health: ApiHealth, live: LiveRecords) -> set[str]:
    """Finalize pending rows of earlier runs from the live state; the ids that could not be settled.

    The run lock guarantees no other run is mid-PATCH, so a pending row here is from a run that died
    between writing it and finalizing it: INACTIVE now means its PATCH landed (never send another);
    ACTIVE means it did not, and the meeting is judged again in this run.
    """
    unsettled = set()
    for pending in audit.store.pending_deactivations():
        try:
            record = client.get_meeting(pending.meeting_id)
        except APIError as exc:
            health.failed(exc)
            if isinstance(exc, NotFoundError):
                audit.decisions.append(pending)
                audit.finalize(pending, Outcome.FAILED, http_status=404, error=error_text(exc))
            else:
                unsettled.add(pending.meeting_id)
            continue
        health.ok()
        audit.decisions.append(pending)
        if record.get("status") == "INACTIVE":
            live.saw(pending.meeting_id, record)
            detail = f"run interrupted after the PATCH; run {audit.run_id} saw status INACTIVE"
            audit.finalize(pending, Outcome.DEACTIVATED, http_status=200, detail=detail)
        else:
            audit.finalize(
                pending,
                Outcome.FAILED,
                http_status=200,
                error="run interrupted before the PATCH took effect "
                f"(live status {record.get('status')!r}); will be retried",
            )
    audit.flush()
    live.write()  # before candidates are read: settled meetings are not judged again
    return unsettled
