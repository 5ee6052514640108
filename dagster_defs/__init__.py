"""Thin Dagster layer over `rtk_pipeline`: `RealtimeKitComponent` builds resources, partitions, assets,
checks, jobs, schedules and sensors; `definitions.py` is one instance of it.

The component is imported on first use, so `rtk-pipeline` commands that find their subcommands here
(`demo`, `dev`) do not pay for importing Dagster at start.
"""

from __future__ import annotations

from typing import Any

import rtk_pipeline  # noqa: F401  first, before anything imports pyarrow: its allocator choice (arrowpool.py)

_COMPONENT = (
    "RealtimeKitApp",
    "RealtimeKitComponent",
    "RealtimeKitSchedule",
    "RealtimeKitStale",
    "RealtimeKitStore",
)
__all__ = list(_COMPONENT)


def __getattr__(name: str) -> Any:
    if name in _COMPONENT:
        from dagster_defs import component

        return getattr(component, name)
    raise AttributeError(f"module 'dagster_defs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_COMPONENT])
