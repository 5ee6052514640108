"""Stale-meeting deactivation: find ACTIVE meetings nobody has touched for a while and PATCH them INACTIVE.

A wrong deactivation locks people out of their meeting room, so every step leans towards *not* acting:
candidates come from the warehouse view analysts see (`stale_candidates`), each one is re-read live and
skipped on any sign of activity since the sync, deny lists always win, a run deactivates at most N
meetings, and every decision lands in the `meeting_deactivations` audit table. The row for a PATCH is
written as `pending` before the request goes out and finalized after, so a run killed halfway leaves an
audit that tells the truth, and the next run resolves the pending row from the live state instead of
PATCHing again. No Dagster here: the CLI and the Dagster job both call `deactivate_stale`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from rtk_pipeline.errors import (
    APIError,
    AuthError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    RTKError,
)
from rtk_pipeline.normalize import normalize_meetings, parse_timestamp, scrub_text

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_DAYS = 30
DEFAULT_MAX_DEACTIVATIONS = 50
DEFAULT_MAX_SYNC_AGE_HOURS = 48.0
# A run stops (leaving the rest for the next tick) once the client has seen this many 429s, or after this
# many API failures in a row: hammering a throttled or broken API only extends the lockout.
THROTTLED_STOP_AFTER = 3
FAILURES_STOP_AFTER = 3
# The only body ever sent. Users cannot join an INACTIVE meeting; nothing else about it may change.
PATCH_BODY: Mapping[str, str] = {"status": "INACTIVE"}
# Live records written into `meetings` per upsert (each rewrites Parquet day files): a deactivation shows
# in the table within this many decisions, and at the latest when the run ends.
REFRESH_BATCH = 10

# Decisions, as stored in meeting_deactivations.decision.
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
RETRY_SOON = frozenset({FAILED, PENDING, SKIP_CAP, SKIP_THROTTLED, SKIP_UNHEALTHY, SKIP_PENDING})

_AUDIT_COLUMNS = (
    "attempt_id",
    "run_id",
    "meeting_id",
    "title",
    "last_activity_at",
    "threshold_days",
    "as_of",
    "decision",
    "dry_run",
    "http_status",
    "detail",
    "error",
    "recorded_at",
    "decided_at",
)
_ERROR_MAX_CHARS = 500


class DeactivationBusyError(RTKError):
    """Another deactivation run holds this warehouse's lock; two runs at once could PATCH a meeting twice."""


class WarehouseNotFreshError(RTKError):
    """The warehouse is too old to judge staleness from; the message says which sync is missing."""


def _now() -> datetime:
    return datetime.now(UTC)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _env_float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in {"off", "none", "never"}:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of hours (or 'off'), got {raw!r}") from None


def env_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Parse an on/off environment variable; anything unrecognized is a ConfigError, never a guess."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


