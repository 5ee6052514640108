"""What a refresh (issue 19) reads: every stored meeting with what the refresh orders and compares it by,
and where its windowed meetings listing stopped. The same SQL serves both backends."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from rtk_pipeline.store.reads.base import BaseReads
from rtk_pipeline.utc import as_utc

# The sync_runs table_name of a refresh's meetings window: its window_end is where the next run resumes.
REFRESH_WINDOW = "refresh_meetings"

_STATES = """
SELECT m.id, m.created_day, m.created_at, m.title, m.status, m.updated_at, m.participants_synced_at,
       coalesce(p.n, 0)::BIGINT AS participants
FROM meetings AS m
LEFT JOIN (SELECT meeting_id, count(*) AS n FROM participants WHERE app_id = $app GROUP BY meeting_id) AS p
       ON p.meeting_id = m.id
WHERE m.app_id = $app
ORDER BY m.created_at, m.id
"""


class RefreshReads(BaseReads):
    """The refresh's reads, confined to the store's app."""

    def meeting_states(self) -> pa.Table:
        """id, created_day, created_at, title, status, updated_at, participants_synced_at and stored
        participant count of every meeting of the app, oldest first."""
        with self.connections.connection() as con:
            return con.sql(_STATES, params={"app": self.app_id}).to_arrow_table()

    def refresh_cursor(self) -> datetime | None:
        """Where the windowed meetings listing resumes: the end of the last window a refresh completed
        (None: start from the oldest meeting)."""
        rows = self._rows(
            "SELECT window_end FROM sync_runs WHERE app_id = ? AND table_name = ? AND outcome = 'success' "
            "ORDER BY finished_at DESC LIMIT 1",
            [self.app_id, REFRESH_WINDOW],
        )
        return as_utc(rows[0][0]) if rows else None
