"""Once-at-a-time jobs: a store's `lock(job)` holds a lock file of the job for its app and warehouse, and
refuses at once (no wait) when another run holds it. The OS drops it when the holder dies."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from rtk_pipeline.errors import DeactivationBusyError, JobBusyError, WarehouseError

# job -> (what its runs are called, the error a busy lock raises)
_JOBS: dict[str, tuple[str, type[JobBusyError]]] = {"deactivate": ("deactivation", DeactivationBusyError)}


def create_lock_file(path: Path) -> None:
    """Create the lock file (and its folder) if missing. filelock takes a lock file it cannot create (a
    read-only, full or misspelt folder) for one another process holds: it would wait out its timeout, or
    report a busy job, instead of saying why."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError as exc:
        raise WarehouseError(
            f"cannot create the lock file {path} ({exc.strerror or exc}): check the data folder's setting "
            "(RTK_DUCKDB_PATH, or the staging folder of RTK_TABLE_URI)"
        ) from exc


def held(path: Path) -> bool:
    """Whether a holder has the lock file right now, asked read-only: a shared, non-blocking flock on the
    file opened for reading conflicts with filelock's exclusive one, so nothing is created or changed and a
    reader without write access to the data folder (filelock's own try would need it) can ask too. A
    missing file is not held; where the file cannot be read, the answer is True (the caller keeps waiting,
    bounded)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the shared lock, if taken
    return False


@contextmanager
def hold(path: Path, job: str) -> Iterator[None]:
    """Hold `path` for the block; raise the job's busy error when another run holds it."""
    name, busy = _JOBS.get(job, (job, JobBusyError))
    create_lock_file(path)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise busy(f"another {name} run holds {path}; try again when it has finished") from None
    try:
        yield
    finally:
        lock.release()