@dataclass(frozen=True)
class StalePolicy:
    """Everything that decides which meetings may be deactivated; field names match `deactivate_stale`."""

    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS
    max_deactivations: int = DEFAULT_MAX_DEACTIVATIONS
    dry_run: bool = False
    allow_ids: tuple[str, ...] = ()
    allow_title_patterns: tuple[str, ...] = ()
    deny_ids: tuple[str, ...] = ()
    deny_title_patterns: tuple[str, ...] = ()
    max_sync_age_hours: float | None = DEFAULT_MAX_SYNC_AGE_HOURS

    def __post_init__(self) -> None:
        if isinstance(self.stale_after_days, bool) or int(self.stale_after_days) < 1:
            raise ConfigError(f"stale_after_days must be at least 1, got {self.stale_after_days!r}")
        if isinstance(self.max_deactivations, bool) or int(self.max_deactivations) < 0:
            raise ConfigError(f"max_deactivations must be 0 or more, got {self.max_deactivations!r}")
        if self.max_sync_age_hours is not None and self.max_sync_age_hours <= 0:
            raise ConfigError(
                f"max_sync_age_hours must be positive (or None), got {self.max_sync_age_hours!r}"
            )
        for field_name in ("allow_ids", "allow_title_patterns", "deny_ids", "deny_title_patterns"):
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
        """RTK_STALE_AFTER_DAYS, RTK_STALE_MAX_PER_RUN, RTK_STALE_DRY_RUN, RTK_STALE_{ALLOW,DENY}_IDS
        (comma-separated), RTK_STALE_{ALLOW,DENY}_TITLE (one regex each), RTK_STALE_MAX_SYNC_AGE_HOURS."""
        env = os.environ if env is None else env
        allow_title = env.get("RTK_STALE_ALLOW_TITLE", "").strip()
        deny_title = env.get("RTK_STALE_DENY_TITLE", "").strip()
        for name, pattern in (("RTK_STALE_ALLOW_TITLE", allow_title), ("RTK_STALE_DENY_TITLE", deny_title)):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
        return cls(
            stale_after_days=_env_int(env, "RTK_STALE_AFTER_DAYS", DEFAULT_STALE_AFTER_DAYS),
            max_deactivations=_env_int(env, "RTK_STALE_MAX_PER_RUN", DEFAULT_MAX_DEACTIVATIONS),
            dry_run=env_flag(env, "RTK_STALE_DRY_RUN", False),
            allow_ids=_split_list(env.get("RTK_STALE_ALLOW_IDS", "")),
            allow_title_patterns=(allow_title,) if allow_title else (),
            deny_ids=_split_list(env.get("RTK_STALE_DENY_IDS", "")),
            deny_title_patterns=(deny_title,) if deny_title else (),
            max_sync_age_hours=_env_float(env, "RTK_STALE_MAX_SYNC_AGE_HOURS", DEFAULT_MAX_SYNC_AGE_HOURS),
        )

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `deactivate_stale`."""
        return dataclasses.asdict(self)

    def screen(self, meeting_id: str, title: str | None) -> tuple[str, str] | None:
        """(decision, detail) when the allow/deny lists rule the meeting out; deny always wins."""
        if meeting_id in self.deny_ids:
            return SKIP_DENIED, "meeting id is on the deny list"
        for pattern in self.deny_title_patterns:
            if title is not None and re.search(pattern, title):
                return SKIP_DENIED, f"title matches deny pattern {pattern!r}"
        if self.allow_ids or self.allow_title_patterns:
            allowed = meeting_id in self.allow_ids or any(
                title is not None and re.search(pattern, title) for pattern in self.allow_title_patterns
            )
            if not allowed:
                return SKIP_NOT_ALLOWED, "an allow list is set and the meeting matches none of it"
        return None


@dataclass(frozen=True)
class Candidate:
    """One row of the warehouse's stale_candidates(threshold_days, as_of): the snapshot a decision uses."""

    meeting_id: str
    title: str | None
    status: str | None
    updated_at: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True)
class Decision:
    """One audit row of meeting_deactivations."""

    meeting_id: str
    title: str | None
    last_activity_at: datetime | None
    threshold_days: int
    decision: str
    dry_run: bool
    http_status: int | None
    error: str | None
    detail: str | None
    decided_at: datetime
    run_id: str
    as_of: datetime
    attempt_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def skipped(self) -> bool:
        return self.decision.startswith("skipped:")


def _error_text(exc: BaseException) -> str:
    """What goes into the audit: the typed error's message (method, path, status), secrets redacted."""
    text = str(exc) if isinstance(exc, RTKError) else f"{type(exc).__name__}: {exc}"
    return scrub_text(text, _ERROR_MAX_CHARS) or ""


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return parse_timestamp(value)


