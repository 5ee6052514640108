"""What stale-meeting deactivation may do: the decisions it can record, and the policy that bounds it.

The policy comes from the RTK_STALE_* environment, overlaid by one rule that the CLI and Dagster share
(`StalePolicy.overlay`): a setting given by the caller replaces the environment's, the allow and deny lists
add up (deny always wins when screening), and a dry run can be switched on but never off.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rtk_pipeline import settings
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import declared, load

DEFAULT_STALE_AFTER_DAYS = settings.STALE_AFTER_DAYS.default
DEFAULT_MAX_DEACTIVATIONS = settings.STALE_MAX_PER_RUN.default
DEFAULT_MAX_SYNC_AGE_HOURS = settings.STALE_MAX_SYNC_AGE_HOURS.default
# A day count or age past a century means nothing here and overflows the date arithmetic past ~2,700 years.
MAX_DAYS = 36_500


class Outcome(StrEnum):
    """A decision as stored in meeting_deactivations.decision."""

    DEACTIVATED = "deactivated"
    WOULD_DEACTIVATE = "would-deactivate"
    FAILED = "failed"
    PENDING = "pending"
    SKIP_DENIED = "skipped:denied"
    SKIP_NOT_ALLOWED = "skipped:not-allowed"
    SKIP_NOT_STALE = "skipped:not-stale-in-warehouse"
    SKIP_NOT_ACTIVE = "skipped:not-active"
    SKIP_CHANGED = "skipped:meeting-changed-since-sync"
    SKIP_PARTICIPANTS = "skipped:participant-activity-since-sync"
    SKIP_UNVERIFIABLE = "skipped:activity-unverifiable"
    SKIP_CAP = "skipped:cap-reached"
    SKIP_THROTTLED = "skipped:throttled"
    SKIP_UNHEALTHY = "skipped:api-unhealthy"
    SKIP_PENDING = "skipped:pending-unresolved"


# Decisions after which the meeting should be tried again on the next tick rather than after a cool-down:
# the run did not get to judge it, or the attempt failed.
RETRY_SOON = frozenset(
    {
        Outcome.FAILED,
        Outcome.PENDING,
        Outcome.SKIP_CAP,
        Outcome.SKIP_THROTTLED,
        Outcome.SKIP_UNHEALTHY,
        Outcome.SKIP_PENDING,
    }
)

_LISTS = ("allow_ids", "allow_title_patterns", "deny_ids", "deny_title_patterns")


@dataclass(frozen=True)
class StalePolicy:
    """Everything that decides which meetings may be deactivated; field names match `deactivate_stale`.

    Each field names the RTK_STALE_* variable that sets it (`from_env`; declared in `rtk_pipeline.settings`),
    so the policy has one shape:
    the CLI's flags, the Dagster run config and the component's attribute all overlay this one.
    """

    stale_after_days: int = declared(settings.STALE_AFTER_DAYS)
    max_deactivations: int = declared(settings.STALE_MAX_PER_RUN)
    dry_run: bool = declared(settings.STALE_DRY_RUN)
    allow_ids: tuple[str, ...] = declared(settings.STALE_ALLOW_IDS)
    allow_title_patterns: tuple[str, ...] = declared(settings.STALE_ALLOW_TITLE)
    deny_ids: tuple[str, ...] = declared(settings.STALE_DENY_IDS)
    deny_title_patterns: tuple[str, ...] = declared(settings.STALE_DENY_TITLE)
    max_sync_age_hours: float | None = declared(settings.STALE_MAX_SYNC_AGE_HOURS)

    def __post_init__(self) -> None:
        days = self.stale_after_days
        if isinstance(days, bool) or int(days) < 1:
            raise ConfigError(f"stale_after_days must be at least 1, got {days!r}")
        if int(days) > MAX_DAYS:
            raise ConfigError(f"stale_after_days must be at most {MAX_DAYS}, got {days!r}")
        if isinstance(self.max_deactivations, bool) or int(self.max_deactivations) < 0:
            raise ConfigError(f"max_deactivations must be 0 or more, got {self.max_deactivations!r}")
        hours = self.max_sync_age_hours
        if hours is not None and hours <= 0:
            raise ConfigError(f"max_sync_age_hours must be positive (or None), got {hours!r}")
        if hours is not None and not hours <= MAX_DAYS * 24:  # NaN and inf too
            raise ConfigError(f"max_sync_age_hours must be at most {MAX_DAYS * 24}, got {hours!r}")
        for field_name in _LISTS:
            value = getattr(self, field_name)
            if isinstance(value, str):
                raise ConfigError(f"{field_name} must be a list of strings, not one string")
            object.__setattr__(self, field_name, tuple(value))
        for pattern in (*self.allow_title_patterns, *self.deny_title_patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"title pattern {pattern!r} is not a valid regular expression: {exc}"
                ) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StalePolicy:
        """The policy the RTK_STALE_* variables set (the process environment by default)."""
        return load(cls, env)

    def overlay(
        self,
        *,
        stale_after_days: int | None = None,
        max_deactivations: int | None = None,
        dry_run: bool | None = None,
        max_sync_age_hours: float | None = None,
        **lists: Iterable[str] | None,
    ) -> StalePolicy:
        """This policy with a caller's settings on top (the one rule the CLI and Dagster share): a setting
        given (not None) replaces this one; allow and deny lists add up; dry run only ever switches on."""
        unknown = set(lists) - set(_LISTS)
        if unknown:
            raise TypeError(f"unknown policy setting(s): {', '.join(sorted(unknown))}")
        merged = {
            name: tuple(dict.fromkeys((*getattr(self, name), *(lists.get(name) or ())))) for name in _LISTS
        }
        return dataclasses.replace(
            self,
            stale_after_days=self.stale_after_days if stale_after_days is None else stale_after_days,
            max_deactivations=self.max_deactivations if max_deactivations is None else max_deactivations,
            dry_run=self.dry_run or bool(dry_run),
            max_sync_age_hours=self.max_sync_age_hours if max_sync_age_hours is None else max_sync_age_hours,
            **merged,
        )

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `deactivate_stale`."""
        return dataclasses.asdict(self)

    def screen(self, meeting_id: str, title: str | None) -> tuple[Outcome, str] | None:
        """(decision, detail) when the allow/deny lists rule the meeting out; deny always wins."""
        if meeting_id in self.deny_ids:
            return Outcome.SKIP_DENIED, "meeting id is on the deny list"
        for pattern in self.deny_title_patterns:
            if title is not None and re.search(pattern, title):
                return Outcome.SKIP_DENIED, f"title matches deny pattern {pattern!r}"
        if self.allow_ids or self.allow_title_patterns:
            allowed = meeting_id in self.allow_ids or any(
                title is not None and re.search(pattern, title) for pattern in self.allow_title_patterns
            )
            if not allowed:
                return Outcome.SKIP_NOT_ALLOWED, "an allow list is set and the meeting matches none of it"
        return None
