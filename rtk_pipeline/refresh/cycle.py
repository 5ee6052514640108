"""What a full refresh cycle costs, and where a windowed meetings listing cuts the timeline
(ARCHITECTURE.md, "Refresh").

When one listing of every meeting costs more than a run's listing share (half its budget), the refresh lists
one stretch of time after another across runs, resuming where the last run stopped. Windows are cut from the
stored meetings' `created_at`: consecutive whole UTC days gathered to about a page each, and a day that alone
holds more than a share's pages cut inside the day, at stored creation instants, into pieces that each fit a
share (with a tenth of a page to spare for meetings created since). So every window fits one run's share and
a cycle advances whatever the app's busiest day: a day never needs more than one run can spend. Only a single
instant holding more meetings than a share can list is not cut (no API filter can split it).

Windows tile the timeline: each starts where the previous one ended, the cycle's first is open at the start
and its last is open at the end, so a cycle covers every instant whatever timestamp the API's window filters
on (an instant on a boundary may be listed by both windows; rows are replaced by id).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from rtk_pipeline.refresh.cost import PAGE_SIZE, MeetingState, due, listing_pages, listing_share, pages

Window = tuple[datetime | None, datetime | None]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_pieces(stamps: list[datetime], share: int) -> Iterator[tuple[datetime, int]]:
    """(end, rows) of one big day's pieces, cut at stored creation instants, each within `share` pages;
    the last piece ends at the next midnight."""
    limit = max(1, share * PAGE_SIZE - PAGE_SIZE // 10)
    start = 0
    for n in range(limit, len(stamps), limit):
        if stamps[n] > stamps[start]:  # never a window of one instant's length
            yield stamps[n], n - start
            start = n
    yield _midnight(stamps[0].date()) + timedelta(days=1), len(stamps) - start


def pieces(created: list[datetime], share: int) -> Iterator[tuple[datetime, int]]:
    """(end, rows) of the consecutive pieces the sorted creation instants `created` fall into: whole days
    gathered to about a page, and a day of more than `share` pages cut into pieces of its own."""
    rows = 0
    for day, group in itertools.groupby(created, key=lambda t: t.date()):
        stamps = list(group)
        if rows and pages(rows + len(stamps)) > share:  # the days gathered so far fit; with this one not
            yield _midnight(day), rows
            rows = 0
        if pages(len(stamps)) > share:
            yield from _day_pieces(stamps, share)
            continue
        rows += len(stamps)
        if rows >= PAGE_SIZE:
            yield _midnight(day) + timedelta(days=1), rows
            rows = 0
    if rows:
        yield _midnight(created[-1].date()) + timedelta(days=1), rows


def runs(created: list[datetime], cursor: datetime | None, share: int) -> Iterator[list[tuple[Window, int]]]:
    """The windows (with their estimated pages) of each run from `cursor` (None: the cycle's start) to the
    cycle's end, a share's pages per run (a run's first window is always taken)."""
    pending = [t for t in created if cursor is None or t >= cursor]
    run: list[tuple[Window, int]] = []
    spent = 0
    lo = cursor
    for hi, rows in pieces(pending, share):
        cost = pages(rows)
        if run and spent + cost > share:
            yield run
            run, spent = [], 0
        run.append(((lo, hi), cost))
        spent += cost
        lo = hi
    if run:  # the cycle's last window: open to now, so a meeting created since is in it
        (start, _), cost = run.pop()
        run.append(((start, None), cost))
    else:
        run = [((lo, None), 1)]
    yield run


def next_windows(created: list[datetime], cursor: datetime | None, share: int) -> list[Window]:
    """This run's windows, from `cursor`."""
    return [window for window, _ in next(runs(created, cursor, share))]


def created(meetings: list[MeetingState]) -> list[datetime]:
    """The stored meetings' creation instants, sorted: what the windows are cut from."""
    return sorted(m.created_at for m in meetings)


@dataclass(frozen=True)
class Cycle:
    """A full cycle: every due meeting's participants listed once, with the meetings listings it takes."""

    requests: int
    runs: int


def cycle(meetings: list[MeetingState], budget: int) -> Cycle:
    """Requests and runs of a full cycle at `budget` per run. A listing that fits `listing_share` is sent
    whole by every run; a larger one advances through its windows across runs, each run's windows within a
    share, and the cycle lasts until both the windows and the participants are through."""
    listing = listing_pages(meetings)
    participant_pages = sum(pages(m.participants) for m in due(meetings))
    share = listing_share(budget)
    if listing <= share:
        runs_needed = max(1, math.ceil(participant_pages / max(1, budget - listing)))
        return Cycle(runs_needed * listing + participant_pages, runs_needed)
    planned = list(runs(created(meetings), None, share))
    window_pages = sum(cost for run in planned for _, cost in run)
    runs_needed = max(len(planned), math.ceil(participant_pages / max(1, budget - share)), 1)
    return Cycle(window_pages + participant_pages, runs_needed)
