"""Settings in one place (issue 20): every variable is declared once in `rtk_pipeline.settings`, nowhere else
spelled out in code, documented in the README, and read when asked for, with errors that name it."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from rtk_pipeline import settings
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.settings import ApiSettings, StoreSettings, SyncSettings, Variable

ROOT = Path(__file__).resolve().parents[1]
DECLARED = {v.name: v for v in vars(settings).values() if isinstance(v, Variable)}
REQUIRED = {"CLOUDFLARE_API_TOKEN": "tok-SETTINGS-3b1f", "CLOUDFLARE_ACCOUNT_ID": "acct", "RTK_APP_ID": "app"}


def _string_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_each_variable_is_spelled_out_only_where_it_is_declared():
    declaring = ROOT / "rtk_pipeline" / "settings.py"
    # The emulator is outside the pipeline (it imports nothing of it) and speaks its contract as a user would.
    emulator = ROOT / "rtk_pipeline" / "emulator"
    modules = [
        p
        for package in ("rtk_pipeline", "dagster_defs")
        for p in (ROOT / package).rglob("*.py")
        if emulator not in p.parents
    ]
    spelled = {
        str(path.relative_to(ROOT)): sorted(set(DECLARED) & _string_literals(path))
        for path in modules
        if path != declaring
    }
    assert {path: names for path, names in spelled.items() if names} == {}


def test_the_readme_documents_every_variable():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [name for name in DECLARED if f"`{name}`" not in readme] == []


def test_defaults_when_nothing_is_set():
    assert StoreSettings.from_env({}) == StoreSettings(
        backend="duckdb", duckdb_path=Path("data/rtk.duckdb"), parquet_dir=Path("data/parquet"), table_uri=""
    )
    sync = SyncSettings.from_env({})
    assert (sync.workers, sync.days_per_run, sync.lookback_days, sync.partitions_start) == (
        8,
        31,
        3,
        date(2025, 1, 1),
    )
    assert (sync.step_max_retries, sync.step_retry_delay_s, sync.freshness_grace_hours) == (3, 30.0, 6)
    api = ApiSettings.from_env(REQUIRED)
    assert (api.base_url, api.rate_limit) == ("https://api.cloudflare.com/client/v4", (1200, 300.0))


def test_the_token_stays_out_of_repr():
    api = ApiSettings.from_env(REQUIRED)
    assert api.api_token == REQUIRED["CLOUDFLARE_API_TOKEN"]
    assert REQUIRED["CLOUDFLARE_API_TOKEN"] not in repr(api)


def test_missing_api_settings_are_named_together():
    with pytest.raises(ConfigError, match=r"missing setting\(s\): CLOUDFLARE_API_TOKEN, RTK_APP_ID \("):
        ApiSettings.from_env({"CLOUDFLARE_ACCOUNT_ID": "acct"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RTK_STORE": "SQLite"}, "RTK_STORE must be one of duckdb, delta, got 'sqlite'"),
        ({"RTK_LOOKBACK_DAYS": "three"}, "RTK_LOOKBACK_DAYS must be a whole number, got 'three'"),
        ({"RTK_MAX_PARTITIONS_PER_RUN": "0"}, "RTK_MAX_PARTITIONS_PER_RUN must be >= 1, got 0"),
        ({"RTK_STEP_RETRY_DELAY_S": "-1"}, "RTK_STEP_RETRY_DELAY_S must be >= 0, got -1.0"),
        ({"RTK_PARTITIONS_START": "01/02/2026"}, "RTK_PARTITIONS_START must be a date like 2025-01-01"),
        ({"RTK_RATE_LIMIT_PERIOD_S": "soon"}, "RTK_RATE_LIMIT_PERIOD_S must be a number, got 'soon'"),
    ],
)
def test_a_malformed_value_names_its_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        StoreSettings.from_env(env)
        SyncSettings.from_env(env)
        ApiSettings.from_env({**REQUIRED, **env})


def test_the_environment_is_read_when_asked_not_before(monkeypatch):
    monkeypatch.setenv("RTK_LOOKBACK_DAYS", "5")
    assert SyncSettings.from_env().lookback_days == 5
    monkeypatch.setenv("RTK_LOOKBACK_DAYS", "9")
    assert SyncSettings.from_env().lookback_days == 9
    assert SyncSettings.from_env({"RTK_LOOKBACK_DAYS": "1"}).lookback_days == 1
