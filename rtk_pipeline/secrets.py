"""Finding secrets that got past the scrubber (or were typed into a meeting title): the quality rules fail
on them and metadata previews are redacted. (The scrubber itself lives in normalize.)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

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
