"""Arrow's buffers from the system allocator, unless the user chose one (`ARROW_DEFAULT_MEMORY_POOL`).

pyarrow's default pool (mimalloc) keeps freed pages for its own reuse; a sync builds a batch, writes it and
drops it, thousands of times, so those pages only add to the peak. Arrow reads the variable once, when its
first buffer is allocated, and its C++ parts (the Parquet writer and reader, compute kernels) use that pool
whatever pyarrow's Python default is: so the package sets the variable on import, before it imports pyarrow
(`prefer_system_allocator`). W1's peak RSS fell by ~20 MB with it, at the same CPU per request
(benchmarks/RESULTS.md, issue 22). A process that imported pyarrow first keeps its C++ default; for it the
write path still moves pyarrow's own default (`use_system_allocator`, from `store.stage.new_stage`).
"""

from __future__ import annotations

import functools
import os
import sys

_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def prefer_system_allocator() -> None:
    """Before pyarrow is imported: make the system allocator its default, unless the user chose one."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(_VARIABLE, "system")


@functools.cache
def use_system_allocator() -> None:
    """After: pyarrow's Python-level default pool becomes the system allocator (the user's choice kept)."""
    if os.environ.get(_VARIABLE, "system") == "system":
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
