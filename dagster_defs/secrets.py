"""Metadata previews with every secret-shaped cell redacted: Dagster keeps metadata for good.

The rules that recognise a secret live in `rtk_pipeline.secrets`; this only applies them to rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rtk_pipeline.secrets import REDACTED, secret_findings


def redact_rows(rows: Iterable[Sequence[Any]], api_tokens: Sequence[str]) -> list[tuple]:
    """The rows with every text cell that holds a secret (or one of the API tokens) as [redacted]."""

    def secret(value: str) -> bool:
        return any(secret_findings(value, token) for token in api_tokens or [""])

    def cell(value: Any) -> Any:
        return REDACTED if isinstance(value, str) and secret(value) else value

    return [tuple(cell(value) for value in row) for row in rows]
