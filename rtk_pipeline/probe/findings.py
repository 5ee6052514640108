"""What `rtk-pipeline check` found, what the sync and the emulator assume, and the verdict (exit code)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# The JSON keys of `rtk-pipeline check --json`, in order (a contract: issue 15).
KEYS = (
    "auth",
    "read",
    "write",
    "page_base",
    "max_per_page",
    "default_per_page",
    "window_field",
    "start_inclusive",
    "end_inclusive",
    "order",
    "status_filter",
    "requests",
)
ORDERS = ("created_desc", "created_asc", "updated_desc", "updated_asc")

# What the bundled emulator does by default (a test holds these equal to EmulatorConfig()).
EMULATOR_DEFAULTS: dict[str, Any] = {
    "auth": True,
    "read": True,
    "write": True,
    "page_base": 1,
    "max_per_page": 100,
    "default_per_page": 20,
    "window_field": "created_at",
    "start_inclusive": True,
    "end_inclusive": True,
    "order": "created_desc",
    "status_filter": True,
}

# What a finding means for a sync, keyed by (key, value); a key absent here means "the sync copes".
MEANING: dict[str, str] = {
    "auth": "every request needs a valid token",
    "read": "listings need read permission on the account and app",
    "write": "the stale-meeting sensor PATCHes meetings to INACTIVE",
    "page_base": "none: the client learns it from the first page",
    "max_per_page": "none: the client learns the cap and pages by it",
    "default_per_page": "none: the client always sends per_page",
    "window_field": "must be created_at: a day's run keeps the meetings created that day",
    "start_inclusive": "none: windows overlap by a minute, rows are kept by created_at",
    "end_inclusive": "none: windows overlap by a minute, rows are kept by created_at",
    "order": "none: a listing counts only when its ids cover total_count",
    "status_filter": "none today: the sync lists every status",
}


@dataclass
class Findings:
    """One value per JSON key; None where the data does not allow an answer (`notes` says why)."""

    auth: bool | None = None
    read: bool | None = None
    write: bool | None = None
    page_base: int | None = None
    max_per_page: int | None = None
    default_per_page: int | None = None
    window_field: str | None = None
    start_inclusive: bool | None = None
    end_inclusive: bool | None = None
    order: str | None = None
    status_filter: bool | None = None
    requests: int = 0
    notes: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Exactly the KEYS, in order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in KEYS}

    def problems(self) -> list[str]:
        """Assumptions the sync relies on that do not hold, each with what it would do to the data."""
        out = []
        if self.window_field == "updated_at":
            out.append(
                "start_time/end_time filter on updated_at: a day's run asks for the meetings *updated* that"
                " day but keeps those *created* that day, so a meeting updated on a later day than it was"
                " created is never loaded (rows lost silently, counted only as outside_window)"
            )
        if self.write is False:
            out.append(
                "the token cannot write: the stale-meeting sensor's PATCH will be refused (403), so stale"
                " meetings stay ACTIVE and every attempt is audited as failed"
            )
        return out

    def exit_code(self) -> int:
        """0: every assumption the sync relies on holds; 1: one does not; 2: settings or auth."""
        if self.auth is not True or self.read is not True:
            return 2
        return 1 if self.problems() else 0
