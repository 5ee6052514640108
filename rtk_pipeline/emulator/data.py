"""Seeded data and mutable state of the emulated RealtimeKit app (no HTTP here).

Meetings are stored column-wise (arrays of ints, one slot per meeting) so a million of them fit in a few
dozen MB and generate in seconds; response dicts are built per request, and each meeting's list row is
cached as JSON bytes until the meeting changes. Two sorted indexes serve the two list orders: by
(created_at, id) always, by (updated_at, id) once `order="updated_desc"` is first asked for. Participants
of a generated meeting are derived from a per-meeting seed when first read, so they cost nothing until
used, and are stored only once something changes them.

Nothing here is thread-safe on its own: the emulator calls it under its one lock.
"""

from __future__ import annotations

import bisect
import json
import random
import re
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring
from typing import Any

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
ORDERS = ("created_desc", "updated_desc")
LIST_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "live_stream_on_start",
    "persist_chat",
    "record_on_start",
    "session_keep_alive_time_in_secs",
    "status",
    "summarize_on_end",
    "title",
)
SECRET_KEYS = frozenset({"token", "access_key", "secret", "password", "private_key"})
PRESETS = (
    "group_call_host",
    "group_call_participant",
    "webinar_presenter",
    "webinar_viewer",
    "livestream_viewer",
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_M64 = (1 << 64) - 1
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_HEXISH = re.compile(r"^[0-9a-f-]+$")
_ABSENT = object()  # an optional field that is not in the record at all (unlike None, sent as null)

# Flag bits of a generated meeting (array "H"): present/value pairs for the four booleans, then status etc.
_BOOL_FIELDS = ("live_stream_on_start", "persist_chat", "record_on_start", "summarize_on_end")
_F_INACTIVE = 1 << 8
_F_NEWER = 1 << 9  # carries fields newer than the reference, in the list response too
_F_STORAGE = 1 << 10  # recording_config.storage_config with credentials
_TITLE_ABSENT = -1
_TITLE_NULL = -2
_KEEP_ALIVE = (60, 60, 60, 60, 90, 120, 120, 180, 300, 300, 600, 600, 60, 120, 300)

_TITLE_TEMPLATES = (
    "Daily standup",
    "Weekly sync #{n}",
    "1:1 {person} / {person2}",
    "Sprint {n} planning",
    "Customer call — {company}",
    "Réunion d'équipe {n}",
    "Übergabe Frühschicht {n}",
    "週次ミーティング {n}",
    "Встреча команды №{n}",
    "🎉 Launch party {n}",
    "Office hours 🧑‍💻 {person}",
    "Retro: what went well? ({n})",
    "Interview: candidate {n}",
    "Board meeting Q{q}",
    "عرض المنتج {n}",
    "Lecture {n}: distributed systems",
    'Team "quotes" & <tags> {n}',
    "Webinar: {company} \u00d7 RealtimeKit",
    "कक्षा {n}",
    "",
    "  padded title {n}  ",
    "Ünïcödé ✓ {n} 🚀🚀",
    "Tab\tand newline\n{n}",
    "SELECT * FROM meetings; -- {n}",
)
_PEOPLE = (
    "Ada Lovelace",
    "Grace Hopper",
    "Jürgen Müller",
    "José Álvarez",
    "李雷",
    "Олена Шевченко",
    "Zoë 🦄",
    "Ngozi Okonjo",
    "Søren Kierkegaard",
    "Priya Raman",
    "O'Brien, Pat",
    "Mary Sue",
)
_COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Ōkami KK", "Zürich AG")
_REGIONS = ("us-east-1", "eu-west-1", "ap-south-1", "sa-east-1")


@dataclass(frozen=True)
class EmulatorConfig:
    """What the emulated app holds and how it pages. Same values => identical data."""

    meetings: int = 200
    days: int = 30
    seed: int = 0
    end: datetime | None = None  # data spans [end - days, end); default: now, rounded down to the minute
    participants_mean: float = 4.0  # 0 => no generated participants
    max_per_page: int = 100  # larger per_page values are served as this, silently
    default_per_page: int = 20
    page_base: int = 1  # number of the first page (0 supported)
    order: str = "created_desc"  # or "updated_desc"
    token: str = field(default="emu-token", repr=False)
    account_id: str = "emu-account"
    app_id: str = "emu-app"
    secrets: bool = True  # some meetings carry storage credentials in recording_config
    request_log_limit: int = 100_000  # oldest request-log entries are dropped beyond this

    def __post_init__(self) -> None:
        end = self.end or datetime.now(UTC).replace(second=0, microsecond=0)
        end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
        object.__setattr__(self, "end", end)
        problems = []
        if self.meetings < 0:
            problems.append("meetings must be >= 0")
        if self.days < 1:
            problems.append("days must be >= 1")
        if self.participants_mean < 0:
            problems.append("participants_mean must be >= 0")
        if self.max_per_page < 1 or self.default_per_page < 1:
            problems.append("max_per_page and default_per_page must be >= 1")
        if self.page_base not in (0, 1):
            problems.append("page_base must be 0 or 1")
        if self.order not in ORDERS:
            problems.append(f"order must be one of {ORDERS}")
        if not self.token or not self.account_id or not self.app_id:
            problems.append("token, account_id and app_id must be non-empty")
        if self.request_log_limit < 0:
            problems.append("request_log_limit must be >= 0")
        if problems:
            raise ValueError("EmulatorConfig: " + "; ".join(problems))


_day_strings: dict[int, str] = {}


def fmt_ms(ms: int) -> str:
    """Epoch milliseconds -> '2019-12-27T18:11:19.117Z' (the reference's format), fast: rows are many."""
    day, rem = divmod(ms, DAY_MS)
    date = _day_strings.get(day)
    if date is None:
        date = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        _day_strings[day] = date
    secs, milli = divmod(rem, 1000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    return f"{date}T{hours:02d}:{mins:02d}:{secs:02d}.{milli:03d}Z"


def to_ms(when: datetime | str) -> int:
    """datetime or ISO 8601 string (naive = UTC) -> epoch milliseconds, rounded down."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(milliseconds=1)


def scrub(obj: Any) -> Any:
    """Deep copy without secret keys, for ground truth that must match what a sync may store."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in SECRET_KEYS}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def _uuid4_str(x: int) -> str:
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid4_int(rng: random.Random) -> int:
    x = rng.getrandbits(128)
    x = (x & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return (x & ~(0xF000 << 64)) | (4 << 76)  # version 4


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as every response body is written."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class Clock:
    """Emulator time in epoch ms: wall time, shifted forward if the data ends in the future, and strictly
    increasing from one reading to the next, so every write gets a later updated_at than the last one.
    `set()`/`advance()` freeze it at a chosen time (still +1 ms per reading); `resume()` follows the wall."""

    def __init__(self, not_before_ms: int = 0) -> None:
        self._lock = threading.Lock()
        self._offset = max(0, not_before_ms - self._wall())
        self._frozen: int | None = None
        self._last = 0

    @staticmethod
    def _wall() -> int:
        return time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        with self._lock:
            base = self._frozen if self._frozen is not None else self._wall() + self._offset
            self._last = max(base, self._last + 1)
            return self._last

    def now(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=self.now_ms())

    def set(self, when: datetime) -> None:
        """Freeze at `when`; raises ValueError if that is before a time already handed out."""
        ms = to_ms(when)
        with self._lock:
            if ms < self._last:
                raise ValueError(
                    f"the emulator clock never goes backwards (last reading {fmt_ms(self._last)})"
                )
            self._frozen = ms

    def advance(self, seconds: float) -> None:
        """Freeze at the current time plus `seconds`."""
        with self._lock:
            base = self._frozen if self._frozen is not None else self._wall() + self._offset
            self._frozen = max(base, self._last) + int(seconds * 1000)

    def resume(self) -> None:
        """Follow wall time again (from no earlier than the frozen time)."""
        with self._lock:
            if self._frozen is not None:
                self._offset = max(self._offset, self._frozen - self._wall())
                self._frozen = None


class _Window:
    """Rows lo..hi-1 of the (created_at, id) index, served newest first, without copying them."""

    __slots__ = ("hi", "lo", "slots")

    def __init__(self, slots: array, lo: int, hi: int) -> None:
        self.slots, self.lo, self.hi = slots, lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def __iter__(self):
        slots = self.slots
        for pos in range(self.hi - 1, self.lo - 1, -1):
            yield slots[pos]

    def page(self, offset: int, size: int) -> list[int]:
        stop = self.hi - offset
        start = max(self.lo, stop - size)
        if stop <= start:
            return []
        rows = self.slots[start:stop].tolist()
        rows.reverse()
        return rows


class _Rows:
    """A materialized, filtered result in serving order."""

    __slots__ = ("slots",)

    def __init__(self, slots: array) -> None:
        self.slots = slots

    def __len__(self) -> int:
        return len(self.slots)

    def __iter__(self):
        return iter(self.slots)

    def page(self, offset: int, size: int) -> list[int]:
        return self.slots[offset : offset + size].tolist()


def _insert_sorted(keys: array, slots: array, key: int, slot: int, tiebreak) -> None:
    lo = bisect.bisect_left(keys, key)
    hi = bisect.bisect_right(keys, key, lo)
    mine = tiebreak(slot)
    while lo < hi and tiebreak(slots[lo]) < mine:
        lo += 1
    keys.insert(lo, key)
    slots.insert(lo, slot)


def _remove_sorted(keys: array, slots: array, key: int, slot: int) -> None:
    lo = bisect.bisect_left(keys, key)
    hi = bisect.bisect_right(keys, key, lo)
    for pos in range(lo, hi):
        if slots[pos] == slot:
            del keys[pos]
            del slots[pos]
            return
    raise KeyError(slot)


class Store:
    """All meetings and participants of the emulated app, with the queries and writes the API needs."""

    def __init__(self, cfg: EmulatorConfig, clock: Clock) -> None:
        self.cfg = cfg
        self.clock = clock
        self.end_ms = to_ms(cfg.end)
        self.start_ms = self.end_ms - cfg.days * DAY_MS
        self.version = 0  # bumped by every meeting write; keys the query cache
        self._rng = random.Random(f"{cfg.seed}:writes")  # ids and tokens of things created later
        self._id_hi = array("Q")
        self._id_lo = array("Q")
        self._created = array("q")
        self._updated = array("q")
        self._flags = array("H")
        self._keep = array("H")
        self._title = array("l")
        self._docs: dict[int, dict] = {}  # full documents of meetings written since generation
        self._list_all: set[int] = set()  # slots whose list row shows every field (newer than the reference)
        self._row_cache: dict[int, bytes] = {}
        self._query_cache: dict[tuple, tuple[int, _Rows]] = {}
        self._participants_seen: dict[int, list[list]] = {}  # generated lists, rebuilt at will
        self._participants_written: dict[int, list[list]] = {}  # authoritative once written
        self._token_counter = 0
        self._generate()
        n = len(self._created)
        self._c_keys = array("q", self._created)
        self._c_slots = array("l", range(n))
        self._u_keys: array | None = None
        self._u_slots: array | None = None
        order = sorted(range(n), key=self._id_hi.__getitem__)
        self._ix_hi = array("Q", (self._id_hi[s] for s in order))
        self._ix_slots = array("l", order)

    # ---------------------------------------------------------------- generation

    def _generate(self) -> None:
        cfg = self.cfg
        rng = random.Random(cfg.seed)
        n, start, end = cfg.meetings, self.start_ms, self.end_ms
        first_day = start // DAY_MS
        days = range(first_day, (end - 1) // DAY_MS + 1)
        # Weekdays busier than weekends, office hours busier than nights (UTC; good enough for a spread).
        day_cum, total = [], 0.0
        for day in days:
            total += 0.35 if (day + 3) % 7 >= 5 else 1.0
            day_cum.append(total)
        hour_w = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 7, 9, 10, 10, 9, 7, 5, 4, 3, 2, 1, 1)
        hour_cum = [sum(hour_w[: h + 1]) for h in range(24)]
        midnights = [d * DAY_MS for d in days if start <= d * DAY_MS < end]
        p_midnight = 0.015 if midnights else 0.0
        created = []
        for _ in range(n):
            while True:
                u = rng.random()
                if u < p_midnight:
                    t = midnights[int(u / p_midnight * len(midnights))]
                else:
                    d = bisect.bisect_right(day_cum, rng.random() * total)
                    h = bisect.bisect_right(hour_cum, rng.random() * hour_cum[-1])
                    t = (first_day + d) * DAY_MS + h * HOUR_MS + int(rng.random() * HOUR_MS)
                if start <= t < end:
                    break
            created.append(t)
        if n and midnights and not any(t % DAY_MS == 0 for t in created):
            created[n // 2] = midnights[len(midnights) // 2]  # boundary tests need at least one
        created.sort()
        ids = [_uuid4_int(rng) for _ in range(n)]
        i = 0
        while i < n:  # equal created_at: order by id, so slot order is (created_at, id)
            j = i + 1
            while j < n and created[j] == created[i]:
                j += 1
            if j - i > 1:
                ids[i:j] = sorted(ids[i:j])
            i = j
        self._created = array("q", created)
        self._id_hi = array("Q", (x >> 64 for x in ids))
        self._id_lo = array("Q", (x & _M64 for x in ids))
        flags, keep, title, updated = array("H"), array("H"), array("l"), array("q")
        n_templates = len(_TITLE_TEMPLATES)
        storage_ok = cfg.secrets
        for c in created:
            r = rng.getrandbits(64)
            f = 0
            for k in range(4):  # each absent 1 in 16; chat/summary on half the time, live/record 1 in 5
                bits = (r >> (4 * k)) & 0xF
                if bits:
                    f |= 1 << (2 * k)
                    on = (bits & 1) if k in (1, 3) else (bits % 5 == 0)
                    if on:
                        f |= 1 << (2 * k + 1)
            if (r >> 16) & 0x3FF < 205:
                f |= _F_INACTIVE
            if (r >> 26) & 0x1F == 0:
                f |= _F_NEWER
            if storage_ok and (r >> 31) & 0x7 == 0:
                f |= _F_STORAGE
            flags.append(f)
            ka = (r >> 34) & 0xF
            keep.append(_KEEP_ALIVE[ka - 1] if ka else 0)
            tk = (r >> 38) & 0x3F
            if tk < 2:
                title.append(_TITLE_ABSENT)
            elif tk < 4:
                title.append(_TITLE_NULL)
            else:
                title.append((r >> 44) % n_templates + n_templates * ((r >> 49) & 0x7FFF))
            v = rng.random()
            if v < 0.5:
                delta = 0
            elif v < 0.8:
                delta = int(rng.random() * 6 * HOUR_MS)
            else:
                delta = DAY_MS + int(rng.random() * 20 * DAY_MS)
            room = end - 1 - c
            updated.append(c + (delta if delta <= room else int(rng.random() * room)))
        # Even tiny data sets show newer fields in a list response (and both credential shapes, if secrets).
        for s in range(n // 2, min(n, n // 2 + 2)):
            flags[s] |= _F_NEWER | (_F_STORAGE if storage_ok else 0)
        self._flags, self._keep, self._title, self._updated = flags, keep, title, updated
        self.n_generated = n
        self._list_all = {s for s in range(n) if flags[s] & _F_NEWER}

    def _title_text(self, code: int) -> str | None:
        if code == _TITLE_NULL:
            return None
        n_templates = len(_TITLE_TEMPLATES)
        num = code // n_templates
        return _TITLE_TEMPLATES[code % n_templates].format(
            n=num,
            person=_PEOPLE[num % len(_PEOPLE)],
            person2=_PEOPLE[(num // 7 + 1) % len(_PEOPLE)],
            company=_COMPANIES[num % len(_COMPANIES)],
            q=1 + num % 4,
        )

    def _recording_config(self, slot: int, flags: int) -> dict:
        storage = bool(flags & _F_STORAGE)
        rc: dict[str, Any] = {
            "audio_config": {"channel": "stereo", "codec": "AAC", "export_file": True},
            "file_name_prefix": f"rec-{slot}",
            "max_seconds": 3600 * (1 + slot % 4),
            "realtimekit_bucket_config": {"enabled": not storage},
            "video_config": {"codec": "H264", "export_file": True, "height": 720, "width": 1280},
        }
        if storage and slot % 2 == 0:
            rc["storage_config"] = {
                "type": "aws",
                "access_key": f"EMU-SECRET-access_key-{slot}",
                "secret": f"EMU-SECRET-secret-{slot}",
                "bucket": "emu-recordings",
                "region": "us-east-1",
                "path": f"meetings/{slot}",
            }
        elif storage:
            rc["storage_config"] = {
                "type": "sftp",
                "auth_method": "KEY",
                "host": "sftp.example.com",
                "port": 22,
                "username": "recorder",
                "password": f"EMU-SECRET-password-{slot}",
                "private_key": f"EMU-SECRET-private_key-{slot}",
                "path": f"/recordings/{slot}",
            }
        return rc

    # ---------------------------------------------------------------- meetings: reads

    def __len__(self) -> int:
        return len(self._created)

    def meeting_id(self, slot: int) -> str:
        return _uuid4_str((self._id_hi[slot] << 64) | self._id_lo[slot])

    def slot_of(self, meeting_id: str) -> int | None:
        if not _UUID_RE.match(meeting_id):
            return None
        x = int(meeting_id.replace("-", ""), 16)
        hi, lo = x >> 64, x & _M64
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
        for k, name in enumerate(_BOOL_FIELDS[:3]):
            if f & (1 << (2 * k)):
                out.append(f',"{name}":{"true" if f & (1 << (2 * k + 1)) else "false"}')
        if self._keep[slot]:
            out.append(f',"session_keep_alive_time_in_secs":{self._keep[slot]}')
        out.append(',"status":"INACTIVE"' if f & _F_INACTIVE else ',"status":"ACTIVE"')
        if f & (1 << 6):
            out.append(f',"summarize_on_end":{"true" if f & (1 << 7) else "false"}')
        if self._title[slot] != _TITLE_ABSENT:
            title = self._title_text(self._title[slot])
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
        rec["recording_config"] = self._recording_config(slot, f)
        if f & _F_NEWER:
            rec["ai_config"] = {
                "summarization": {
                    "summary_type": "team_meeting",
                    "text_format": "markdown",
                    "word_limit": 500,
                },
                "transcription": {
                    "keywords": ["RealtimeKit"],
                    "language": "en-US",
                    "profanity_filter": False,
                },
            }
            rec["transcribe_on_end"] = bool(slot % 2)
            rec["x_region"] = _REGIONS[slot % len(_REGIONS)]
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
        return None if code == _TITLE_ABSENT else self._title_text(code)

    def is_inactive(self, slot: int) -> bool:
        return bool(self._flags[slot] & _F_INACTIVE)

    def created_ms(self, slot: int) -> int:
        return self._created[slot]

    def _id_key(self, slot: int) -> tuple[int, int]:
        return (self._id_hi[slot], self._id_lo[slot])

    def _updated_key(self, slot: int) -> tuple[int, int, int]:
        return (self._updated[slot], self._id_hi[slot], self._id_lo[slot])

    def _ensure_updated_index(self) -> tuple[array, array]:
        if self._u_slots is None:
            order = sorted(range(len(self._created)), key=self._updated_key)
            self._u_slots = array("l", order)
            self._u_keys = array("q", (self._updated[s] for s in order))
        return self._u_keys, self._u_slots

    def query(
        self,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        status: str | None = None,
        search: str | None = None,
        order: str = "created_desc",
    ) -> _Window | _Rows:
        """Meetings with start_ms <= created_at <= end_ms (both inclusive) matching status and search
        (case-insensitive substring of id or title), newest first by created_at or updated_at, ties by id
        (descending). Unfiltered created-order windows are served straight from the index; anything else
        is materialized once per store version."""
        lo = 0 if start_ms is None else bisect.bisect_left(self._c_keys, start_ms)
        hi = len(self._c_keys) if end_ms is None else bisect.bisect_right(self._c_keys, end_ms)
        window = _Window(self._c_slots, lo, max(lo, hi))
        if order == "created_desc" and status is None and not search:
            return window
        key = (start_ms, end_ms, status, search, order)
        hit = self._query_cache.get(key)
        if hit is not None and hit[0] == self.version:
            return hit[1]
        if order == "created_desc":
            rows: Any = window
        elif start_ms is None and end_ms is None:
            rows = reversed(self._ensure_updated_index()[1])
        else:
            rows = sorted(window, key=self._updated_key, reverse=True)
        if status is not None:
            want = status == "INACTIVE"
            rows = [s for s in rows if bool(self._flags[s] & _F_INACTIVE) == want]
        if search:
            needle = search.casefold()
            in_id = _HEXISH.match(needle) is not None  # else no id can contain it: skip formatting ids
            rows = [
                s
                for s in rows
                if (in_id and needle in self.meeting_id(s)) or needle in (self.title_of(s) or "").casefold()
            ]
        result = _Rows(array("l", rows))
        if len(self._query_cache) >= 32:
            self._query_cache.pop(next(iter(self._query_cache)))
        self._query_cache[key] = (self.version, result)
        return result

    # ---------------------------------------------------------------- meetings: writes

    def _touch(self, slot: int) -> None:
        self.version += 1
        self._row_cache.pop(slot, None)

    def _set_updated(self, slot: int, updated_ms: int) -> None:
        if self._u_slots is not None:
            _remove_sorted(self._u_keys, self._u_slots, self._updated[slot], slot)
            self._updated[slot] = updated_ms
            _insert_sorted(self._u_keys, self._u_slots, updated_ms, slot, self._id_key)
        else:
            self._updated[slot] = updated_ms

    def _sync_columns(self, slot: int, doc: dict) -> None:
        """Keep the columns the filters read (status, title is read from the doc) in step with a write."""
        if doc.get("status") == "INACTIVE":
            self._flags[slot] |= _F_INACTIVE
        else:
            self._flags[slot] &= ~_F_INACTIVE & 0xFFFF

    def create_meeting(
        self,
        fields: dict,
        *,
        created_ms: int | None = None,
        updated_ms: int | None = None,
        list_all_fields: bool = False,
    ) -> int:
        """Store a new meeting (defaults for absent fields, as the API does); returns its slot."""
        x = _uuid4_int(self._rng)
        created_ms = self.clock.now_ms() if created_ms is None else created_ms
        updated_ms = created_ms if updated_ms is None else max(updated_ms, created_ms)
        slot = len(self._created)
        for column, value in (
            (self._id_hi, x >> 64),
            (self._id_lo, x & _M64),
            (self._created, created_ms),
            (self._updated, created_ms),
            (self._flags, 0),
            (self._keep, 0),
            (self._title, _TITLE_ABSENT),
        ):
            column.append(value)
        doc = {"id": _uuid4_str(x), "created_at": fmt_ms(created_ms), "updated_at": fmt_ms(updated_ms)}
        doc.update(_meeting_defaults())
        doc.update(fields)
        self._docs[slot] = doc
        if list_all_fields:
            self._list_all.add(slot)
        self._sync_columns(slot, doc)
        pos = bisect.bisect_left(self._ix_hi, x >> 64)
        self._ix_hi.insert(pos, x >> 64)
        self._ix_slots.insert(pos, slot)
        _insert_sorted(self._c_keys, self._c_slots, created_ms, slot, self._id_key)
        if self._u_slots is not None:
            _insert_sorted(self._u_keys, self._u_slots, created_ms, slot, self._id_key)
        self._set_updated(slot, updated_ms)
        self._touch(slot)
        return slot

    def write_meeting(self, slot: int, fields: dict, *, replace: bool, updated_ms: int | None = None) -> dict:
        """PATCH (only the given fields) or PUT (every writable field: absent ones back to defaults; status
        and fields the API does not let clients write are kept). Always moves updated_at forward."""
        old = self.doc(slot)
        if replace:
            doc = {k: old[k] for k in ("id", "created_at", "updated_at")}
            doc.update(_meeting_defaults())
            doc.update({k: v for k, v in old.items() if k not in _WRITABLE})
        else:
            doc = dict(old)
        doc.update(fields)
        new_updated = self.clock.now_ms() if updated_ms is None else updated_ms
        new_updated = max(new_updated, self._created[slot])
        doc["updated_at"] = fmt_ms(new_updated)
        self._docs[slot] = doc
        self._sync_columns(slot, doc)
        self._set_updated(slot, new_updated)
        self._touch(slot)
        return doc

    # ---------------------------------------------------------------- participants

    def _participant_seed(self, slot: int) -> int:
        return (self.cfg.seed & 0xFFFFFFFF) << 32 | slot

    def _generated_participants(self, slot: int) -> list[list]:
        cfg = self.cfg
        if slot >= self.n_generated or cfg.participants_mean <= 0:
            return []
        prng = random.Random(self._participant_seed(slot))
        mean, per_page = cfg.participants_mean, cfg.max_per_page
        big_mean = 1.75 * per_page
        p_big = min(0.02, 0.25 * mean / big_mean)
        p_zero = min(0.95, max(0.35, 1 - mean / 2))
        u = prng.random()
        if slot == self.n_generated // 3 or u < p_big:  # needs several pages at the largest page size
            count = per_page + 1 + int(prng.random() * 1.5 * per_page)
        elif u < p_big + p_zero:
            count = 0
        else:
            rest = max(mean - p_big * big_mean, 0.0) / (1 - p_big - p_zero)
            count = 1 + int(prng.expovariate(1 / max(rest - 1, 0.05)))
        c0 = self._created[slot]
        room = max(0, self.end_ms - 1 - c0)
        rows = []
        for k in range(count):
            pid = _uuid4_str(_uuid4_int(prng))
            r = prng.getrandbits(32)
            span = 5 * DAY_MS if r & 7 == 0 else 2 * HOUR_MS
            created = c0 + int(prng.random() * min(room, span))
            updated = created if r & 0x18 else min(created + int(prng.random() * HOUR_MS), self.end_ms - 1)
            kind = (r >> 5) % 3
            if kind == 0:
                cpid = f"user{k}.{slot}@example.com"
            elif kind == 1:
                cpid = _uuid4_str(_uuid4_int(prng))
            else:
                cpid = f"ext-{slot}-{k:04d}"
            nk = (r >> 8) & 0xF
            name = _ABSENT if nk == 0 else None if nk == 1 else _PEOPLE[(r >> 12) % len(_PEOPLE)]
            pk = (r >> 16) & 0x7
            picture = (
                _ABSENT if pk < 2 else None if pk == 2 else f"https://example.com/avatars/{slot}-{k}.png"
            )
            preset = PRESETS[(r >> 19) % len(PRESETS)] if k else PRESETS[0]
            token = f"EMU-PTOKEN-{prng.getrandbits(48)}"
            rows.append([pid, cpid, preset, name, picture, created, max(updated, created), token])
        rows.sort(key=lambda p: (p[5], p[0]))
        return rows

    def participants(self, slot: int) -> list[list]:
        """A meeting's participants, oldest first (created_at, then id). Do not mutate the result."""
        rows = self._participants_written.get(slot)
        if rows is None:
            rows = self._participants_seen.get(slot)
            if rows is None:
                if len(self._participants_seen) >= 4096:
                    self._participants_seen.clear()
                rows = self._participants_seen[slot] = self._generated_participants(slot)
        return rows

    def _writable_participants(self, slot: int) -> list[list]:
        rows = self._participants_written.get(slot)
        if rows is None:
            rows = self._participants_written[slot] = [list(p) for p in self.participants(slot)]
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
            _uuid4_str(_uuid4_int(self._rng)),
            fields["custom_participant_id"],
            fields["preset_name"],
            fields.get("name", _ABSENT),
            fields.get("picture", _ABSENT),
            created,
            created,
            self.new_token(),
        ]
        rows.append(rec)
        rows.sort(key=lambda p: (p[5], p[0]))
        return rec

    def edit_participant(self, slot: int, participant_id: str, fields: dict) -> list | None:
        rec = next((p for p in self._writable_participants(slot) if p[0] == participant_id.lower()), None)
        if rec is not None:
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

    def refresh_token(self, slot: int, participant_id: str) -> list | None:
        rec = next((p for p in self._writable_participants(slot) if p[0] == participant_id.lower()), None)
        if rec is not None:
            rec[7] = self.new_token()
        return rec


# Fields a client may write on a meeting (PUT resets the absent ones to these defaults).
_WRITABLE = frozenset(
    {
        "title",
        "record_on_start",
        "live_stream_on_start",
        "persist_chat",
        "summarize_on_end",
        "transcribe_on_end",
        "session_keep_alive_time_in_secs",
        "ai_config",
        "recording_config",
    }
)


def _meeting_defaults() -> dict:
    return {
        "live_stream_on_start": False,
        "persist_chat": False,
        "record_on_start": False,
        "recording_config": {
            "audio_config": {"channel": "stereo", "codec": "AAC", "export_file": True},
            "max_seconds": 86400,
            "realtimekit_bucket_config": {"enabled": True},
            "video_config": {"codec": "H264", "export_file": True, "height": 720, "width": 1280},
        },
        "session_keep_alive_time_in_secs": 60,
        "status": "ACTIVE",
        "summarize_on_end": False,
    }


def participant_record(p: list, *, token: bool = False) -> dict:
    """A stored participant as the API shows it; `token` only where the API returns it."""
    rec: dict[str, Any] = {"id": p[0]}
    if token:
        rec["token"] = p[7]
    rec["created_at"] = fmt_ms(p[5])
    rec["custom_participant_id"] = p[1]
    rec["preset_name"] = p[2]
    rec["updated_at"] = fmt_ms(p[6])
    if p[3] is not _ABSENT:
        rec["name"] = p[3]
    if p[4] is not _ABSENT:
        rec["picture"] = p[4]
    return rec
