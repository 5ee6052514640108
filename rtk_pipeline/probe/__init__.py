"""`rtk-pipeline check`: probe a RealtimeKit account for what the API reference leaves out (page base, page
sizes, window field and bounds, order, status filter) and for read and write permission, without changing
anything.

    from rtk_pipeline.probe import run_check
    findings = run_check(client)          # at most 15 requests
    findings.as_json(), findings.exit_code()
"""

from __future__ import annotations

from rtk_pipeline.probe.findings import EMULATOR_DEFAULTS, KEYS, Findings
from rtk_pipeline.probe.probes import MAX_REQUESTS, NIL_MEETING_ID, run_check
from rtk_pipeline.probe.report import findings_table, verdict

__all__ = [
    "EMULATOR_DEFAULTS",
    "KEYS",
    "MAX_REQUESTS",
    "NIL_MEETING_ID",
    "Findings",
    "findings_table",
    "run_check",
    "verdict",
]