def find_candidates(warehouse, *, stale_after_days: int, as_of: datetime | None = None) -> list[Candidate]:
    """Stale meetings according to the warehouse, most stale first (the order the cap takes them in).

    Read through the `stale_candidates` macro so the list is the one analysts query. The Python side
    re-checks status and threshold: a view bug must not widen what gets deactivated.
    """
    as_of = _as_utc(as_of) or _now()
    cutoff = as_of - timedelta(days=stale_after_days)
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT meeting_id, title, status, updated_at, last_activity_at "
            "FROM stale_candidates(?, ?) ORDER BY last_activity_at, meeting_id",
            [int(stale_after_days), as_of],
        ).fetchall()
    candidates = []
    for meeting_id, title, status, updated_at, last_activity_at in rows:
        last = _as_utc(last_activity_at)
        if status != "ACTIVE" or last is None or last >= cutoff:
            log.warning(
                "stale_candidates returned %s (status=%s, last activity %s); ignored",
                meeting_id,
                status,
                last,
            )
            continue
        candidates.append(Candidate(meeting_id, title, status, _as_utc(updated_at), last))
    return candidates


def _snapshot_rows(warehouse, meeting_ids: Iterable[str]) -> dict[str, Candidate]:
    """Warehouse view of meetings that are not (or no longer) candidates, so their audit rows are complete."""
    ids = sorted(set(meeting_ids))
    if not ids:
        return {}
    with warehouse.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT meeting_id, title, status, updated_at, last_activity_at FROM meeting_last_activity "
            "WHERE list_contains(?, meeting_id)",
            [ids],
        ).fetchall()
    return {row[0]: Candidate(row[0], row[1], row[2], _as_utc(row[3]), _as_utc(row[4])) for row in rows}


def freshness_problem(
    warehouse, *, max_sync_age_hours: float | None = DEFAULT_MAX_SYNC_AGE_HOURS, now: datetime | None = None
) -> str | None:
    """Why the warehouse is too old to judge staleness from, or None when it is fresh enough.

    Staleness is only as good as the last sync: a meeting used yesterday looks stale in a warehouse
    synced last month. Both tables must have a successful sync that finished within the window.
    """
    if max_sync_age_hours is None:
        return None
    now = _as_utc(now) or _now()
    oldest_ok = now - timedelta(hours=max_sync_age_hours)
    with warehouse.connect(read_only=True) as con:
        rows = dict(
            con.execute(
                "SELECT table_name, max(finished_at) FROM sync_runs WHERE outcome = 'success' "
                "AND table_name IN ('meetings', 'participants') GROUP BY table_name"
            ).fetchall()
        )
    for table in ("meetings", "participants"):
        finished = _as_utc(rows.get(table))
        if finished is None:
            return f"no successful {table} sync recorded yet; sync before deactivating"
        if finished < oldest_ok:
            return (
                f"last successful {table} sync finished {finished:%Y-%m-%d %H:%M} UTC, more than "
                f"{max_sync_age_hours:g} h ago; the warehouse is too old to judge staleness"
            )
    return None


def latest_decisions(warehouse, requested: Mapping[str, datetime]) -> dict[str, str]:
    """For each meeting id, its latest decision recorded at or after the given time (absent if none).

    The sensor uses this to tell meetings worth requesting again (failed, never judged) from those that
    were judged and should wait out a cool-down.
    """
    if not requested:
        return {}
    ids = list(requested)
    since = [_as_utc(requested[i]) for i in ids]
    with warehouse.connect(read_only=True) as con:
        try:
            rows = con.execute(
                "WITH req AS (SELECT unnest(?) AS meeting_id, unnest(?::TIMESTAMPTZ[]) AS since) "
                "SELECT d.meeting_id, arg_max(d.decision, d.decided_at) FROM meeting_deactivations d "
                "JOIN req ON d.meeting_id = req.meeting_id AND d.recorded_at >= req.since "
                "GROUP BY d.meeting_id",
                [ids, since],
            ).fetchall()
        except duckdb.CatalogException:  # a warehouse that no deactivation run has touched yet
            return {}
    return dict(rows)


