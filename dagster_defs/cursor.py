"""The stale sensor's cursor as the UI shows it: one short line per tick that requested meetings,
`2026-12-07T01:00:00+00:00 <id> <id> ...`, instead of the library's JSON object with a timestamp per id,
which filled the sensor's page and pushed its tick history out of view.

The library keeps its own form (`rtk_pipeline.stale.eligibility.load_cursor`/`dump_cursor`); this only
packs it for storage and unpacks it on the next tick. A cursor stored in the library's form (by an earlier
release) still reads.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from rtk_pipeline.stale import eligibility


def pack(library_cursor: str) -> str:
    """The library's cursor as lines of "<time requested> <id> <id> ...", oldest first."""
    by_time: dict[datetime, list[str]] = defaultdict(list)
    for meeting_id, at in eligibility.load_cursor(library_cursor).items():
        by_time[at.replace(microsecond=0)].append(meeting_id)
    return "\n".join(f"{at.isoformat()} {' '.join(sorted(ids))}" for at, ids in sorted(by_time.items()))


def unpack(stored: str | None) -> str | None:
    """The stored cursor in the library's form; an unreadable one starts afresh, as the library's does."""
    if not stored or stored.lstrip().startswith("{"):
        return stored
    requested: dict[str, datetime] = {}
    try:
        for line in stored.splitlines():
            at, *ids = line.split()
            requested.update(dict.fromkeys(ids, datetime.fromisoformat(at)))
    except ValueError:
        return None
    return eligibility.dump_cursor(requested)
