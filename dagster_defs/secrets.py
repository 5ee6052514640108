"""Metadata previews with every secret-shaped cell redacted: Dagster keeps metadata for good.

The rules that recognise a secret live in `rtk_pipeline.secrets`; this only applies them to a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from rtk_pipeline.secrets import REDACTED, secret_findings


def redact_frame(frame: pd.DataFrame, api_tokens: Sequence[str]) -> pd.DataFrame:
    """The frame with every text cell that holds a secret (or one of the API tokens) as [redacted]."""

    def secret(value: str) -> bool:
        return any(secret_findings(value, token) for token in api_tokens or [""])

    def cell(value: Any) -> Any:
        return REDACTED if isinstance(value, str) and secret(value) else value

    return frame.map(cell)
