"""Metadata previews with every secret-shaped cell redacted: Dagster keeps metadata for good.

The rules that recognise a secret live in `rtk_pipeline.secrets`; this only applies them to a frame.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rtk_pipeline.secrets import REDACTED, secret_findings


def redact_frame(frame: pd.DataFrame, api_token: str) -> pd.DataFrame:
    """The frame with every text cell that holds a secret replaced by [redacted]."""

    def cell(value: Any) -> Any:
        return REDACTED if isinstance(value, str) and secret_findings(value, api_token) else value

    return frame.map(cell)