class _Run:
    """State of one deactivation run: counters, the audit buffer, and the stop condition."""

    def __init__(self, client, warehouse, policy: StalePolicy, run_id: str, as_of: datetime) -> None:
        self.client = client
        self.warehouse = warehouse
        self.policy = policy
        self.run_id = run_id
        self.as_of = as_of
        self.cutoff = as_of - timedelta(days=policy.stale_after_days)
        self.decisions: list[Decision] = []
        self.buffer: list[Decision] = []  # new rows not yet written
        self.finals: list[Decision] = []  # outcomes of written pending rows not yet written
        self.deactivations = 0
        self.failures_in_a_row = 0
        self.stop: tuple[str, str] | None = None
        self.throttled_at_start = client.stats.throttled
        self.refresh: dict[str, dict] = {}  # live meeting records the `meetings` table should get

    # -- audit -------------------------------------------------------------------------------------
    def decide(
        self, candidate: Candidate, decision: str, *, detail=None, http_status=None, error=None
    ) -> Decision:
        row = Decision(
            meeting_id=candidate.meeting_id,
            title=candidate.title,
            last_activity_at=candidate.last_activity_at,
            threshold_days=self.policy.stale_after_days,
            decision=decision,
            dry_run=self.policy.dry_run,
            http_status=http_status,
            error=error,
            detail=detail,
            decided_at=_now(),
            run_id=self.run_id,
            as_of=self.as_of,
        )
        self.decisions.append(row)
        if decision != PENDING:
            self.buffer.append(row)
        return row

    def flush(self, pending: Decision | None = None) -> None:
        """One audit transaction: outcomes of earlier attempts, buffered decisions, and the pending row of
        the PATCH about to be sent (which must be on disk before the request leaves).

        An outcome waits here at most until the next PATCH or the end of the run; a run killed in
        between leaves its row pending, and the next run settles it from the meeting's live status.
        """
        rows = [*self.buffer, *([pending] if pending else [])]
        if not rows and not self.finals:
            return
        with self.warehouse.transaction() as con:
            if self.finals:
                con.executemany(
                    "UPDATE meeting_deactivations SET decision = ?, http_status = ?, detail = ?, error = ?, "
                    "decided_at = ? WHERE attempt_id = ?",
                    [
                        [r.decision, r.http_status, r.detail, r.error, r.decided_at, r.attempt_id]
                        for r in self.finals
                    ],
                )
            if rows:
                con.executemany(
                    f"INSERT INTO meeting_deactivations ({', '.join(_AUDIT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in _AUDIT_COLUMNS)})",
                    [_audit_values(row) for row in rows],
                )
        self.buffer.clear()
        self.finals.clear()

    def finalize(
        self, pending: Decision, decision: str, *, detail=None, http_status=None, error=None
    ) -> None:
        """Settle the pending row of an attempt (same attempt_id); written with the next flush."""
        final = dataclasses.replace(
            pending, decision=decision, detail=detail, http_status=http_status, error=error, decided_at=_now()
        )
        self.decisions[self.decisions.index(pending)] = final
        self.finals.append(final)

    # -- API bookkeeping ---------------------------------------------------------------------------
    def api_failed(self, exc: APIError | None = None) -> None:
        self.failures_in_a_row += 1
        if isinstance(exc, RateLimitedError):
            self.stop = (SKIP_THROTTLED, "stopped early: the API kept answering 429; left for the next tick")
        elif isinstance(exc, AuthError):
            self.stop = (SKIP_UNHEALTHY, "stopped early: the API rejected the credentials")
        elif self.failures_in_a_row >= FAILURES_STOP_AFTER:
            self.stop = (
                SKIP_UNHEALTHY,
                f"stopped early after {self.failures_in_a_row} API failures in a row",
            )

    def api_ok(self) -> None:
        """A meeting was judged end to end: the failure streak (counted per meeting, not per request)
        is broken."""
        self.failures_in_a_row = 0

    def check_throttle(self) -> None:
        if (
            self.stop is None
            and self.client.stats.throttled - self.throttled_at_start >= THROTTLED_STOP_AFTER
        ):
            self.stop = (
                SKIP_THROTTLED,
                "stopped early: the API answered 429 repeatedly; left for the next tick",
            )

    def refresh_warehouse(self, *, at_least: int = 1) -> None:
        """Write the live meeting records seen so far into `meetings` (PATCH answers included), so the
        table shows a deactivation without waiting for the next sync. Batched (`at_least`): each write
        rewrites Parquet day files. A failure is logged, not raised: the PATCHes stand, and the next sync
        or run (which sees the live status) repairs the rows.
        """
        if len(self.refresh) < at_least:
            return
        records, self.refresh = list(self.refresh.values()), {}
        try:
            normalized = normalize_meetings(records, synced_at=_now())
            if normalized.rejected.num_rows:
                log.warning("%d live meeting record(s) rejected by normalize", normalized.rejected.num_rows)
            if normalized.batch.num_rows:
                self.warehouse.upsert_meetings(normalized.batch)
        except Exception as exc:
            log.error("meetings table not updated with %d live record(s): %s", len(records), _error_text(exc))

    # -- one candidate -----------------------------------------------------------------------------
    def live_check(self, candidate: Candidate) -> tuple[str, str] | dict:
        """Re-read the meeting and its participants; a (decision, detail) to skip, or the live record."""
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError as exc:
            self.api_failed(exc)
            return FAILED, exc
        status = live.get("status")
        if status != "ACTIVE":
            self.refresh[candidate.meeting_id] = live
            return SKIP_NOT_ACTIVE, f"live status is {status!r}"
        snapshot = candidate.updated_at or candidate.last_activity_at
        try:
            live_updated = parse_timestamp(live.get("updated_at"))
        except (TypeError, ValueError):
            return SKIP_UNVERIFIABLE, "live updated_at is missing or unparseable"
        if live_updated > snapshot or live_updated >= self.cutoff:
            self.refresh[candidate.meeting_id] = live
            return (
                SKIP_CHANGED,
                f"live updated_at {live_updated:%Y-%m-%dT%H:%M:%SZ} is newer than the snapshot",
            )
        # Adding or editing a participant does not have to touch the meeting's updated_at, and old
        # partitions are not re-synced daily: one listing (usually one request) per meeting that is
        # about to be locked is cheap insurance against deactivating a room someone was just invited to.
        try:
            latest = None
            for page in self.client.iter_participant_pages(candidate.meeting_id):
                for record in page.records:
                    for key in ("created_at", "updated_at"):
                        if record.get(key) is not None:
                            ts = parse_timestamp(record[key])
                            latest = ts if latest is None or ts > latest else latest
        except APIError as exc:
            self.api_failed(exc)
            return FAILED, exc
        except (TypeError, ValueError):
            return SKIP_UNVERIFIABLE, "a participant timestamp is unparseable"
        if latest is not None and (latest > candidate.last_activity_at or latest >= self.cutoff):
            return SKIP_PARTICIPANTS, f"live participant activity at {latest:%Y-%m-%dT%H:%M:%SZ}"
        return live

    def process(self, candidate: Candidate) -> None:
        screened = self.policy.screen(candidate.meeting_id, candidate.title)
        if screened:
            self.decide(candidate, screened[0], detail=screened[1])
            return
        if self.stop:
            self.decide(candidate, self.stop[0], detail=self.stop[1])
            return
        if self.deactivations >= self.policy.max_deactivations:
            self.decide(candidate, SKIP_CAP, detail=f"cap of {self.policy.max_deactivations} per run reached")
            return
        outcome = self.live_check(candidate)
        self.check_throttle()
        if isinstance(outcome, tuple):
            decision, why = outcome
            if isinstance(why, APIError):
                self.decide(candidate, decision, http_status=why.status, error=_error_text(why))
            else:
                self.api_ok()
                self.decide(candidate, decision, detail=why)
            return
        if self.policy.dry_run:
            self.api_ok()
            self.deactivations += 1
            self.decide(candidate, WOULD_DEACTIVATE, detail="dry run: no PATCH sent")
            return
        self.patch(candidate)
        self.check_throttle()

    def patch(self, candidate: Candidate) -> None:
        pending = self.decide(candidate, PENDING, detail="PATCH about to be sent")
        self.flush(pending)
        try:
            response = self.client.update_meeting(candidate.meeting_id, dict(PATCH_BODY))
        except APIError as exc:
            self.api_failed(exc)
            if isinstance(exc, NotFoundError | BadRequestError | AuthError | RateLimitedError):
                self.finalize(pending, FAILED, http_status=exc.status, error=_error_text(exc))
                return
            # 5xx, a dropped connection or a garbled 2xx: the PATCH may have been applied. Look.
            self.confirm_after_error(candidate, pending, exc)
            return
        self.api_ok()
        if response.get("id") != candidate.meeting_id or response.get("status") != "INACTIVE":
            self.api_failed()
            self.finalize(
                pending,
                FAILED,
                http_status=200,
                error=f"PATCH answered id={response.get('id')!r} status={response.get('status')!r}",
            )
            return
        self.deactivations += 1
        self.refresh[candidate.meeting_id] = response
        self.finalize(pending, DEACTIVATED, http_status=200, detail="PATCH confirmed status INACTIVE")

    def confirm_after_error(self, candidate: Candidate, pending: Decision, exc: APIError) -> None:
        try:
            live = self.client.get_meeting(candidate.meeting_id)
        except APIError:
            self.finalize(pending, FAILED, http_status=exc.status, error=_error_text(exc))
            return
        if live.get("status") == "INACTIVE":
            self.deactivations += 1
            self.refresh[candidate.meeting_id] = live
            detail = "PATCH answer lost; a GET confirmed status INACTIVE"
            self.finalize(pending, DEACTIVATED, http_status=200, detail=detail)
            return
        self.finalize(pending, FAILED, http_status=exc.status, error=_error_text(exc))

    # -- pending rows left by a killed run ---------------------------------------------------------
    def resolve_pending(self) -> set[str]:
        """Finalize pending rows of earlier runs from the live state; ids that could not be resolved.

        The run lock guarantees no other run is mid-PATCH, so a pending row here is from a run that
        died between writing it and finalizing it: INACTIVE now means its PATCH landed (never send
        another); ACTIVE means it did not, and the meeting is judged again in this run.
        """
        with self.warehouse.connect(read_only=True) as con:
            rows = con.execute(
                f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM meeting_deactivations "
                "WHERE decision = 'pending' ORDER BY recorded_at"
            ).fetchall()
        unresolved = set()
        for row in rows:
            pending = _decision_from_row(dict(zip(_AUDIT_COLUMNS, row, strict=True)))
            self.decisions.append(pending)
            try:
                live = self.client.get_meeting(pending.meeting_id)
            except APIError as exc:
                self.api_failed(exc)
                if isinstance(exc, NotFoundError):
                    self.finalize(pending, FAILED, http_status=404, error=_error_text(exc))
                else:
                    unresolved.add(pending.meeting_id)
                    self.decisions.remove(pending)
                continue
            self.api_ok()
            if live.get("status") == "INACTIVE":
                self.refresh[pending.meeting_id] = live
                detail = f"run interrupted after the PATCH; run {self.run_id} saw status INACTIVE"
                self.finalize(pending, DEACTIVATED, http_status=200, detail=detail)
            else:
                self.finalize(
                    pending,
                    FAILED,
                    http_status=200,
                    error="run interrupted before the PATCH took effect "
                    f"(live status {live.get('status')!r}); will be retried",
                )
        self.flush()
        self.refresh_warehouse()  # before candidates are read: resolved meetings are not judged again
        return unresolved


