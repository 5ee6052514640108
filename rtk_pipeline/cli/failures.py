"""How a failure reaches the user: one line, the setting to fix, no secret (ARCHITECTURE.md, "Settings").

Every exception a command lets out ends here. The library's own errors already name their setting; the
environment's (a full disk, a read-only folder, a denied path) are recognized anywhere in the exception
chain, because DuckDB can hide one behind a later error ("cannot rollback - no transaction is active").
Anything else is still one line, with its type, and `-v` logs its traceback. Values of the settings that
can carry a secret are cut out of that line and of every log record.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from rtk_pipeline.errors import ConfigError, RTKError
from rtk_pipeline.secrets import REDACTED
from rtk_pipeline.settings import (
    API_TOKEN,
    BASE_URL,
    BUDGET_PG_URL,
    DAGSTER_PG_URL,
    DUCKDB_PATH,
    PARQUET_DIR,
)

# A line longer than this is cut: a 100,000-character value echoed back helps nobody.
MAX_LINE = 500
_STORAGE = f"{DUCKDB_PATH.name} / {PARQUET_DIR.name}"
# (errno, what DuckDB or the OS says, what is wrong): the environment's failures a user can fix.
_ENVIRONMENT = (
    (errno.ENOSPC, "no space left on device", "the disk is full: free space"),
    (errno.EDQUOT, "disk quota exceeded", "the disk quota is used up: free space"),
    (errno.EROFS, "read-only file system", "the data folder is read-only"),
    (errno.EACCES, "permission denied", "permission denied on the data folder: fix it"),
    (errno.EPERM, "operation not permitted", "the data folder cannot be written"),
    (errno.ENOTDIR, "not a directory", "a file stands where a folder is expected"),
    (errno.EISDIR, "is a directory", "a folder stands where a file is expected"),
    (errno.ENOENT, "no such file or directory", "a folder on the way does not exist and cannot be made"),
)
_QUOTED_FILE = re.compile(r'file "([^"]+)"')
_SECRET_VARIABLES = (API_TOKEN.name, BASE_URL.name, BUDGET_PG_URL.name, DAGSTER_PG_URL.name)
_SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "KEY")


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """The values of the settings that can carry a secret, and the passwords inside URLs, longest first."""
    env = os.environ if env is None else env
    names = [
        *_SECRET_VARIABLES,
        *(n for n in env if n.startswith("AWS_") and any(w in n for w in _SECRET_WORDS)),
    ]
    found: set[str] = set()
    for name in names:
        value = env.get(name, "").strip()
        if name != BASE_URL.name:  # the API root is fine to show; only its user info is not
            found.add(value)
        with contextlib.suppress(ValueError):  # not a URL: nothing more to find in it
            parts = urlsplit(value)
            found.update((parts.password or "", parts.netloc.rpartition("@")[0]))
    return sorted((v for v in found if len(v) >= 4), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Cuts the secret settings' values out of every record a handler writes (the -v logs included)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg, record.args = redact(record.getMessage(), self._secrets), None
            if record.exc_info:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self._secrets)
                record.exc_info = None
        return True


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _environment(exc: BaseException) -> str | None:
    """The fix for a full disk, a read-only or denied folder anywhere in the chain, else None."""
    for link in _chain(exc):
        if isinstance(link, RTKError):  # its own message says what it is (an API 403 is about the token);
            continue  # a full disk under it is found in its cause
        number = getattr(link, "errno", None) if isinstance(link, OSError) else None
        text = str(link).lower()
        for code, words, problem in _ENVIRONMENT:
            if number == code or words in text:
                fix = f"{problem}, or point {_STORAGE} elsewhere"
                quoted = _QUOTED_FILE.search(str(link))  # DuckDB names it in its text
                where = getattr(link, "filename", None) or (quoted and quoted.group(1))
                return f"{fix} ({where})" if where else fix
    return None


def one_line(exc: BaseException, secrets: list[str]) -> str:
    """The line a user reads for `exc`: its cause and the setting to fix, secrets cut, at most MAX_LINE."""
    text, hint = None if isinstance(exc, ConfigError) else _environment(exc), ""  # it names its setting
    if text is None:
        known = isinstance(exc, RTKError | ValueError)  # their messages say what to fix
        text = str(exc) if known else f"{type(exc).__name__}: {exc}"
        if not known:
            hint = " (run with -v for the traceback)"
    text = " ".join(redact(text, secrets).split())
    return (text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…") + hint
