"""How stored meetings and participants look on the wire: JSON bytes, ids, defaults, secret-free copies."""

from __future__ import annotations

import json
import random
import re
from typing import Any

from rtk_pipeline.emulator.clock import fmt_ms

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
M64 = (1 << 64) - 1
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
ABSENT = object()  # an optional field that is not in the record at all (unlike None, sent as null)


def scrub(obj: Any) -> Any:
    """Deep copy without secret keys, for ground truth that must match what a sync may store."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if k not in SECRET_KEYS}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def uuid4_str(x: int) -> str:
    h = f"{x:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid4_int(rng: random.Random) -> int:
    x = rng.getrandbits(128)
    x = (x & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return (x & ~(0xF000 << 64)) | (4 << 76)  # version 4


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as every response body is written."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


# Fields a client may write on a meeting (PUT resets the absent ones to these defaults).
WRITABLE = frozenset(
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


def meeting_defaults() -> dict:
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
    if p[3] is not ABSENT:
        rec["name"] = p[3]
    if p[4] is not ABSENT:
        rec["picture"] = p[4]
    return rec
