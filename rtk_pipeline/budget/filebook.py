"""The token's GCRA state in a 16-byte file, shared by every process of the host that uses the token.

Each reservation is one exclusive `flock`, a 16-byte read and (when the state changed) a 16-byte write on
a descriptor kept open: a few microseconds, next to the milliseconds an HTTP request costs, so every
request takes its own slot and no process ever holds slots it may not use. Times are wall-clock seconds
(`time.time`), the one clock every process of a host shares and that survives a reboot; a TAT more than
`HORIZON_S` ahead can only come from a clock stepped back, and is treated as absent rather than stalling
every sync until the clock catches up.
"""

from __future__ import annotations

import fcntl
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rtk_pipeline.budget.gcra import gcra_step
from rtk_pipeline.errors import ConfigError

HORIZON_S = 3600.0
_STATE = struct.Struct("<dd")  # (TAT, not_before), seconds since the epoch
_ABSENT = float("-inf")

# (now, tat, not_before) -> (result, new tat, new not_before)
Change = Callable[[float, float, float], tuple[float, float, float]]


class FileBook:
    """One token's state in `path`; thread-safe (a thread lock around the file lock, which is per process)."""

    def __init__(self, path: Path, *, setting: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = 0
        self._fd = -1
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._descriptor()
        except OSError as exc:
            raise ConfigError(
                f"{setting}: cannot keep the rate budget in {path.parent} ({exc.strerror or exc})"
            ) from None

    def __repr__(self) -> str:
        return f"FileBook({str(self.path)!r})"

    def reserve(self, interval: float, tolerance: float) -> float:
        def take(now: float, tat: float, not_before: float) -> tuple[float, float, float]:
            slot, tat = gcra_step(now, tat, not_before, interval, tolerance)
            return slot - now, tat, not_before

        return self._update(take)

    def hold(self, seconds: float) -> None:
        self._update(lambda now, tat, not_before: (0.0, tat, max(not_before, now + seconds)))

    def _descriptor(self) -> int:
        """The open state file; reopened in a forked child, whose inherited descriptor would share the
        parent's lock instead of excluding it."""
        if self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _update(self, change: Change) -> float:
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self._clock()
                tat, not_before = self._read(fd, now)
                result, new_tat, new_not_before = change(now, tat, not_before)
                if (new_tat, new_not_before) != (tat, not_before):
                    os.pwrite(fd, _STATE.pack(new_tat, new_not_before), 0)
                return result
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def _read(fd: int, now: float) -> tuple[float, float]:
        raw = os.pread(fd, _STATE.size, 0)
        if len(raw) != _STATE.size:
            return _ABSENT, _ABSENT  # a new file
        values = _STATE.unpack(raw)
        if not all(math.isfinite(v) or v == _ABSENT for v in values) or max(values) > now + HORIZON_S:
            return _ABSENT, _ABSENT
        return values[0], values[1]