def _audit_values(row: Decision) -> list[Any]:
    return [
        row.attempt_id,
        row.run_id,
        row.meeting_id,
        row.title,
        row.last_activity_at,
        row.threshold_days,
        row.as_of,
        row.decision,
        row.dry_run,
        row.http_status,
        row.detail,
        row.error,
        row.decided_at,
        row.decided_at,
    ]


def _decision_from_row(row: dict[str, Any]) -> Decision:
    return Decision(
        meeting_id=row["meeting_id"],
        title=row["title"],
        last_activity_at=_as_utc(row["last_activity_at"]),
        threshold_days=row["threshold_days"],
        decision=row["decision"],
        dry_run=row["dry_run"],
        http_status=row["http_status"],
        error=row["error"],
        detail=row["detail"],
        decided_at=_as_utc(row["decided_at"]),
        run_id=row["run_id"],
        as_of=_as_utc(row["as_of"]),
        attempt_id=row["attempt_id"],
    )


def run_lock_path(warehouse) -> Path:
    """One deactivation run per warehouse at a time (CLI and Dagster alike); the OS drops it if we die."""
    return Path(f"{warehouse.duckdb_path}.deactivate.lock")


def deactivate_stale(
    client,
    warehouse,
    *,
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS,
    max_deactivations: int = DEFAULT_MAX_DEACTIVATIONS,
    dry_run: bool = False,
    allow_ids: Sequence[str] = (),
    allow_title_patterns: Sequence[str] = (),
    deny_ids: Sequence[str] = (),
    deny_title_patterns: Sequence[str] = (),
    candidate_ids: Sequence[str] | None = None,
    run_id: str | None = None,
    as_of: datetime | None = None,
    max_sync_age_hours: float | None = DEFAULT_MAX_SYNC_AGE_HOURS,
) -> list[Decision]:
    """Deactivate the warehouse's stale meetings, with guards; every decision is audited and returned.

    `candidate_ids` restricts the run to those meetings (the sensor's request); ids that are not
    stale in the warehouse any more are audited as skipped. `as_of` moves "now" for the staleness
    threshold only. Raises WarehouseNotFreshError when no recent successful sync backs the judgement,
    DeactivationBusyError when another run holds this warehouse.
    """
    policy = StalePolicy(
        stale_after_days=stale_after_days,
        max_deactivations=max_deactivations,
        dry_run=dry_run,
        allow_ids=tuple(allow_ids),
        allow_title_patterns=tuple(allow_title_patterns),
        deny_ids=tuple(deny_ids),
        deny_title_patterns=tuple(deny_title_patterns),
        max_sync_age_hours=max_sync_age_hours,
    )
    as_of = _as_utc(as_of) or _now()
    if as_of > _now() + timedelta(minutes=5):
        # A future "now" would call meetings stale before they are: never an acceptable way to run.
        raise ConfigError(f"as_of {as_of:%Y-%m-%d %H:%M} UTC is in the future")
    run = _Run(client, warehouse, policy, run_id or uuid.uuid4().hex, as_of)
    lock = FileLock(run_lock_path(warehouse), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise DeactivationBusyError(
            f"another deactivation run holds {run_lock_path(warehouse)}; try again when it has finished"
        ) from None
    try:
        warehouse.ensure_schema()  # an older warehouse file may predate the audit table
        problem = freshness_problem(warehouse, max_sync_age_hours=policy.max_sync_age_hours)
        if problem:
            raise WarehouseNotFreshError(problem)
        unresolved = set() if policy.dry_run else run.resolve_pending()
        candidates = find_candidates(warehouse, stale_after_days=policy.stale_after_days, as_of=as_of)
        if candidate_ids is not None:
            wanted = list(dict.fromkeys(candidate_ids))
            by_id = {c.meeting_id: c for c in candidates}
            snapshots = _snapshot_rows(warehouse, [i for i in wanted if i not in by_id])
            for meeting_id in wanted:
                if meeting_id not in by_id:
                    snap = snapshots.get(meeting_id) or Candidate(meeting_id, None, None, None, None)
                    run.decide(snap, SKIP_NOT_STALE, detail="not a stale ACTIVE meeting in the warehouse now")
            candidates = [by_id[i] for i in wanted if i in by_id]
        try:
            for candidate in candidates:
                if candidate.meeting_id in unresolved:
                    run.decide(candidate, SKIP_PENDING, detail="an earlier attempt is still unresolved")
                    continue
                run.process(candidate)
                run.refresh_warehouse(at_least=REFRESH_BATCH)
        finally:
            run.flush()
            run.refresh_warehouse()
    finally:
        lock.release()
    log.info("deactivate_stale run %s: %s", run.run_id, summarize(run.decisions))
    return run.decisions


def summarize(decisions: Iterable[Decision]) -> dict[str, int]:
    """Decision -> count, for logs, Dagster metadata and the CLI footer."""
    return dict(Counter(d.decision for d in decisions))


_STYLE = {DEACTIVATED: "bold green", WOULD_DEACTIVATE: "cyan", FAILED: "bold red", PENDING: "yellow"}


def print_decisions(decisions: Sequence[Decision], console=None) -> None:
    """Print the decisions as a table, with a one-line summary."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    dry = any(d.dry_run for d in decisions)
    table = Table(title="Stale-meeting deactivation" + (" (dry run: no PATCH sent)" if dry else ""))
    for column in ("meeting id", "title", "last activity (UTC)", "decision", "HTTP", "detail / error"):
        table.add_column(column, overflow="fold")
    for d in decisions:
        style = _STYLE.get(d.decision, "dim" if d.skipped else "")
        table.add_row(
            d.meeting_id,
            (d.title or "")[:40],
            f"{d.last_activity_at:%Y-%m-%d %H:%M}" if d.last_activity_at else "",
            f"[{style}]{d.decision}[/]" if style else d.decision,
            str(d.http_status or ""),
            d.error or d.detail or "",
        )
    if decisions:
        console.print(table)
    counts = summarize(decisions)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no stale meetings"
    console.print(f"{len(decisions)} decision(s): {summary}")


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Extra `deactivate-stale` flags (the allow/deny lists); the lead's parser owns --stale-after-days,
    --max and --dry-run. Flags add to the RTK_STALE_* environment settings."""
    parser.add_argument(
        "--deny-id", action="append", default=[], metavar="ID", help="never touch this meeting"
    )
    parser.add_argument(
        "--deny-title",
        action="append",
        default=[],
        metavar="REGEX",
        help="never touch meetings whose title matches",
    )
    parser.add_argument(
        "--allow-id", action="append", default=[], metavar="ID", help="only consider these ids"
    )
    parser.add_argument(
        "--allow-title", action="append", default=[], metavar="REGEX", help="only consider matching titles"
    )
    parser.add_argument(
        "--meeting", action="append", default=None, metavar="ID", help="restrict the run to these meeting ids"
    )
    parser.add_argument(
        "--max-sync-age-hours",
        type=float,
        default=None,
        metavar="H",
        help=f"refuse to run when the last successful sync is older (default {DEFAULT_MAX_SYNC_AGE_HOURS:g})",
    )


def kwargs_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`deactivate_stale` keyword arguments from RTK_STALE_* settings overlaid with parsed CLI flags.

    Deny and allow lists are unions; --dry-run can only switch a dry run on, never off.
    """
    policy = StalePolicy.from_env(env)
    days = getattr(args, "stale_after_days", None)
    cap = getattr(args, "max", None)
    if cap is None:
        cap = getattr(args, "max_deactivations", None)
    hours = getattr(args, "max_sync_age_hours", None)
    policy = dataclasses.replace(
        policy,
        stale_after_days=policy.stale_after_days if days is None else days,
        max_deactivations=policy.max_deactivations if cap is None else cap,
        dry_run=policy.dry_run or bool(getattr(args, "dry_run", False)),
        deny_ids=(*policy.deny_ids, *getattr(args, "deny_id", [])),
        deny_title_patterns=(*policy.deny_title_patterns, *getattr(args, "deny_title", [])),
        allow_ids=(*policy.allow_ids, *getattr(args, "allow_id", [])),
        allow_title_patterns=(*policy.allow_title_patterns, *getattr(args, "allow_title", [])),
        max_sync_age_hours=policy.max_sync_age_hours if hours is None else hours,
    )
    kwargs = policy.kwargs()
    meetings = getattr(args, "meeting", None)
    if meetings:
        kwargs["candidate_ids"] = list(meetings)
    return kwargs
