"""The stale sensor's cursor, kept short for the sensor's page: one line per tick that requested meetings,
`2026-12-07T01:00:00+00:00 3f9a0c12de 81b2... `, each meeting as a 10-character digest of its id rather
than the library's JSON object of full ids with a timestamp each (which filled the page and pushed the
tick history out of view).

The cursor only answers "was this meeting requested within the cool-down?", which a digest answers as well
as the id: two ids sharing a digest (about one in a million million) would only hold one of them back for a
cool-down, the safe side. `Requested` lets the library's `plan_tick` look meetings up by id in it. A cursor
stored in the library's form (by an earlier release) still reads.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import datetime

from rtk_pipeline.stale import eligibility

DIGEST_CHARS = 10
_DIGEST = re.compile(rf"^[0-9a-f]{{{DIGEST_CHARS}}}$")


def digest(meeting_id: str) -> str:
    """The meeting's key in the cursor (a key that already is one stays as it is)."""
    if _DIGEST.match(meeting_id):
        return meeting_id
    return hashlib.sha256(meeting_id.encode()).hexdigest()[:DIGEST_CHARS]


class Requested(Mapping[str, datetime]):
    """When each meeting was requested, by digest; looked up by meeting id or by digest."""

    def __init__(self, by_digest: Mapping[str, datetime]) -> None:
        self._at = {digest(key): at for key, at in by_digest.items()}

    def __getitem__(self, key: str) -> datetime:
        return self._at[digest(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and digest(key) in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def pack(library_cursor: str) -> str:
    """The library's cursor as lines of "<time requested> <digest> <digest> ...", oldest first."""
    by_time: dict[datetime, set[str]] = defaultdict(set)
    for key, at in eligibility.load_cursor(library_cursor).items():
        by_time[at.replace(microsecond=0)].add(digest(key))
    return "\n".join(f"{at.isoformat()} {' '.join(sorted(keys))}" for at, keys in sorted(by_time.items()))


def unpack(stored: str | None) -> Requested:
    """The requests a stored cursor holds; an unreadable one starts afresh, as the library's does."""
    if not stored or stored.lstrip().startswith("{"):
        return Requested(eligibility.load_cursor(stored))
    requested: dict[str, datetime] = {}
    try:
        for line in stored.splitlines():
            at, *keys = line.split()
            requested.update(dict.fromkeys(keys, datetime.fromisoformat(at)))
    except ValueError:
        return Requested({})
    return Requested(requested)
