"""`rtk-pipeline backfill` as a user runs it: a subprocess, env vars, exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from tests.support.emulator import END
from tests.support.processes import cli_env, run_cli

TOKEN = "TOPSECRET-CLI-TOKEN-42"


@pytest.fixture(scope="module")
def emu():
    with Emulator(EmulatorConfig(meetings=120, days=10, seed=4, end=END, token=TOKEN)) as emulator:
        yield emulator


def test_backfill_loads_the_range_and_prints_a_summary(emu, tmp_path):
    done = run_cli(["backfill", "--start", "2026-10-22", "--end", "2026-10-31"], cli_env(tmp_path, emu.env()))
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "rtk.duckdb"), read_only=True)
    ids = {row[0] for row in con.execute("SELECT id FROM meetings").fetchall()}
    participants = con.execute("SELECT count(*) FROM participants").fetchone()[0]
    con.close()
    truth = emu.meetings()
    assert ids == {m["id"] for m in truth}
    assert participants == sum(len(emu.participants(m["id"])) for m in truth)
    assert "meetings" in done.stdout and "participants" in done.stdout and f"{len(truth):,}" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_a_wrong_token_fails_in_one_line_naming_the_setting(emu, tmp_path):
    env = {**emu.env(), "CLOUDFLARE_API_TOKEN": "not-the-token"}
    done = run_cli(["backfill", "--start", "2026-10-30", "--end", "2026-10-31"], cli_env(tmp_path, env))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "CLOUDFLARE_API_TOKEN" in last
    assert "Traceback" not in done.stderr and "not-the-token" not in done.stderr + done.stdout


def test_missing_settings_are_named(tmp_path):
    done = run_cli(["backfill", "--start", "2026-10-30", "--end", "2026-10-31"], cli_env(tmp_path, {}))
    assert done.returncode == 1
    assert "CLOUDFLARE_API_TOKEN" in done.stderr and "RTK_APP_ID" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--start", "2026-10-31", "--end", "2026-10-01"], 1, "before --start"),
        (["--start", "31/10/2026", "--end", "2026-10-31"], 2, "not a YYYY-MM-DD date"),
    ],
)
def test_bad_dates_are_refused_before_any_request(emu, tmp_path, args, code, message):
    emu.clear_requests()
    done = run_cli(["backfill", *args], cli_env(tmp_path, emu.env()))
    assert done.returncode == code and message in done.stderr
    assert emu.requests == []


def test_a_backfill_never_imports_pandas(emu, tmp_path):
    """pandas (~70 MB, ~0.8 s) serves only `frames` and the Dagster previews: a backfill process,
    pyarrow's own first-use probe included, must load the range without ever importing it."""
    report = (
        "import sys, rtk_pipeline.cli as cli; code = cli.main(sys.argv[1:]); "
        "print('pandas imported:', 'pandas' in sys.modules, file=sys.stderr); sys.exit(code)"
    )
    args = ["backfill", "--start", "2026-10-22", "--end", "2026-10-31"]
    done = subprocess.run(
        [sys.executable, "-c", report, *args],
        env=cli_env(tmp_path, emu.env()),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "pandas imported: False" in done.stderr
    con = duckdb.connect(str(tmp_path / "rtk.duckdb"), read_only=True)
    stored = con.execute("SELECT count(*) FROM participants").fetchone()[0]
    con.close()
    assert stored == sum(len(emu.participants(m["id"])) for m in emu.meetings())


@pytest.mark.parametrize("entry", ["rtk_pipeline.cli", "dagster_defs.definitions"])
@pytest.mark.parametrize(("chosen", "pool"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_uses_the_system_allocator_unless_the_user_chose_one(entry, chosen, pool):
    """Arrow reads ARROW_DEFAULT_MEMORY_POOL once, at its first buffer: importing the package (the CLI's
    or the code location's way in) sets it before pyarrow loads, so Arrow's C++ parts (the Parquet
    writer) use the system allocator too (mimalloc kept ~20 MB of W1's peak, rtk_pipeline/arrowpool.py).
    A user's own choice stands."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    probe = f"import {entry}, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == pool
