"""Validation of request bodies and query values: the emulator answers 400 with a message naming the field.

Bodies follow the reference (and the newer fields of the OpenAPI extract): wrong types, values outside
enums or documented ranges, missing required fields and unknown fields are all rejected, so a typo such as
`{"stauts": "INACTIVE"}` fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_RE = re.compile(r"^\s*\+?(\d{1,18})(?:\.0*)?\s*$")


class Invalid(ValueError):
    """The request is malformed; the message is safe to return to the caller."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Spec:
    kind: str  # bool | str | num | enum | obj | list
    nullable: bool = False
    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    nonempty: bool = False
    values: tuple = ()
    props: dict[str, Spec] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    item: Spec | None = None

    def check(self, value: Any, where: str) -> Any:
        """Return the value (integral floats as int) or raise Invalid."""
        if value is None:
            if self.nullable:
                return None
            raise Invalid(f"{where} must not be null")
        kind = self.kind
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise Invalid(f"{where} must be a boolean, got {_show(value)}")
        if kind == "str":
            if not isinstance(value, str):
                raise Invalid(f"{where} must be a string, got {_show(value)}")
            if self.nonempty and not value.strip():
                raise Invalid(f"{where} must not be empty")
            return value
        if kind == "enum":
            if value in self.values and isinstance(value, str):
                return value
            raise Invalid(f"{where} must be one of {', '.join(self.values)}, got {_show(value)}")
        if kind == "num":
            return self._number(value, where)
        if kind == "list":
            if not isinstance(value, list):
                raise Invalid(f"{where} must be an array, got {_show(value)}")
            item = self.item
            assert item is not None, "a list spec names its item"
            return [item.check(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, dict):
            raise Invalid(f"{where} must be an object, got {_show(value)}")
        return self.check_object(value, where)

    def _number(self, value: Any, where: str) -> int | float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and self.integer:
            ok = float(value).is_integer()
        if not ok:
            raise Invalid(
                f"{where} must be {'an integer' if self.integer else 'a number'}, got {_show(value)}"
            )
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise Invalid(f"{where} must be between {self.lo} and {self.hi}, got {_show(value)}")
        return int(value) if float(value).is_integer() else value

    def check_object(self, value: dict, where: str) -> dict:
        unknown = [k for k in value if k not in self.props]
        if unknown:
            raise Invalid(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        missing = [k for k in sorted(self.required) if k not in value]
        if missing:
            raise Invalid(f"{where}: missing required field(s) {', '.join(missing)}")
        return {k: self.props[k].check(v, f"{where}.{k}" if where != "body" else k) for k, v in value.items()}


def _b(nullable: bool = False) -> Spec:
    return Spec("bool", nullable=nullable)


def _s(nullable: bool = False, nonempty: bool = False) -> Spec:
    return Spec("str", nullable=nullable, nonempty=nonempty)


def _n(lo: float | None = None, hi: float | None = None, integer: bool = False) -> Spec:
    return Spec("num", lo=lo, hi=hi, integer=integer)


def _e(*values: str) -> Spec:
    return Spec("enum", values=values)


def _o(props: dict[str, Spec], required: tuple[str, ...] = (), nullable: bool = False) -> Spec:
    return Spec("obj", props=props, required=frozenset(required), nullable=nullable)


STATUS = _e("ACTIVE", "INACTIVE")
_AI_CONFIG = _o(
    {
        "summarization": _o(
            {
                "summary_type": _e(
                    "general",
                    "team_meeting",
                    "sales_call",
                    "client_check_in",
                    "interview",
                    "daily_standup",
                    "one_on_one_meeting",
                    "lecture",
                    "code_review",
                ),
                "text_format": _e("plain_text", "markdown"),
                "word_limit": _n(150, 1000, integer=True),
            }
        ),
        "transcription": _o(
            {
                "keywords": Spec("list", item=_s()),
                "language": _e("en-US", "en-IN", "de", "hi", "sv", "ru", "pl", "el", "fr", "nl"),
                "profanity_filter": _b(),
            }
        ),
    }
)
_STORAGE_CONFIG = _o(
    {
        "type": _e("aws", "azure", "digitalocean", "gcs", "sftp"),
        "access_key": _s(),
        "auth_method": _e("KEY", "PASSWORD"),
        "bucket": _s(),
        "host": _s(),
        "password": _s(),
        "path": _s(),
        "port": _n(),  # any number: neither the reference nor the extract bounds it
        "private_key": _s(),
        "region": _s(),
        "secret": _s(),
        "username": _s(),
    },
    required=("type",),
    nullable=True,
)
_RECORDING_CONFIG = _o(
    {
        "audio_config": _o({"channel": _e("mono", "stereo"), "codec": _e("MP3", "AAC"), "export_file": _b()}),
        "file_name_prefix": _s(),
        "live_streaming_config": _o({"rtmp_url": _s()}),
        "max_seconds": _n(60, 86400),
        "realtimekit_bucket_config": _o({"enabled": _b()}, required=("enabled",)),
        "storage_config": _STORAGE_CONFIG,
        "video_config": _o(
            {
                "codec": _e("H264", "VP8", "VP9"),
                "export_file": _b(),
                "height": _n(1, 1920, integer=True),
                "width": _n(1, 1920, integer=True),
                "watermark": _o(
                    {
                        "position": _e("left top", "right top", "left bottom", "right bottom"),
                        "size": _o({"height": _n(1, integer=True), "width": _n(1, integer=True)}),
                        "url": _s(),
                    }
                ),
            }
        ),
    }
)
_MEETING_PROPS = {
    "ai_config": _AI_CONFIG,
    "persist_chat": _b(),
    "recording_config": _RECORDING_CONFIG,
    "session_keep_alive_time_in_secs": _n(60, 600),
    "summarize_on_end": _b(),
    "transcribe_on_end": _b(),
}
CREATE_MEETING = _o(
    {
        **_MEETING_PROPS,
        "title": _s(nullable=True),
        "live_stream_on_start": _b(True),
        "record_on_start": _b(True),
    }
)
# PUT takes the create body; `status` is accepted too (and kept when absent).
REPLACE_MEETING = _o({**CREATE_MEETING.props, "status": STATUS})
UPDATE_MEETING = _o(
    {**_MEETING_PROPS, "title": _s(), "live_stream_on_start": _b(), "record_on_start": _b(), "status": STATUS}
)
ADD_PARTICIPANT = _o(
    {
        "custom_participant_id": _s(nonempty=True),
        "preset_name": _s(nonempty=True),
        "name": _s(nullable=True),
        "picture": _s(nullable=True),
    },
    required=("custom_participant_id", "preset_name"),
)
EDIT_PARTICIPANT = _o(
    {"name": _s(nullable=True), "picture": _s(nullable=True), "preset_name": _s(nonempty=True)}
)


def body_object(body: Any, spec: Spec) -> dict:
    """A parsed JSON body -> validated fields."""
    if not isinstance(body, dict):
        raise Invalid(f"request body must be a JSON object, got {type(body).__name__}")
    return spec.check_object(body, "body")


def int_param(query: dict[str, str], name: str, default: int, minimum: int) -> int:
    """Integer query value (an integral float like '2.0' is accepted); empty = absent."""
    raw = query.get(name, "")
    if raw == "":
        return default
    m = _INT_RE.match(raw)
    if m is None or int(m.group(1)) < minimum:
        raise Invalid(f"{name} must be an integer >= {minimum}, got {_show(raw)}")
    return int(m.group(1))


def time_param(query: dict[str, str], name: str, *, upper: bool, inclusive: bool = True) -> int | None:
    """ISO 8601 time (naive = UTC; date alone = midnight) -> the bound as an inclusive epoch-ms bound."""
    raw = query.get(name, "")
    if raw == "":
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        hint = " (a '+' in a query string must be sent as %2B)" if re.search(r"\d \d\d:?\d\d$", raw) else ""
        raise Invalid(f"{name} must be an ISO 8601 date-time, got {_show(raw)}{hint}") from None
    return bound_ms(when, upper=upper, inclusive=inclusive)


def bound_ms(when: datetime, *, upper: bool, inclusive: bool = True) -> int:
    """A time bound (naive = UTC) -> the inclusive bound in epoch ms that keeps the same millisecond
    timestamps: timestamps have millisecond precision, so a finer inclusive lower bound rounds up, a finer
    inclusive upper bound rounds down, and an exclusive bound moves one millisecond inwards."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    micros = (when - _EPOCH) // timedelta(microseconds=1)
    floor, ceil = micros // 1000, -(-micros // 1000)
    if upper:
        return floor if inclusive else ceil - 1
    return ceil if inclusive else floor + 1


def enum_param(query: dict[str, str], name: str, spec: Spec) -> str | None:
    raw = query.get(name, "")
    return None if raw == "" else spec.check(raw, name)
