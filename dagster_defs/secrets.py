"""Recognising secrets in stored text: what `secrets_absent` flags and what metadata previews redact.

The scrubber in `rtk_pipeline.normalize` removes secret keys before anything is stored; this is the
second line: a secret that got past it (or was typed into a meeting title) fails a check, and never
reaches Dagster's metadata, where it would be kept for good.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd

from rtk_pipeline.normalize import is_secret_key

REDACTED = "[redacted]"
# Values that look like credentials wherever they appear.
SECRET_VALUE_PATTERNS = {
    "jwt": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "private-key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "aws-key-id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "bearer": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"),
}


def _secret_keys_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if is_secret_key(k):
                yield str(k)
            yield from _secret_keys_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from _secret_keys_in(v)


def secret_findings(text: str, api_token: str) -> list[str]:
    """Kinds of secret in one text value: the API token itself, credential-shaped values, and (for
    JSON) secret keys at any depth. Names the kind, never the value."""
    kinds = []
    if api_token and len(api_token) >= 8 and api_token in text:
        kinds.append("api-token")
    kinds += [kind for kind, pattern in SECRET_VALUE_PATTERNS.items() if pattern.search(text)]
    if text[:1] in "{[":
        with contextlib.suppress(ValueError):
            kinds += [f"key:{k}" for k in _secret_keys_in(json.loads(text))]
    return kinds


def redact_frame(frame: pd.DataFrame, api_token: str) -> pd.DataFrame:
    """The frame with every text cell that holds a secret replaced by [redacted]."""

    def cell(value: Any) -> Any:
        return REDACTED if isinstance(value, str) and secret_findings(value, api_token) else value

    return frame.map(cell)
