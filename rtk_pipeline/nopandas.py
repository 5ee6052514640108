"""pyarrow without pandas in processes that never need it: a backfill saves ~70 MB of RSS and ~0.8 s.

pyarrow imports pandas the first time `pa.array()` is given a Python list, only to ask whether that list
is a pandas object. `skip_pandas_probe()` lets that first probe find no pandas, and pyarrow keeps the
answer for the probe alone: real pandas use (`to_pandas()`, `Table.from_pandas()`) still imports it.
`pandas_ready()` lets the probe see pandas again once something imported it (query_df does), so
`pa.array(series)` keeps pandas' null semantics there. Arrow's C++ type inference imports pandas too,
so rtk_pipeline always passes explicit types (every column has a declared schema anyway).
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

import pyarrow as pa


class _NotNow(MetaPathFinder):
    """Fails `import pandas` (for the one probe below) as if pandas were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not needed by this process yet")
        return None


def skip_pandas_probe() -> None:
    """Answer pyarrow's first "is this list a pandas object?" probe without importing pandas."""
    if "pandas" in sys.modules:
        return  # already paid for: let pyarrow use it
    finder = _NotNow()
    sys.meta_path.insert(0, finder)
    try:
        pa.array([], pa.null())  # the probe runs on the first list pyarrow sees, then never again
    finally:
        sys.meta_path.remove(finder)


def pandas_ready() -> None:
    """pandas is imported now: make pyarrow's probe see it (a no-op if it already does)."""
    pa.array([], pa.null()).to_pandas()
