"""The Delta Lake backend (RTK_STORE=delta)."""

from rtk_pipeline.store.delta.backend import DeltaStore

__all__ = ["DeltaStore"]
