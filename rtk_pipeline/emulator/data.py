"""Mutable state of the emulated RealtimeKit app: the meetings and participants, and the queries and writes
the API needs (no HTTP here).

Meetings are stored column-wise (arrays of ints, one slot per meeting, see `generate`) so a million of them
fit in a few dozen MB; response dicts are built per request, and each meeting's list row is cached as JSON
bytes until the meeting changes. Two sorted indexes serve the lists: by (created_at, id) always, by
(updated_at, id) once an update-time order or window is first asked for. Participants of a generated
meeting are derived when first read and stored only once something changes them; a room's (see `rooms`)
are derived up to the arrivals cutoff, and a stored room still gains the arrivals after it.

Nothing here is thread-safe on its own: the emulator calls it under its one lock.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from array import array
from json.encoder import encode_basestring
from typing import Any

from rtk_pipeline.emulator.clock import DAY_MS, Clock, fmt_ms, to_ms
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.generate import (
    BOOL_FIELDS,
    F_INACTIVE,
    F_NEWER,
    TITLE_ABSENT,
    generate_meetings,
    generated_participants,
    newer_fields,
    recording_config,
    title_text,
)
from rtk_pipeline.emulator.index import Rows, Window, insert_sorted, remove_sorted, span
from rtk_pipeline.emulator.records import (
    ABSENT,
    LIST_FIELDS,
    M64,
    UUID_RE,
    WRITABLE,
    dumps,
    meeting_defaults,
    uuid4_int,
    uuid4_str,
)
from rtk_pipeline.emulator.rooms import apply_events, is_room, room_events

_HEXISH = re.compile(r"^[0-9a-f-]+$")


class EmulatorData:
    """All meetings and participants of the emulated app, with the queries and writes the API needs."""

    def __init__(self, cfg: EmulatorConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.end_ms = to_ms(cfg.resolved_end)
        self.start_ms = self.end_ms - cfg.days * DAY_MS
        self.version = 0  # bumped by every meeting write; keys the query cache
        self._rng = random.Random(f"{cfg.seed}:writes")  # ids and tokens of things created later
        self._docs: dict[int, dict] = {}  # full documents of meetings written since generation
        self._row_cache: dict[int, bytes] = {}
        self._query_cache: dict[tuple, tuple[int, Rows]] = {}
        self._participants_seen: dict[int, tuple[tuple, list[list]]] = {}  # generated, rebuilt at will
        self._participants_written: dict[int, list[list]] = {}  # authoritative once written
        self._written_upto: dict[int, int] = {}  # stored rooms: the cutoff their arrivals are applied to
        self._inactive: dict[int, list[list]] = {}  # generated meetings whose status was written: spans
        self._token_counter = 0
        cols = generate_meetings(cfg, self.start_ms, self.end_ms)
        self._id_hi, self._id_lo, self._created, self._updated = (
            cols.id_hi,
            cols.id_lo,
            cols.created,
            cols.updated,
        )
        self._flags, self._keep, self._title = cols.flags, cols.keep, cols.title
        n = self.n_generated = len(self._created)
        self._list_all = {s for s in range(n) if self._flags[s] & F_NEWER}  # list rows show every field
        self._c_keys = array("q", self._created)
        self._c_slots = array("l", range(n))
        self._u_index: tuple[array, array] | None = None  # (keys, slots) by updated_at, built when asked
        order = sorted(range(n), key=self._id_hi.__getitem__)
        self._ix_hi = array("Q", (self._id_hi[s] for s in order))
        self._ix_slots = array("l", order)

    # ---------------------------------------------------------------- meetings: reads

    def __len__(self) -> int:
        return len(self._created)

    def meeting_id(self, slot: int) -> str:
        return uuid4_str((self._id_hi[slot] << 64) | self._id_lo[slot])

    def slot_of(self, meeting_id: str) -> int | None:
        if not UUID_RE.match(meeting_id):
            return None
        x = int(meeting_id.replace("-", ""), 16)
        hi, lo = x >> 64, x & M64
        pos = bisect.bisect_left(self._ix_hi, hi)
        while pos < len(self._ix_hi) and self._ix_hi[pos] == hi:
            slot = self._ix_slots[pos]
            if self._id_lo[slot] == lo:
                return slot
            pos += 1
        return None

    def _base_row(self, slot: int) -> str:
        """The list endpoint's ten fields of a meeting not written since generation, as JSON text: written
        directly (the one place these fields are encoded) because cold list pages are built from it."""
        f = self._flags[slot]
        out = [
            f'{{"id":"{self.meeting_id(slot)}","created_at":"{fmt_ms(self._created[slot])}"'
            f',"updated_at":"{fmt_ms(self._updated[slot])}"'
        ]
        for k, name in enumerate(BOOL_FIELDS[:3]):
            if f & (1 << (2 * k)):
                out.append(f',"{name}":{"true" if f & (1 << (2 * k + 1)) else "false"}')
        if self._keep[slot]:
            out.append(f',"session_keep_alive_time_in_secs":{self._keep[slot]}')
        out.append(',"status":"INACTIVE"' if f & F_INACTIVE else ',"status":"ACTIVE"')
        if f & (1 << 6):
            out.append(f',"summarize_on_end":{"true" if f & (1 << 7) else "false"}')
        if self._title[slot] != TITLE_ABSENT:
            title = title_text(self._title[slot])
            out.append(',"title":' + ("null" if title is None else encode_basestring(title)))
        out.append("}")
        return "".join(out)

    def doc(self, slot: int) -> dict:
        """The full meeting as GET returns it (credentials included). Do not mutate the result."""
        written = self._docs.get(slot)
        if written is not None:
            return written
        f = self._flags[slot]
        rec = json.loads(self._base_row(slot))
        rec["recording_config"] = recording_config(slot, f)
        if f & F_NEWER:
            rec.update(newer_fields(slot))
        return rec

    def list_row(self, slot: int) -> bytes:
        """A meeting as the list endpoint returns it, as JSON bytes (cached until the meeting changes)."""
        row = self._row_cache.get(slot)
        if row is None:
            if len(self._row_cache) >= 250_000:
                self._row_cache.clear()
            written = self._docs.get(slot)
            if slot in self._list_all:
                row = dumps(self.doc(slot))
            elif written is not None:
                row = dumps({k: written[k] for k in LIST_FIELDS if k in written})
            else:
                row = self._base_row(slot).encode()
            self._row_cache[slot] = row
        return row

    def list_rows(self, slots: list[int]) -> bytes:
        """A JSON array of list rows."""
        cache = self._row_cache
        return b"[" + b",".join([cache.get(s) or self.list_row(s) for s in slots]) + b"]"

    def title_of(self, slot: int) -> str | None:
        written = self._docs.get(slot)
        if written is not None:
            return written.get("title")
        code = self._title[slot]
        return None if code == TITLE_ABSENT else title_text(code)

    def is_inactive(self, slot: int) -> bool:
        return bool(self._flags[slot] & F_INACTIVE)

    def created_ms(self, slot: int) -> int:
        return self._created[slot]

    def _id_key(self, slot: int) -> tuple[int, int]:
        return (self._id_hi[slot], self._id_lo[slot])

    def _updated_key(self, slot: int) -> tuple[int, int, int]:
        return (self._updated[slot], self._id_hi[slot], self._id_lo[slot])

    def _ensure_updated_index(self) -> tuple[array, array]:
        if self._u_index is None:
            order = sorted(range(len(self._created)), key=self._updated_key)
            self._u_index = (array("q", (self._updated[s] for s in order)), array("l", order))
        return self._u_index

    def _created_key(self, slot: int) -> tuple[int, int, int]:
        return (self._created[slot], self._id_hi[slot], self._id_lo[slot])

    def query(
        self,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        status: str | None = None,
        search: str | None = None,
        order: str = "created_desc",
        field: str = "created_at",
    ) -> Window | Rows:
        """Meetings with start_ms <= `field` <= end_ms (inclusive ms bounds) matching status and search
        (case-insensitive substring of id or title), in `order` (ties by id, in the same direction). A
        window served in the order of its own index comes straight from it; anything else is materialized
        once per data version."""
        by, _, direction = order.partition("_")
        ascending = direction == "asc"
        if start_ms is None and end_ms is None:
            field = f"{by}_at"  # no bounds: every meeting, so read the index of the order
        keys, slots = (self._c_keys, self._c_slots) if field == "created_at" else self._ensure_updated_index()
        window = Window(slots, *span(keys, start_ms, end_ms), ascending=ascending)
        in_index_order = field == f"{by}_at"
        if in_index_order and status is None and not search:
            return window
        key = (start_ms, end_ms, status, search, order, field)
        hit = self._query_cache.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        if in_index_order:
            rows: Any = window
        else:
            sort_key = self._created_key if by == "created" else self._updated_key
            rows = sorted(window, key=sort_key, reverse=not ascending)
        if status is not None:
            want = status == "INACTIVE"
            rows = [s for s in rows if bool(self._flags[s] & F_INACTIVE) == want]
        if search:
            needle = search.casefold()
            in_id = _HEXISH.match(needle) is not None  # else no id can contain it: skip formatting ids
            rows = [
                s
                for s in rows
                if (in_id and needle in self.meeting_id(s)) or needle in (self.title_of(s) or "").casefold()
            ]
        result = Rows(array("l", rows))
        if len(self._query_cache) >= 32:
            self._query_cache.pop(next(iter(self._query_cache)))
        self._query_cache[key] = (self.version, result)
        return result

    # ---------------------------------------------------------------- meetings: writes

    def _touch(self, slot: int) -> None:
        self.version += 1
        self._row_cache.pop(slot, None)

    def _set_updated(self, slot: int, updated_ms: int) -> None:
        if self._u_index is not None:
            remove_sorted(*self._u_index, self._updated[slot], slot)
            self._updated[slot] = updated_ms
            insert_sorted(*self._u_index, updated_ms, slot, self._id_key)
        else:
            self._updated[slot] = updated_ms

    def _sync_columns(self, slot: int, doc: dict) -> None:
        """Keep the columns the filters read (status, title is read from the doc) in step with a write."""
        if doc.get("status") == "INACTIVE":
            self._flags[slot] |= F_INACTIVE
        else:
            self._flags[slot] &= ~F_INACTIVE & 0xFFFF

    def _note_status(self, slot: int, doc: dict, when: int) -> None:
        """Remember when a generated meeting became INACTIVE or ACTIVE again: its room takes no arrivals
        in between. Read before the columns change."""
        inactive = doc.get("status") == "INACTIVE"
        if slot >= self.n_generated or inactive == self.is_inactive(slot):
            return
        self.participants(slot)  # a stored room catches up on the arrivals of while it was ACTIVE
        spans = self._inactive[slot] = [list(span) for span in self._inactive_spans(slot)]
        if inactive:
            spans.append([when, None])
        else:
            spans[-1][1] = when

    def create_meeting(
        self,
        fields: dict,
        *,
        created_ms: int | None = None,
        updated_ms: int | None = None,
        list_all_fields: bool = False,
    ) -> int:
        """Store a new meeting (defaults for absent fields, as the API does); returns its slot."""
        x = uuid4_int(self._rng)
        created_ms = self.clock.now_ms() if created_ms is None else created_ms
        updated_ms = created_ms if updated_ms is None else max(updated_ms, created_ms)
        slot = len(self._created)
        for column, value in (
            (self._id_hi, x >> 64),
            (self._id_lo, x & M64),
            (self._created, created_ms),
            (self._updated, created_ms),
            (self._flags, 0),
            (self._keep, 0),
            (self._title, TITLE_ABSENT),
        ):
            column.append(value)
        doc = {"id": uuid4_str(x), "created_at": fmt_ms(created_ms), "updated_at": fmt_ms(updated_ms)}
        doc.update(meeting_defaults())
        doc.update(fields)
        self._docs[slot] = doc
        if list_all_fields:
            self._list_all.add(slot)
        self._sync_columns(slot, doc)
        pos = bisect.bisect_left(self._ix_hi, x >> 64)
        self._ix_hi.insert(pos, x >> 64)
        self._ix_slots.insert(pos, slot)
        insert_sorted(self._c_keys, self._c_slots, created_ms, slot, self._id_key)
        if self._u_index is not None:
            insert_sorted(*self._u_index, created_ms, slot, self._id_key)
        self._set_updated(slot, updated_ms)
        self._touch(slot)
        return slot

    def write_meeting(self, slot: int, fields: dict, *, replace: bool, updated_ms: int | None = None) -> dict:
        """PATCH (only the given fields) or PUT (every writable field: absent ones back to defaults; status
        and fields the API does not let clients write are kept). Always moves updated_at forward."""
        old = self.doc(slot)
        if replace:
            doc = {k: old[k] for k in ("id", "created_at", "updated_at")}
            doc.update(meeting_defaults())
            doc.update({k: v for k, v in old.items() if k not in WRITABLE})
        else:
            doc = dict(old)
        doc.update(fields)
        new_updated = self.clock.now_ms() if updated_ms is None else updated_ms
        new_updated = max(new_updated, self._created[slot])
        doc["updated_at"] = fmt_ms(new_updated)
        self._docs[slot] = doc
        self._note_status(slot, doc, new_updated)
        self._sync_columns(slot, doc)
        self._set_updated(slot, new_updated)
        self._touch(slot)
        return doc

    # ---------------------------------------------------------------- participants

    def arrivals_cutoff(self) -> int:
        """The latest time a generated room's arrivals are visible at: the end of the data, or where the
        clock was moved to (set/advance), whichever is later. Wall time passing releases none."""
        return max(self.end_ms - 1, self.clock.moved_ms)

    def is_room(self, slot: int) -> bool:
        return is_room(self.cfg, slot, self.n_generated)

    def _inactive_spans(self, slot: int) -> list[list]:
        """When a generated meeting was INACTIVE: since its last update if generated so, then as written."""
        spans = self._inactive.get(slot)
        if spans is None:
            spans = [[self._updated[slot], None]] if self.is_inactive(slot) else []
        return spans

    def participants(self, slot: int) -> list[list]:
        """A meeting's participants, oldest first (created_at, then id). Do not mutate the result."""
        rows = self._participants_written.get(slot)
        if rows is not None:
            upto = self._written_upto.get(slot)
            cutoff = self.arrivals_cutoff()
            if upto is not None and cutoff > upto:
                events = room_events(
                    self.cfg, slot, self._created[slot], upto, cutoff, self._inactive_spans(slot)
                )
                apply_events(rows, events)
                self._written_upto[slot] = cutoff
            return rows
        return self._generated_participants(slot)

    def _generated_participants(self, slot: int) -> list[list]:
        """A generated meeting's participants, a room's up to the arrivals cutoff (cached per cutoff)."""
        room = self.is_room(slot)
        cutoff = self.arrivals_cutoff()
        spans = self._inactive_spans(slot)
        key = (cutoff, tuple(map(tuple, spans))) if room else ()
        seen = self._participants_seen.get(slot)
        if seen is not None and seen[0] == key:
            return seen[1]
        if len(self._participants_seen) >= 4096:
            self._participants_seen.clear()
        c0 = self._created[slot]
        rows = generated_participants(self.cfg, slot, self.n_generated, c0, self.end_ms)
        if room:
            apply_events(rows, room_events(self.cfg, slot, c0, -1, cutoff, spans))
        self._participants_seen[slot] = (key, rows)
        return rows

    def _writable_participants(self, slot: int) -> list[list]:
        rows = self._participants_written.get(slot)
        if rows is None:
            rows = [list(p) for p in self.participants(slot)]
            if self.is_room(slot):
                self._written_upto[slot] = self.arrivals_cutoff()
            self._participants_written[slot] = rows
            self._participants_seen.pop(slot, None)
        return rows

    def find_participant(self, slot: int, participant_id: str) -> list | None:
        pid = participant_id.lower()
        return next((p for p in self.participants(slot) if p[0] == pid), None)

    def new_token(self) -> str:
        self._token_counter += 1
        return f"EMU-PTOKEN-{self._token_counter}"

    def add_participant(self, slot: int, fields: dict, *, created_ms: int | None = None) -> list:
        rows = self._writable_participants(slot)
        created = self.clock.now_ms() if created_ms is None else created_ms
        rec = [
            uuid4_str(uuid4_int(self._rng)),
            fields["custom_participant_id"],
            fields["preset_name"],
            fields.get("name", ABSENT),
            fields.get("picture", ABSENT),
            created,
            created,
            self.new_token(),
        ]
        rows.append(rec)
        rows.sort(key=lambda p: (p[5], p[0]))
        return rec

    def _writable_participant(self, slot: int, participant_id: str) -> list:
        """The record to change of a participant the caller has just found (KeyError if there is none)."""
        pid = participant_id.lower()
        for rec in self._writable_participants(slot):
            if rec[0] == pid:
                return rec
        raise KeyError(participant_id)

    def edit_participant(self, slot: int, participant_id: str, fields: dict) -> list:
        rec = self._writable_participant(slot, participant_id)
        for name, index in (("preset_name", 2), ("name", 3), ("picture", 4)):
            if name in fields:
                rec[index] = fields[name]
        rec[6] = max(self.clock.now_ms(), rec[5])
        return rec

    def delete_participant(self, slot: int, participant_id: str) -> list | None:
        rows = self._writable_participants(slot)
        for pos, rec in enumerate(rows):
            if rec[0] == participant_id.lower():
                return rows.pop(pos)
        return None

    def refresh_token(self, slot: int, participant_id: str) -> list:
        rec = self._writable_participant(slot, participant_id)
        rec[7] = self.new_token()
        return rec
