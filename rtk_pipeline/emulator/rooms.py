"""Reusable rooms: generated meetings whose participants keep arriving long after the meeting's creation.

RealtimeKit meetings are rooms joined again and again (a weekly standup gets a new participant per join for
months), so a share of the generated meetings (`EmulatorConfig.rooms`) hold sessions at a cadence from their
creation on, without end; some participants are edited later (their `updated_at` moves, their name
changes). Nothing is stored per room: a room's plan and events come from a per-meeting seed, derived when
read, so a million meetings cost no memory. Events are applied in time order up to a cutoff the data layer
gives (the end of the data, or later once the emulator clock is moved: moving it releases every arrival up
to it, those between the end of the data and the wall time included), and never while the meeting is
INACTIVE: an inactive meeting cannot be joined.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rtk_pipeline.emulator.clock import DAY_MS, HOUR_MS
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.records import PRESETS, uuid4_int, uuid4_str

# (period in days, cumulative probability, most new participants per session)
_CADENCES = ((1, 0.15, 1), (7, 0.80, 4), (14, 1.0, 4))
_NAMES = ("Ada Lovelace", "Grace Hopper", "Ngozi Okonjo", "Priya Raman", "Zoë 🦄", "李雷")

# An event: (time ms, order within the room, participant row to add) or (time ms, order, (id, new name)).
Event = tuple[int, int, list | tuple[str, str]]
Spans = Sequence[Sequence[int | None]]  # [start, end or None] intervals in which the meeting was INACTIVE


def _rng(cfg: EmulatorConfig, slot: int) -> random.Random:
    """A room's own stream (apart from its participants' stream, seeded (seed << 32) | slot)."""
    return random.Random((cfg.seed & 0xFFFFFFFF) << 40 | 0x5A << 32 | slot)


def is_room(cfg: EmulatorConfig, slot: int, n_generated: int) -> bool:
    """Whether generated meeting `slot` is a reusable room (a fixed draw per meeting, so any share > 0
    keeps the other meetings' data exactly as with rooms=0)."""
    if cfg.rooms <= 0 or slot >= n_generated or cfg.participants_mean <= 0:
        return False
    return _rng(cfg, slot).random() < cfg.rooms


def _inactive_at(spans: Spans, t: int) -> bool:
    return any(start is not None and start <= t and (end is None or t < end) for start, end in spans)


def room_events(cfg: EmulatorConfig, slot: int, c0: int, after: int, upto: int, spans: Spans) -> list[Event]:
    """The events of room `slot` (created at c0) with after < time <= upto, in time order. The draws do not
    depend on the bounds, so the same session always brings the same participants."""
    prng = _rng(cfg, slot)
    prng.random()  # the is_room draw
    u = prng.random()
    period, most = next((days * DAY_MS, most) for days, p, most in _CADENCES if u < p)
    # A quarter of the rooms fall out of use after a while; the rest are used for as long as one reads.
    last_session = c0 + int(prng.random() * 90) * DAY_MS if prng.random() < 0.25 else None
    events: list[Event] = []
    k = 0
    while True:
        k += 1
        session = c0 + k * period + int(prng.random() * 2 * HOUR_MS)
        if session > upto or (last_session is not None and session > last_session):
            break
        for _ in range(1 + int(prng.random() * most)):
            joined = session + int(prng.random() * 15 * 60_000)
            r = prng.getrandbits(32)
            pid = uuid4_str(uuid4_int(prng))
            name = _NAMES[r % len(_NAMES)] if r & 0x10 else None
            row = [
                pid,
                f"room-{slot}-{k:05d}-{r & 0xFFFF:04x}",
                PRESETS[(r >> 5) % len(PRESETS)],
                name,
                None,
                joined,
                joined,
                f"EMU-PTOKEN-{prng.getrandbits(48)}",
            ]
            edited = joined + int(prng.random() * 10 * DAY_MS) if r & 0x300 == 0 else None
            if _inactive_at(spans, joined):
                continue
            if after < joined <= upto:
                events.append((joined, len(events), row))
            if edited is not None and after < edited <= upto:
                events.append((edited, len(events), (pid, _NAMES[(r >> 12) % len(_NAMES)])))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def apply_events(rows: list[list], events: list[Event]) -> None:
    """Add the arrivals and apply the edits to `rows` (a room's participants), keeping them oldest first.
    An edit of a participant no longer there (deleted through the API) is dropped."""
    if not events:
        return
    by_id = {p[0]: p for p in rows}
    for when, _, what in events:
        if isinstance(what, list):
            rows.append(what)
            by_id[what[0]] = what
        else:
            rec = by_id.get(what[0])
            if rec is not None:
                rec[3] = what[1]
                rec[6] = max(rec[6], when)
    rows.sort(key=lambda p: (p[5], p[0]))
