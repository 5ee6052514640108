"""Full listings: one page checked for shape, and a walk over every page that proves it saw them all."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from rtk_pipeline.errors import BadResponseError, PagingError

# The GET of one listing page: (path, query params) -> the decoded envelope.
Get = Callable[[str, dict], dict]


@dataclass(slots=True)
class Page:
    """One page of a listing with the server's own paging evidence, so a caller can prove completeness.

    `records` are the raw API records (they may still hold secrets; normalize scrubs them), hence
    left out of the repr.
    """

    records: list[dict] = field(repr=False)
    page_no: int
    total_count: int
    start_offset: int | None
    end_offset: int | None

    @property
    def start(self) -> int:
        """`start_offset` of a page with records (`read_page` proved it is there); 0 for an empty page."""
        return self.start_offset or 0

    @property
    def end(self) -> int:
        """`end_offset` of a page with records (`read_page` proved it is there); 0 for an empty page."""
        return self.end_offset or 0

    def __repr__(self) -> str:
        return (
            f"Page(page_no={self.page_no}, records={len(self.records)}, total_count={self.total_count}, "
            f"start_offset={self.start_offset}, end_offset={self.end_offset})"
        )


@dataclass(frozen=True, slots=True)
class PagingHint:
    """What a walk learnt about one listing kind, for the next walk: the base of `page_no` and the
    per_page cap the server honours (None: it honours what we ask). Replaced whole, never changed, so
    walks on other threads read one consistent hint."""

    base: int = 1
    cap: int | None = None


def _count(paging: Mapping, key: str) -> int | None:
    value = paging.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_page(get: Get, path: str, filters: dict, page_no: int, per_page: int) -> Page:
    """Fetch one page and check it is a well-formed page of at most `per_page` records."""
    envelope = get(path, {**filters, "page_no": page_no, "per_page": per_page})
    records, paging = envelope.get("data"), envelope.get("paging")

    def bad(why: str) -> BadResponseError:
        return BadResponseError(f"page_no={page_no} per_page={per_page}: {why}", method="GET", path=path)

    if not isinstance(records, list):
        raise bad(f"`data` is {type(records).__name__ if records is not None else 'null'}, not a list")
    if not isinstance(paging, dict):
        raise bad("no `paging` object, so the listing cannot be proven complete")
    total, start, end = (_count(paging, k) for k in ("total_count", "start_offset", "end_offset"))
    if total is None:
        raise bad(f"`paging.total_count` is missing or not a count: {paging.get('total_count')!r}")
    if len(records) > per_page:
        raise bad(f"{len(records)} records, more than the {per_page} asked for")
    if not all(isinstance(r, dict) for r in records):
        raise bad("a record is not an object")
    if records and (start is None or end is None or start < 1 or end - start + 1 != len(records)):
        raise bad(f"offsets {start}..{end} do not match {len(records)} records")
    if records and end is not None and end > total:
        raise bad(f"end_offset {end} is beyond total_count {total}")
    return Page(records, page_no, total, start, end)


class PageWalk:
    """One walk through a listing: yields pages in offset order until `end_offset` reaches `total_count`
    or a page comes back empty.

    Neither the base of `page_no` nor the largest `per_page` is documented, so both are learnt from
    the first answer and kept in `hints[kind]` for the next walk of this kind: asked for page 1, a 1-based
    server starts at offset 1, while a 0-based one has handed us its *second* page (start_offset =
    honoured size + 1), and an empty page 1 while total_count > 0 means everything fits on page 0.
    Either way the walk starts again at page 0 and reads forward: pages read out of order would lose a
    row that an insert on top pushes from one page's range into another's between the two reads. A
    non-final page shorter than what we asked for reveals the server's cap, and later pages ask for
    exactly that so the offsets line up. A listing thus costs ceil(rows / honoured size) requests (one
    for an empty listing; one more, once per client, to find a 0-based server). Every later page must
    start right after the previous one and not repeat it, and the page count is bounded by twice what
    the first total_count needs, so a misbehaving server raises PagingError instead of looping.
    """

    __slots__ = ("_filters", "_get", "_hints", "_kind", "_path", "_per_page", "base", "fetched", "size")

    def __init__(
        self, get: Get, path: str, filters: dict, *, per_page: int, kind: str, hints: dict[str, PagingHint]
    ) -> None:
        self._get = get
        self._path = path
        self._filters = filters
        self._per_page = per_page
        self._kind = kind
        self._hints = hints

    def __iter__(self) -> Iterator[Page]:
        hint = self._hints.get(self._kind, PagingHint())  # read when the walk starts, not when it is made
        self.base, self.size, self.fetched = hint.base, hint.cap or self._per_page, 0
        head = self._first()
        yield head
        last = head
        limit = 2 * math.ceil(head.total_count / self.size) + 2
        while last.records and last.end < last.total_count:
            if self.fetched >= limit:
                raise self._error(last, f"still not complete after {self.fetched} pages")
            if last.end % self.size:
                raise self._error(last, f"a page before the end held fewer than {self.size} records")
            page = self._fetch(self.base + last.end // self.size)
            if page.records:
                self._check_follows(last, page)
            yield page
            last = page

    def _fetch(self, page_no: int) -> Page:
        self.fetched += 1
        return read_page(self._get, self._path, self._filters, page_no, self.size)

    def _first(self) -> Page:
        """The page at offset 1, learning the page_no base and the server's cap on the way."""
        head = self._fetch(self.base)
        if head.records and head.start_offset != 1 and self.base == 1:
            self.size = head.start - 1  # page 1 was the second page: its offset tells the honoured size
            self.base = 0
            head = self._fetch(0)
        elif not head.records and head.total_count:
            self.base = 1 - self.base  # everything fits on the page we did not ask for
            head = self._fetch(self.base)
        if head.total_count and not (head.records and head.start_offset == 1):
            raise self._error(head, "no page starts at offset 1")
        if (
            head.end_offset is not None
            and head.end_offset < head.total_count
            and len(head.records) < self.size
        ):
            self.size = len(head.records)  # a non-final page shorter than asked for: the server's cap
        self._hints[self._kind] = PagingHint(self.base, self.size if self.size < self._per_page else None)
        return head

    def _check_follows(self, previous: Page, page: Page) -> None:
        """`page` must start right after `previous` and must not repeat it -- unless data moving between
        the two requests explains the repeat: a page's worth of inserts ahead of it (total_count grew by
        that much), or a single row that moved up (one update in a list ordered by update time shifts
        one-row pages by one). A server that ignores page_no is caught here or by the offsets; any other
        endless listing by the page bound in `__iter__`."""
        grown = page.total_count - previous.total_count
        if (
            len(page.records) > 1
            and grown < len(page.records)
            and [r.get("id") for r in page.records] == [r.get("id") for r in previous.records]
        ):
            raise self._error(page, "the page repeats the previous page")
        if page.start != previous.end + 1:
            how = "went backwards" if page.start <= previous.end else "skipped records"
            raise self._error(page, f"offsets {how}: expected start_offset {previous.end + 1}")

    def _error(self, page: Page, why: str) -> PagingError:
        return PagingError(
            f"listing cannot be proven complete: {why} (page_no={page.page_no}, offsets "
            f"{page.start_offset}..{page.end_offset} of {page.total_count})",
            method="GET",
            path=self._path,
        )
