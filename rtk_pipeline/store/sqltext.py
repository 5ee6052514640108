"""SQL text: quoting, day lists, and the analyst's shorthand for "a table or a query" (no connection here)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path


def q(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def file_part(text: str) -> str:
    """`text` as one part of a file name: kept when it is plain, else a digest of it (no separators)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", text):
        return text
    return "h" + hashlib.sha256(text.encode()).hexdigest()[:16]


def days_sql(days: Iterable[date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) or "NULL"


def files_sql(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(lit(str(f)) for f in paths) + "]"


def as_days(days: Iterable[date]) -> frozenset[date]:
    out = set()
    for d in days:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(f"days must be datetime.date values (UTC days), got {d!r}")
        out.add(d)
    return frozenset(out)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_TABLE_CALL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(.*\)$", re.DOTALL)


def as_query(name_or_sql: str) -> str:
    """`meetings` -> SELECT * FROM "meetings"; `stale_candidates(7, now())` -> SELECT * FROM it; SQL as is."""
    text = name_or_sql.strip().rstrip(";").strip()
    if _IDENTIFIER.match(text):
        return "SELECT * FROM " + ".".join(q(part) for part in text.split("."))
    if _TABLE_CALL.match(text) and text.split("(")[0].strip().lower() not in {"select", "with", "values"}:
        return "SELECT * FROM " + text
    return text


def carrying(source: str, key: Sequence[str], carried: Sequence[str], stored: str) -> str:
    """`source` with null `carried` columns filled from `stored` (the stored rows' keys and those columns):
    the API never sends them, so a re-listed row must not erase them (TableSpec.carried)."""
    fill = ", ".join(f"coalesce(s.{q(c)}, c.{q(c)}) AS {q(c)}" for c in carried)
    using = ", ".join(q(k) for k in key)
    return f"(SELECT s.* REPLACE ({fill}) FROM {source} AS s LEFT JOIN {stored} AS c USING ({using}))"
