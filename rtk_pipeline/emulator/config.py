"""What the emulated app holds and how its API behaves where the reference is silent (config as data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

# List orders: by creation or by last update, newest or oldest first (ties by id, in the same direction).
ORDERS = ("created_desc", "created_asc", "updated_desc", "updated_asc")
WINDOW_FIELDS = ("created_at", "updated_at")


@dataclass(frozen=True)
class EmulatorConfig:
    """What the emulated app holds and how it pages. Same values => identical data."""

    meetings: int = 200
    days: int = 30
    seed: int = 0
    end: datetime | None = None  # data spans [end - days, end); default: now, rounded down to the minute
    participants_mean: float = 4.0  # 0 => no generated participants
    rooms: float = 0.33  # share of meetings reused as rooms: participants keep arriving (0 => none)
    max_per_page: int = 100  # larger per_page values are served as this, silently
    default_per_page: int = 20
    page_base: int = 1  # number of the first page (0 supported)
    order: str = "created_desc"  # one of ORDERS
    window_field: str = "created_at"  # the timestamp start_time/end_time filter on
    start_inclusive: bool = True  # start_time <= field (False: start_time < field)
    end_inclusive: bool = True  # field <= end_time (False: field < end_time)
    status_filter: bool = True  # False: the list ignores `status`, like an API that predates it
    token: str = field(default="emu-token", repr=False)
    read_only_token: str | None = field(default=None, repr=False)  # reads succeed, writes are 403s
    account_id: str = "emu-account"
    app_id: str = "emu-app"
    secrets: bool = True  # some meetings carry storage credentials in recording_config
    request_log_limit: int = 100_000  # oldest request-log entries are dropped beyond this

    @property
    def resolved_end(self) -> datetime:
        """`end` as construction settled it, in UTC: the field is None only until then (None means now)."""
        assert self.end is not None
        return self.end

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
        if not 0.0 <= self.rooms <= 1.0:
            problems.append("rooms must be within [0, 1]")
        if self.max_per_page < 1 or self.default_per_page < 1:
            problems.append("max_per_page and default_per_page must be >= 1")
        if self.page_base not in (0, 1):
            problems.append("page_base must be 0 or 1")
        if self.order not in ORDERS:
            problems.append(f"order must be one of {ORDERS}")
        if self.window_field not in WINDOW_FIELDS:
            problems.append(f"window_field must be one of {WINDOW_FIELDS}")
        if not self.token or not self.account_id or not self.app_id:
            problems.append("token, account_id and app_id must be non-empty")
        if self.read_only_token is not None and self.read_only_token in ("", self.token):
            problems.append("read_only_token must be non-empty and differ from token")
        if self.request_log_limit < 0:
            problems.append("request_log_limit must be >= 0")
        if problems:
            raise ValueError("EmulatorConfig: " + "; ".join(problems))
