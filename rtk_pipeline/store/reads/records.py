"""Named reads that the sync and stale-meeting deactivation need, each confined to the store's app
(`app_id = ?`): meeting ids of two apps may collide. The same SQL serves both backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from rtk_pipeline.schemas import DEACTIVATIONS_SCHEMA, PARTICIPANTS_SCHEMA
from rtk_pipeline.store.reads.base import BaseReads
from rtk_pipeline.store.records import Deactivation, MeetingSnapshot
from rtk_pipeline.store.sqltext import as_days, days_sql, q
from rtk_pipeline.utc import as_utc

_SNAPSHOT = "meeting_id, title, status, updated_at, last_activity_at"
_AUDIT_COLUMNS = DEACTIVATIONS_SCHEMA.names


def _snapshot(row: Sequence[Any]) -> MeetingSnapshot:
    meeting_id, title, status, updated_at, last_activity_at = row
    return MeetingSnapshot(meeting_id, title, status, as_utc(updated_at), as_utc(last_activity_at))


class RecordReads(BaseReads):
    """What sync and the stale deactivation read: meetings by day or id, activity snapshots, the audit."""

    # -- sync ---------------------------------------------------------------------------------------------

    def meeting_ids_for_days(self, days: Iterable[date]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of the stored meetings created on those UTC days, oldest first."""
        wanted = as_days(days)
        if not wanted:
            return []
        return self._rows(
            f"SELECT id, created_day FROM meetings WHERE app_id = ? AND created_day IN ({days_sql(wanted)}) "
            "ORDER BY created_day, created_at, id",
            [self.app_id],
        )

    def meeting_days(self, meeting_ids: Sequence[str]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of those stored meetings, by id."""
        if not meeting_ids:
            return []
        return self._rows(
            "SELECT id, created_day FROM meetings WHERE app_id = ? AND list_contains(?, id) ORDER BY id",
            [self.app_id, list(meeting_ids)],
        )

    def stored_participants(self, meeting_ids: Sequence[str]) -> pa.Table:
        """The stored participants of these meetings, as they are (e.g. to keep them through a re-sync)."""
        columns = ", ".join(q(n) for n in PARTICIPANTS_SCHEMA.names)
        with self.connections.connection() as con:
            table = con.sql(
                f"SELECT {columns} FROM participants WHERE app_id = ? AND list_contains(?, meeting_id)",
                params=[self.app_id, list(meeting_ids)],
            ).to_arrow_table()
        return table.cast(PARTICIPANTS_SCHEMA) if table.num_rows else PARTICIPANTS_SCHEMA.empty_table()

    # -- stale deactivation ---------------------------------------------------------------------------------

    def stale_candidates(self, stale_after_days: int, as_of: datetime) -> list[MeetingSnapshot]:
        """The app's rows of the `stale_candidates(threshold_days, as_of)` macro analysts query, most stale
        first."""
        rows = self._rows(
            f"SELECT {_SNAPSHOT} FROM stale_candidates(?, ?) WHERE app_id = ? "
            "ORDER BY last_activity_at, meeting_id",
            [int(stale_after_days), as_of, self.app_id],
        )
        return [_snapshot(row) for row in rows]

    def meeting_snapshots(self, meeting_ids: Iterable[str]) -> dict[str, MeetingSnapshot]:
        """`meeting_last_activity` rows of those meetings (e.g. ones that are no longer candidates)."""
        ids = sorted(set(meeting_ids))
        if not ids:
            return {}
        rows = self._rows(
            f"SELECT {_SNAPSHOT} FROM meeting_last_activity "
            "WHERE app_id = ? AND list_contains(?, meeting_id)",
            [self.app_id, ids],
        )
        return {row[0]: _snapshot(row) for row in rows}

    def last_successful_syncs(self) -> dict[str, datetime]:
        """Table name -> when its latest successful sync finished."""
        rows = self._rows(
            "SELECT table_name, max(finished_at) FROM sync_runs WHERE app_id = ? AND outcome = 'success' "
            "GROUP BY table_name",
            [self.app_id],
        )
        return {table: as_utc(finished) for table, finished in rows}

    def latest_decisions(self, requested: Mapping[str, datetime]) -> dict[str, str]:
        """For each meeting id, its latest decision recorded at or after the given time (absent if none)."""
        if not requested:
            return {}
        ids = list(requested)
        rows = self._rows(
            "WITH req AS (SELECT unnest(?) AS meeting_id, unnest(?::TIMESTAMPTZ[]) AS since) "
            "SELECT d.meeting_id, arg_max(d.decision, d.decided_at) FROM meeting_deactivations d "
            "JOIN req ON d.meeting_id = req.meeting_id AND d.recorded_at >= req.since "
            "WHERE d.app_id = ? GROUP BY d.meeting_id",
            [ids, [as_utc(requested[i]) for i in ids], self.app_id],
            missing_ok=True,  # a warehouse that no deactivation run has touched yet
        )
        return dict(rows)

    def pending_deactivations(self) -> list[Deactivation]:
        """Audit rows still 'pending' (a run died between writing one and settling it), oldest first."""
        rows = self._rows(
            f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM meeting_deactivations "
            "WHERE app_id = ? AND decision = 'pending' ORDER BY recorded_at",
            [self.app_id],
        )
        return [_deactivation(dict(zip(_AUDIT_COLUMNS, row, strict=True))) for row in rows]


def _deactivation(row: dict[str, Any]) -> Deactivation:
    fields = {f.name for f in dataclasses.fields(Deactivation)}
    values: dict[str, Any] = {
        k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items() if k in fields
    }
    return Deactivation(**values)
