"""Where the Delta tables live: `RTK_TABLE_URI` plus the standard AWS variables, and a start-up probe.

Delta's commit protocol is "write `_delta_log/<version>.json` only if it does not exist yet"; delta-rs does
that on S3 with a conditional PUT (`If-None-Match: *`). A store that ignores the header would let two writers
both "win" a version and silently lose one commit, so an S3 root is probed once before the first write and
refused when the store does not answer 412. Credentials live in `storage_options` only, which no repr, log
line or error message shows; `scrub()` removes their values from any text leaving this package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pa_fs

from rtk_pipeline.errors import ConfigError, RTKError
from rtk_pipeline.settings import TABLE_URI, env_text

# The environment contract of issue 12 (standard AWS names, read as delta-rs/object_store read them).
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
)
_SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_PROBE_PREFIX = "_rtk_probe"


class ConditionalWritesUnsupportedError(ConfigError):
    """The object store ignores `If-None-Match: *`: concurrent Delta commits would overwrite each other."""


class ObjectStoreError(RTKError):
    """The object store could not be reached or refused a request (retriable: the store may come back)."""


@dataclass(frozen=True)
class TableRoot:
    """The root of the Delta tables and the options every delta-rs call needs to reach it."""

    uri: str
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, uri: str | None = None, env: Mapping[str, str] | None = None) -> TableRoot:
        raw = (uri if uri is not None else TABLE_URI.read(env)).strip().rstrip("/")
        if not raw:
            raise ConfigError("RTK_STORE=delta needs RTK_TABLE_URI (s3://bucket/prefix or a local path)")
        scheme = urlparse(raw).scheme
        if scheme not in ("", "file", "s3", "s3a"):
            raise ConfigError(
                f"RTK_TABLE_URI must be s3://bucket/prefix or a local path, got a {scheme}:// URI"
            )
        names = (*AWS_VARIABLES, "AWS_SESSION_TOKEN")
        options = {name: value for name in names if (value := env_text(name, env=env))}
        if scheme in ("", "file"):
            raw = os.path.abspath(raw.removeprefix("file://"))
            options = {}
        return cls(raw, options)

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith(("s3://", "s3a://"))

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages: the endpoint URL (or AWS's default) and the bucket."""
        bucket = urlparse(self.uri).netloc
        return f"{self.storage_options.get('AWS_ENDPOINT_URL', 'AWS S3')} (bucket {bucket})"

    def table_uri(self, table: str) -> str:
        return f"{self.uri}/{table}"

    def arrow_filesystem(self, table: str) -> pa_fs.FileSystem:
        """Arrow's own filesystem, rooted at the table, for Arrow to read its files with (lake.py says why
        not delta-rs's default)."""
        if not self.is_s3:
            return pa_fs.SubTreeFileSystem(self.table_uri(table), pa_fs.LocalFileSystem())
        parsed = urlparse(self.table_uri(table))
        return pa_fs.SubTreeFileSystem(f"{parsed.netloc}{parsed.path}", self._arrow_s3)

    @cached_property
    def _arrow_s3(self) -> pa_fs.S3FileSystem:
        """Arrow's S3 client with delta-rs's endpoint, region and credentials (none given: the AWS default
        chain, as delta-rs); one per root, so its connections are reused."""
        opts = self.storage_options
        options: dict[str, Any] = {}
        if endpoint := opts.get("AWS_ENDPOINT_URL"):
            url = urlparse(endpoint)
            options.update(endpoint_override=url.netloc or url.path, scheme=url.scheme or "https")
        region = opts.get("AWS_REGION")
        if not region:
            region = "us-east-1" if endpoint else pa_fs.resolve_s3_region(urlparse(self.uri).netloc)
        if opts.get("AWS_ACCESS_KEY_ID") and opts.get("AWS_SECRET_ACCESS_KEY"):
            options.update(
                access_key=opts["AWS_ACCESS_KEY_ID"],
                secret_key=opts["AWS_SECRET_ACCESS_KEY"],
                session_token=opts.get("AWS_SESSION_TOKEN"),
            )
        return pa_fs.S3FileSystem(region=region, **options)

    def scrub(self, text: str) -> str:
        """`text` with every credential value replaced, for errors that quote a request."""
        for name in _SECRET_VARIABLES:
            value = self.storage_options.get(name)
            if value:
                text = text.replace(value, "***")
        return text

    def check_conditional_writes(self) -> None:
        """PUT a probe object twice with `If-None-Match: *`; the second must be refused (HTTP 412).

        Local paths need no probe: delta-rs commits there with an atomic create-new file operation.
        """
        if not self.is_s3:
            return
        client = self._s3_client()
        parsed = urlparse(self.uri)
        key = f"{parsed.path.strip('/')}/{_PROBE_PREFIX}/{uuid.uuid4().hex}".lstrip("/")
        try:
            client.put_object(Bucket=parsed.netloc, Key=key, Body=b"1", IfNoneMatch="*")
            try:
                client.put_object(Bucket=parsed.netloc, Key=key, Body=b"2", IfNoneMatch="*")
            except client.exceptions.ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (409, 412):
                    return
                raise
            finally:
                client.delete_object(Bucket=parsed.netloc, Key=key)
        except Exception as exc:
            if isinstance(exc, RTKError):
                raise
            cause = self.scrub(f"{type(exc).__name__}: {exc}")
            raise ObjectStoreError(
                f"probing {self.endpoint} for conditional writes failed: {cause}"
            ) from None
        raise ConditionalWritesUnsupportedError(
            f"the object store at {self.endpoint} ignores conditional writes (If-None-Match: *): two writers "
            "could both commit the same Delta version and lose one. Use a store that honours them "
            "(S3, R2 and MinIO do)"
        )

    def _s3_client(self) -> Any:
        import botocore.config
        import botocore.session

        opts = self.storage_options
        return botocore.session.Session().create_client(
            "s3",
            endpoint_url=opts.get("AWS_ENDPOINT_URL"),
            region_name=opts.get("AWS_REGION") or "us-east-1",
            aws_access_key_id=opts.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=opts.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=opts.get("AWS_SESSION_TOKEN"),
            config=botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
