"""The one `Definitions` object of the code location (`workspace.yaml`, `[tool.dagster]`): one instance
of `RealtimeKitComponent` with every setting left to the environment (`rtk_pipeline.settings`)."""

from __future__ import annotations

from dagster import Definitions

from dagster_defs.component import RealtimeKitComponent


def build_defs() -> Definitions:
    """Everything, with settings read from the environment now (the demo calls this after pointing the
    environment at its emulator)."""
    return RealtimeKitComponent().build_defs()


defs = build_defs()
