"""The one `Definitions` object of the code location (`workspace.yaml`, `[tool.dagster]`): one instance
of `RealtimeKitComponent`, its attributes read from the environment (`RealtimeKitComponent.from_env`,
the variables of `rtk_pipeline.settings`)."""

from __future__ import annotations

from dagster import Definitions

from dagster_defs.component import RealtimeKitComponent


def build_defs() -> Definitions:
    """Everything, with the attributes read from the environment now (the demo calls this after pointing
    the environment at its emulator)."""
    return RealtimeKitComponent.from_env().build_defs()


defs = build_defs()
