"""Markdown tables for metadata the UI renders: each value stays in its cell whatever text it holds.

A meeting title with a newline or a pipe would otherwise end its row or open a column, and every later
cell of the row would shift one column left. A missing value reads NULL, as in SQL, never `nan`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

NULL = "NULL"


def cell(value: object) -> str:
    """One cell's text: NULL for a missing value, a newline as a space, a pipe escaped."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return NULL
    text = " ".join(str(value).splitlines())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [_row(headers), "|" + "---|" * len(headers)]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def frame_table(frame: pd.DataFrame) -> str:
    return table(list(frame.columns), frame.itertuples(index=False, name=None))


def _row(values: Sequence[object]) -> str:
    return "| " + " | ".join(cell(v) for v in values) + " |"
