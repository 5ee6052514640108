"""The seeded data of an emulated app: meetings column-wise, titles, recording configs and participants.

Same config => same data. Participants of a meeting come from a per-meeting seed, so they cost nothing
until read.
"""

from __future__ import annotations

import bisect
import random
from array import array
from dataclasses import dataclass
from typing import Any

from rtk_pipeline.emulator.clock import DAY_MS, HOUR_MS
from rtk_pipeline.emulator.config import EmulatorConfig
from rtk_pipeline.emulator.records import ABSENT, M64, PRESETS, uuid4_int, uuid4_str

# Flag bits of a generated meeting (array "H"): present/value pairs for the four booleans, then status etc.
BOOL_FIELDS = ("live_stream_on_start", "persist_chat", "record_on_start", "summarize_on_end")
F_INACTIVE = 1 << 8
F_NEWER = 1 << 9  # carries fields newer than the reference, in the list response too
F_STORAGE = 1 << 10  # recording_config.storage_config with credentials
TITLE_ABSENT = -1
TITLE_NULL = -2
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


@dataclass
class Columns:
    """One slot per meeting; generated meetings first, in (created_at, id) order."""

    id_hi: array
    id_lo: array
    created: array
    updated: array
    flags: array
    keep: array
    title: array


def newer_fields(slot: int) -> dict[str, Any]:
    """Fields newer than the reference that some generated meetings carry (the OpenAPI extract has them)."""
    return {
        "ai_config": {
            "summarization": {"summary_type": "team_meeting", "text_format": "markdown", "word_limit": 500},
            "transcription": {"keywords": ["RealtimeKit"], "language": "en-US", "profanity_filter": False},
        },
        "transcribe_on_end": bool(slot % 2),
        "x_region": _REGIONS[slot % len(_REGIONS)],
    }


def generate_meetings(cfg: EmulatorConfig, start: int, end: int) -> Columns:
    """The seeded meetings of [start, end) ms, column-wise, in (created_at, id) order."""
    rng = random.Random(cfg.seed)
    n = cfg.meetings
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
    ids = [uuid4_int(rng) for _ in range(n)]
    i = 0
    while i < n:  # equal created_at: order by id, so slot order is (created_at, id)
        j = i + 1
        while j < n and created[j] == created[i]:
            j += 1
        if j - i > 1:
            ids[i:j] = sorted(ids[i:j])
        i = j
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
            f |= F_INACTIVE
        if (r >> 26) & 0x1F == 0:
            f |= F_NEWER
        if storage_ok and (r >> 31) & 0x7 == 0:
            f |= F_STORAGE
        flags.append(f)
        ka = (r >> 34) & 0xF
        keep.append(_KEEP_ALIVE[ka - 1] if ka else 0)
        tk = (r >> 38) & 0x3F
        if tk < 2:
            title.append(TITLE_ABSENT)
        elif tk < 4:
            title.append(TITLE_NULL)
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
        flags[s] |= F_NEWER | (F_STORAGE if storage_ok else 0)
    return Columns(
        id_hi=array("Q", (x >> 64 for x in ids)),
        id_lo=array("Q", (x & M64 for x in ids)),
        created=array("q", created),
        updated=updated,
        flags=flags,
        keep=keep,
        title=title,
    )


def title_text(code: int) -> str | None:
    """The title a generated meeting's title code stands for."""
    if code == TITLE_NULL:
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


def recording_config(slot: int, flags: int) -> dict:
    storage = bool(flags & F_STORAGE)
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


def generated_participants(
    cfg: EmulatorConfig, slot: int, n_generated: int, c0: int, end_ms: int
) -> list[list]:
    """The participants of generated meeting `slot` (created at c0), derived from a per-meeting seed."""
    if slot >= n_generated or cfg.participants_mean <= 0:
        return []
    prng = random.Random((cfg.seed & 0xFFFFFFFF) << 32 | slot)
    mean, per_page = cfg.participants_mean, cfg.max_per_page
    big_mean = 1.75 * per_page
    p_big = min(0.02, 0.25 * mean / big_mean)
    p_zero = min(0.95, max(0.35, 1 - mean / 2))
    u = prng.random()
    if slot == n_generated // 3 or u < p_big:  # needs several pages at the largest page size
        count = per_page + 1 + int(prng.random() * 1.5 * per_page)
    elif u < p_big + p_zero:
        count = 0
    else:
        rest = max(mean - p_big * big_mean, 0.0) / (1 - p_big - p_zero)
        count = 1 + int(prng.expovariate(1 / max(rest - 1, 0.05)))
    room = max(0, end_ms - 1 - c0)
    rows = []
    for k in range(count):
        pid = uuid4_str(uuid4_int(prng))
        r = prng.getrandbits(32)
        span = 5 * DAY_MS if r & 7 == 0 else 2 * HOUR_MS
        created = c0 + int(prng.random() * min(room, span))
        updated = created if r & 0x18 else min(created + int(prng.random() * HOUR_MS), end_ms - 1)
        kind = (r >> 5) % 3
        if kind == 0:
            cpid = f"user{k}.{slot}@example.com"
        elif kind == 1:
            cpid = uuid4_str(uuid4_int(prng))
        else:
            cpid = f"ext-{slot}-{k:04d}"
        nk = (r >> 8) & 0xF
        name = ABSENT if nk == 0 else None if nk == 1 else _PEOPLE[(r >> 12) % len(_PEOPLE)]
        pk = (r >> 16) & 0x7
        picture = ABSENT if pk < 2 else None if pk == 2 else f"https://example.com/avatars/{slot}-{k}.png"
        preset = PRESETS[(r >> 19) % len(PRESETS)] if k else PRESETS[0]
        token = f"EMU-PTOKEN-{prng.getrandbits(48)}"
        rows.append([pid, cpid, preset, name, picture, created, max(updated, created), token])
    rows.sort(key=lambda p: (p[5], p[0]))
    return rows
