"""Once-at-a-time jobs: a store's `lock(job)` holds a lock file of the job for its app and warehouse, and
refuses at once (no wait) when another run holds it. The OS drops it when the holder dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from rtk_pipeline.errors import DeactivationBusyError, JobBusyError

# job -> (what its runs are called, the error a busy lock raises)
_JOBS: dict[str, tuple[str, type[JobBusyError]]] = {"deactivate": ("deactivation", DeactivationBusyError)}


@contextmanager
def hold(path: Path, job: str) -> Iterator[None]:
    """Hold `path` for the block; raise the job's busy error when another run holds it."""
    name, busy = _JOBS.get(job, (job, JobBusyError))
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise busy(f"another {name} run holds {path}; try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()
