"""Where each endpoint lives and how its query values are written: pure functions of their inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from rtk_pipeline.utc import as_utc


def segment(value: str, what: str) -> str:
    """URL-escape one path segment; an empty or dot id would silently address another endpoint."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def iso(value: datetime | str | None, what: str) -> str | None:
    """Datetimes go out as ISO 8601 UTC with `Z` (naive ones are taken as UTC); strings unchanged."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime or an ISO 8601 string, got {type(value).__name__}")
    value = as_utc(value)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


@dataclass(frozen=True, slots=True)
class AppPaths:
    """The paths of one account's app; ids are checked and escaped once, here."""

    account_id: str
    app_id: str
    root: str = field(init=False)

    def __post_init__(self) -> None:
        account, app = segment(self.account_id, "account_id"), segment(self.app_id, "app_id")
        object.__setattr__(self, "root", f"/accounts/{account}/realtime/kit/{app}")

    @property
    def meetings(self) -> str:
        return f"{self.root}/meetings"

    def meeting(self, meeting_id: str) -> str:
        return f"{self.root}/meetings/{segment(meeting_id, 'meeting_id')}"

    def participants(self, meeting_id: str) -> str:
        return f"{self.meeting(meeting_id)}/participants"

    def participant(self, meeting_id: str, participant_id: str) -> str:
        return f"{self.participants(meeting_id)}/{segment(participant_id, 'participant_id')}"


def meeting_filters(
    start_time: datetime | str | None,
    end_time: datetime | str | None,
    search: str | None,
    status: str | None,
) -> dict:
    """The query filters of the meetings list, without the ones left out."""
    params = {
        "start_time": iso(start_time, "start_time"),
        "end_time": iso(end_time, "end_time"),
        "search": search,
        "status": status,
    }
    return {k: v for k, v in params.items() if v is not None}


def page_params(params: dict, page_no: int | None, per_page: int | None) -> dict:
    if page_no is not None:
        params["page_no"] = page_no
    if per_page is not None:
        params["per_page"] = per_page
    return params
