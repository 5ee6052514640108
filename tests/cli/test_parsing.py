"""Property: for any text or number given to a flag or a setting, the CLI either works or exits non-zero
with exactly one line on stderr, no traceback, and never a secret-bearing value.

Flags are drawn with no settings in the environment, so whatever parses is stopped by the first check
after it (the policy, the date range, then the missing settings) before anything is opened. Settings
are drawn one at a time over a working environment that points at a real emulator and a real warehouse,
so a value that parses runs a real one-day backfill.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.emulator import END
from tests.support.processes import cli_env, run_cli

from .conftest import TOKEN, Ran, run_main

# Text an environment variable can hold: no NUL, no lone surrogate.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
_EDGES = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1",
        "99999999999",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "0001-01-01",
        "9999-12-31",
        "2026-02-30",
        "x" * 100_000,
        "1" * 5000,
        "off",
        "[",
        "(?P<",
        "\n",
        "--help-not",
    ]
)
VALUES = st.one_of(
    _TEXT,
    _EDGES,
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat),
)
_FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

LAST_DAY = (END.date() - timedelta(days=1)).isoformat()  # the emulator's last day


@_FAST
@given(start=VALUES, end=VALUES, workers=VALUES, per_run=VALUES, participants=st.booleans())
def test_backfill_flags(start, end, workers, per_run, participants):
    argv = ["backfill", "--start", start, "--end", end, "--workers", workers, "--days-per-run", per_run]
    ran = run_main(argv + ([] if participants else ["--no-participants"]), {})
    assert ran.code != 0  # nothing is set, so nothing can run
    ran.assert_one_line_or_success()


@_FAST
@given(days=VALUES, cap=VALUES, hours=VALUES, title=VALUES, meeting=VALUES, dry=st.booleans())
def test_deactivate_stale_flags(days, cap, hours, title, meeting, dry):
    argv = ["deactivate-stale", "--stale-after-days", days, "--max", cap, "--max-sync-age-hours", hours]
    argv += ["--deny-title", title, "--allow-title", title, "--meeting", meeting, "--deny-id", meeting]
    ran = run_main(argv + (["--dry-run"] if dry else []), {})
    assert ran.code != 0
    ran.assert_one_line_or_success()


@_FAST
@given(start=VALUES, end=VALUES)
def test_verify_flags_refuse_in_one_line(start, end):
    ran = run_main(["verify", "--start", start, "--end", end], {"RTK_STORE": "nowhere"})
    assert ran.code != 0
    ran.assert_one_line_or_success()


STALE_VARIABLES = [
    "RTK_STALE_AFTER_DAYS",
    "RTK_STALE_MAX_PER_RUN",
    "RTK_STALE_DRY_RUN",
    "RTK_STALE_ALLOW_IDS",
    "RTK_STALE_ALLOW_TITLE",
    "RTK_STALE_DENY_IDS",
    "RTK_STALE_DENY_TITLE",
    "RTK_STALE_MAX_SYNC_AGE_HOURS",
]


@_FAST
@given(name=st.sampled_from(STALE_VARIABLES), value=VALUES)
def test_stale_settings(name, value):
    ran = run_main(["deactivate-stale", "--dry-run"], {name: value})
    assert ran.code != 0
    ran.assert_one_line_or_success()


# Settings a backfill reads, each with values that cannot make it wait for minutes: a base URL that is
# not a URL (or carries credentials), a budget larger than the run needs.
PASSWORD = "hunter2-CLI-PW"
SETTINGS = {
    "CLOUDFLARE_API_TOKEN": st.one_of(_TEXT.map(lambda t: "SECRET" + t), _EDGES),
    "CLOUDFLARE_ACCOUNT_ID": VALUES,
    "RTK_APP_ID": VALUES,
    "RTK_STORE": VALUES,
    "RTK_BASE_URL": st.one_of(
        _TEXT.filter(lambda t: "://" not in t),
        _TEXT.map(lambda t: f"http://user{t}:{PASSWORD}@127.0.0.1:9/client/v4"),
        st.just(f"https://:{PASSWORD}@api.cloudflare.com/client/v4"),
    ),
    "RTK_RATE_LIMIT_REQUESTS": st.one_of(_TEXT, _EDGES, st.integers(10_000).map(str)),
    "RTK_RATE_LIMIT_PERIOD_S": st.one_of(_TEXT, _EDGES, st.floats(0, 1).map(str)),
    "RTK_BUDGET_PG_URL": st.one_of(
        st.just(f"postgresql://rtk:{PASSWORD}@127.0.0.1:9/rtk"),
        _TEXT.filter(lambda t: "=" not in t and "://" not in t).map(lambda t: PASSWORD + t),
    ),
    "DAGSTER_PG_URL": st.just(f"postgresql://rtk:{PASSWORD}@127.0.0.1:9/dagster"),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tmp_path_factory.mktemp("warehouse")


@_SLOW
@given(name=st.sampled_from(sorted(SETTINGS)), data_draw=st.data())
def test_backfill_settings(emu, data, name, data_draw):
    value = data_draw.draw(SETTINGS[name], label=name)
    env = {
        **emu.env(),
        "RTK_DUCKDB_PATH": str(data / "rtk.duckdb"),
        "RTK_PARQUET_DIR": str(data / "parquet"),
        "RTK_BUDGET_DIR": str(data / "budget"),
        "RTK_RATE_LIMIT_REQUESTS": "1000000",
        "RTK_RATE_LIMIT_PERIOD_S": "1",
        name: value,
    }
    ran = run_main(["backfill", "--start", LAST_DAY, "--end", LAST_DAY], env)
    secrets = [TOKEN, PASSWORD] + ([value] if name == "CLOUDFLARE_API_TOKEN" and len(value) > 8 else [])
    ran.assert_one_line_or_success(*secrets)
    if name == "RTK_BASE_URL" and "@" in value:
        assert ran.code != 0 and "RTK_BASE_URL" in ran.stderr


# The worst of the drawn values through the real entry point, as a user's shell runs it.
REAL_RUNS = [
    (["backfill", "--start", "x" * 100_000, "--end", "2026-10-31"], {}),
    (["backfill", "--start", "0001-01-01", "--end", "9999-12-31"], {}),
    (["backfill", "--start", LAST_DAY, "--end", LAST_DAY, "--workers", "1e400"], {}),
    (["deactivate-stale", "--stale-after-days", "99999999999"], {}),
    (["deactivate-stale"], {"RTK_STALE_MAX_SYNC_AGE_HOURS": "nan"}),
    (["backfill", "--start", LAST_DAY, "--end", LAST_DAY], {"RTK_APP_ID": "a" * 100_000}),
    (["-v", "check"], {"RTK_BASE_URL": f"http://u:{PASSWORD}@127.0.0.1:9/client/v4"}),
]


@pytest.mark.parametrize(("argv", "extra"), REAL_RUNS)
def test_real_runs(emu, tmp_path, argv, extra):
    done = run_cli(argv, cli_env(tmp_path, emu.env(), **extra))
    ran = Ran(done.returncode, done.stdout, done.stderr)
    assert ran.code != 0
    ran.assert_one_line_or_success(TOKEN, PASSWORD)
    assert not (tmp_path / "rtk.duckdb").exists()
