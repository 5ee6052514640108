"""The line a failure becomes: the environment's cause found under what DuckDB raised last, a setting's
own message kept, secrets cut. Real DuckDB errors, raised the way the store meets them."""

from __future__ import annotations

import errno

import duckdb
import pytest

from rtk_pipeline.cli.failures import MAX_LINE, one_line, secret_values
from rtk_pipeline.errors import ConfigError, WarehouseError


def _raised(make) -> BaseException:
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


FULL = 'IO Error: Could not write file "/data/rtk.duckdb.wal": No space left on device'
ROLLBACK = "TransactionContext Error: cannot rollback - no transaction is active"


def _full_then_rollback() -> None:
    try:
        raise duckdb.IOException(FULL)
    except duckdb.IOException:
        raise duckdb.TransactionException(ROLLBACK)  # noqa: B904 - as DuckDB's failed rollback does


def test_a_full_disk_behind_a_failed_rollback_is_named():
    line = one_line(_raised(_full_then_rollback), [])
    assert line.startswith("the disk is full") and "RTK_DUCKDB_PATH" in line
    assert "/data/rtk.duckdb.wal" in line
    assert "rollback" not in line


def test_a_read_only_folder_under_a_warehouse_error_is_named():
    def wrapped() -> None:
        try:
            raise OSError(errno.EROFS, "Read-only file system", "/data/parquet/x.parquet")
        except OSError as exc:
            raise WarehouseError("writing the Parquet file failed") from exc

    line = one_line(_raised(wrapped), [])
    assert "read-only" in line and "/data/parquet/x.parquet" in line and "RTK_PARQUET_DIR" in line


def test_a_setting_error_keeps_its_own_message_over_its_cause():
    def budget() -> None:
        try:
            raise PermissionError(errno.EACCES, "Permission denied", "/budget")
        except OSError as exc:
            raise ConfigError("RTK_BUDGET_DIR /budget cannot be written") from exc

    assert one_line(_raised(budget), []) == "RTK_BUDGET_DIR /budget cannot be written"


def test_an_unexpected_error_is_one_line_with_its_type_cut_to_length():
    line = one_line(RuntimeError("boom\n" + "x" * 10_000), [])
    assert "\n" not in line and line.startswith("RuntimeError: boom x")
    assert line.endswith("(run with -v for the traceback)") and len(line) < MAX_LINE + 40


@pytest.mark.parametrize(
    ("name", "value", "hidden"),
    [
        ("RTK_BUDGET_PG_URL", "postgresql://rtk:pg-pass-1@db/rtk", "pg-pass-1"),
        ("DAGSTER_PG_URL", "postgresql://d:pg-pass-2@db/d", "pg-pass-2"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-3", "aws-secret-3"),
        ("CLOUDFLARE_API_TOKEN", "api-token-4", "api-token-4"),
        ("RTK_BASE_URL", "http://me:url-pass-5@host/v4", "url-pass-5"),
    ],
)
def test_secret_settings_are_cut_from_the_line(name, value, hidden):
    secrets = secret_values({name: value})
    line = one_line(RuntimeError(f"connect to {value} failed ({hidden})"), secrets)
    assert hidden not in line and "[redacted]" in line


def test_a_base_url_without_credentials_stays_readable():
    assert secret_values({"RTK_BASE_URL": "https://api.cloudflare.com/client/v4"}) == []
