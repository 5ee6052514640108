"""Arrow's buffers from the system allocator, unless the user chose one (`ARROW_DEFAULT_MEMORY_POOL`).

pyarrow's default pool (mimalloc) keeps freed pages for its own reuse; a sync builds a batch, writes it and
drops it, thousands of times, so those pages only add to the peak. With the system allocator W1's peak RSS
fell by ~22 MB at the same CPU per request (benchmarks/RESULTS.md, issue 22). Called once by the write path
(`store.stage.new_stage`); buffers allocated before keep their pool.
"""

from __future__ import annotations

import functools
import os

import pyarrow as pa


@functools.cache
def use_system_allocator() -> None:
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
