"""Secrets: which keys hold one, removing them, and finding any that got through.

Three lines of defence share these rules. `scrub` drops secret keys from API records before anything is
stored (normalize); `scrub_text` redacts credentials from error text before it reaches an exception, a
log line or the audit (client, store, stale); `secret_findings` spots a secret that got past both, or
was typed into a meeting title, so the quality checks fail and previews are redacted.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

REDACTED = "[redacted]"

SECRET_KEYS = frozenset({"token", "access_key", "secret", "password", "private_key"})
# Compacted (lower case, no `_`/`-`) endings and fragments that also mark a key as secret, so that
# `sasToken`, `secret_access_key` or `ssh-password` are caught as well as the five documented names.
_SECRET_ENDINGS = ("token", "accesskey", "secret", "secretkey", "password", "passwd", "privatekey", "apikey")
_SECRET_FRAGMENTS = ("secret", "password")
_secret_cache: dict[object, bool] = {}  # looked up before the type check: the hot path is a hit


def is_secret_key(key: object) -> bool:
    """True for the documented secret names and their obvious spellings (case, camelCase, prefixes)."""
    hit = _secret_cache.get(key)
    if hit is not None:
        return hit
    if not isinstance(key, str):
        return False
    compact = key.lower().replace("_", "").replace("-", "")
    hit = (
        key.lower() in SECRET_KEYS
        or compact.endswith(_SECRET_ENDINGS)
        or any(f in compact for f in _SECRET_FRAGMENTS)
    )
    if len(_secret_cache) < 10_000:
        _secret_cache[key] = hit
    return hit


def scrub(obj: Any) -> Any:
    """A deep copy of `obj` without secret keys, at any depth (dicts inside lists included)."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if not is_secret_key(k)}
    if isinstance(obj, list | tuple):
        return [scrub(v) for v in obj]
    return obj


_BEARER = re.compile(r"(?i)(?<![\w-])(bearer|basic)\s+[\w.~+/=-]+")
# `key: value`, `key=value`, `"key": "value"`; matches start at word boundaries only, so the scan is linear.
_PAIR = re.compile(r"""(?<![\w-])(["']?)([\w-]+)\1(\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&"']+)""")


def _redact_pair(match: re.Match) -> str:
    quote, key, sep, _ = match.groups()
    return f"{quote}{key}{quote}{sep}{REDACTED}" if is_secret_key(key) else match.group(0)


def scrub_text(text: str | None, limit: int = 2000) -> str | None:
    """Redact bearer tokens and secret `key=value` / `"key": "value"` pairs from error text; truncate."""
    if text is None:
        return None
    text = _PAIR.sub(_redact_pair, _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text[: limit * 2]))
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
