"""What a user can get wrong around a sync, run as the user runs it (a subprocess): absurd dates and
numbers, an oversized id, a read-only or full disk, credentials in a URL. Each ends in one line that
names what to fix, a non-zero exit, no traceback and no secret; nothing is left half written.

The read-only and full disks are real: a small tmpfs mounted for the test (root can write through
chmod, not through a read-only mount); where mounting is not permitted those tests skip.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import PARTITIONS_START
from tests.support.emulator import END
from tests.support.processes import cli_env, run_cli

TOKEN = "ENV-FAULT-TOKEN-5d1e0b"
PASSWORD = "s3cr3t-PW-in-url"
DAYS = ["--start", "2026-10-25", "--end", "2026-10-31"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(meetings=400, days=7, seed=8, end=END, token=TOKEN, participants_mean=4.0)
    with Emulator(config) as emulator:
        yield emulator


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` at `where`, unmounted after; skips the test where mount is not permitted."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def one_line_failure(done: subprocess.CompletedProcess, *, code: int = 1) -> str:
    """The single stderr line of a failed run (asserting there is exactly one, and no traceback)."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_dates_at_the_ends_of_the_calendar_are_refused(emu, tmp_path, flag, day):
    args = {"--start": "2026-10-30", "--end": "2026-10-31", flag: day}
    done = run_cli(["backfill", *(x for pair in args.items() for x in pair)], cli_env(tmp_path, emu.env()))
    line = one_line_failure(done, code=2)
    assert flag in line and "1970-01-01" in line
    assert not (tmp_path / "rtk.duckdb").exists()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_partitions_start_at_the_ends_of_the_calendar_is_refused(day):
    with pytest.raises(ConfigError, match="RTK_PARTITIONS_START must be between"):
        PARTITIONS_START.read({"RTK_PARTITIONS_START": day})


def test_an_oversized_app_id_is_one_line_naming_it(emu, tmp_path):
    env = cli_env(tmp_path, emu.env(), RTK_APP_ID="a" * 100_000)
    line = one_line_failure(run_cli(["backfill", *DAYS], env))
    assert "RTK_APP_ID" in line and len(line) < 300
    assert not (tmp_path / "rtk.duckdb").exists()


@pytest.mark.parametrize(
    ("flag", "value"), [("--stale-after-days", "99999999999"), ("--max-sync-age-hours", "inf")]
)
def test_absurd_stale_numbers_are_one_line(emu, tmp_path, flag, value):
    line = one_line_failure(run_cli(["deactivate-stale", flag, value], cli_env(tmp_path, emu.env())))
    assert flag.removeprefix("--").replace("-", "_") in line
    assert not (tmp_path / "rtk.duckdb").exists()


def test_a_read_only_data_folder_is_one_line(emu, tmp_path):
    with tmpfs(tmp_path / "ro", "4m") as data:
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        env = cli_env(data, emu.env(), RTK_BUDGET_DIR=str(tmp_path / "budget"))  # its own one line
        line = one_line_failure(run_cli(["backfill", *DAYS], env))
        assert "read-only" in line and "RTK_DUCKDB_PATH" in line
        assert list(data.iterdir()) == []


@pytest.mark.parametrize(
    ("size", "flags"),
    [
        ("2m", ["--days-per-run", "1"]),  # fills while staging participants (pyarrow's ENOSPC)
        ("200k", ["--no-participants"]),  # fills in DuckDB's commit, behind "Failed to commit"
        ("350k", ["--no-participants"]),  # fills in DuckDB's checkpoint of the analysts' file
    ],
)
def test_a_full_disk_is_one_line_naming_the_setting(emu, tmp_path, size, flags):
    with tmpfs(tmp_path / "full", size) as data:
        line = one_line_failure(run_cli(["backfill", *DAYS, *flags], cli_env(data, emu.env())))
    assert "disk is full" in line and "RTK_DUCKDB_PATH" in line
    assert "rollback" not in line and "Exception" not in line


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("file/rtk.duckdb", "a file stands where a folder is expected"),
        ("folder", "a folder stands where a file is expected"),
        ("/proc/self/rtk.duckdb", "does not exist and cannot be made"),  # no lock file can be made there
        ("/proc/self/no/rtk.duckdb", "does not exist and cannot be made"),
    ],
)
def test_an_unusable_data_path_is_one_line_at_once(emu, tmp_path, where, says):
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "folder").mkdir()
    env = cli_env(tmp_path, emu.env(), RTK_DUCKDB_PATH=str(tmp_path / where))
    line = one_line_failure(run_cli(["backfill", *DAYS], env, timeout=60))  # never waits for a lock
    assert says in line and "RTK_DUCKDB_PATH" in line


@pytest.mark.parametrize("verbose", [[], ["-vv"]])
def test_credentials_in_the_base_url_are_refused_and_never_echoed(emu, tmp_path, verbose):
    url = emu.base_url.replace("://", f"://admin:{PASSWORD}@")
    done = run_cli([*verbose, "backfill", *DAYS], cli_env(tmp_path, emu.env(), RTK_BASE_URL=url))
    # -vv logs the traceback (redacted) above the line
    line = done.stderr.strip().splitlines()[-1] if verbose else one_line_failure(done)
    assert done.returncode == 1
    assert "RTK_BASE_URL" in line and "user name or password" in line
    assert PASSWORD not in done.stdout + done.stderr and TOKEN not in done.stdout + done.stderr
    assert not (tmp_path / "rtk.duckdb").exists()


def test_check_refuses_credentials_in_the_base_url_without_echoing_them(emu, tmp_path):
    url = emu.base_url.replace("://", f"://admin:{PASSWORD}@")
    done = run_cli(["-v", "check"], cli_env(tmp_path, emu.env(), RTK_BASE_URL=url))
    assert done.returncode == 2 and "RTK_BASE_URL" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize("variable", ["RTK_BUDGET_PG_URL", "DAGSTER_PG_URL"])
def test_a_budget_database_url_is_never_echoed(emu, tmp_path, variable):
    url = f"postgresql://rtk:{PASSWORD}@127.0.0.1:9/rtk"
    for bad in (url, f"{PASSWORD}-not-a-url"):
        done = run_cli(["-vv", "backfill", *DAYS], cli_env(tmp_path, emu.env(), **{variable: bad}))
        assert PASSWORD not in done.stdout + done.stderr, done.stderr
