"""Markdown tables for metadata the UI renders: each value stays in its cell whatever text it holds.

A meeting title with a newline or a pipe would otherwise end its row or open a column, and every later
cell of the row would shift one column left. A missing value reads NULL, as in SQL, never `nan`. Rows come
from Arrow or plain tuples: a materialization never imports pandas for them (~70 MB of its peak).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa

NULL = "NULL"


def cell(value: object) -> str:
    """One cell's text: NULL for a missing value, a newline as a space, a pipe escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NULL
    text = " ".join(str(value).splitlines())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [_row(headers), "|" + "---|" * len(headers)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def arrow_rows(rows: pa.Table) -> Iterator[tuple]:
    """An Arrow table's rows as tuples of Python values (None for null)."""
    return zip(*(column.to_pylist() for column in rows.columns), strict=True)


def _row(values: Sequence[object]) -> str:
    return "| " + " | ".join(cell(v) for v in values) + " |"
