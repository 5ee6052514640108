"""`RealtimeKitComponent` built in this process: YAML and Python give the same thing, bad attributes are
refused with errors that never echo a token, each token gets its own pool, and two apps in one warehouse
run, fail and hold their rows independently of each other."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_defs.component import RealtimeKitApp, RealtimeKitComponent
from dagster_defs.resources import StoreResource
from dagster_defs.schedules import range_tags
from rtk_pipeline.errors import ConfigError
from tests.support.truth import truth_meetings

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FIRST, LAST = date(2026, 10, 26), date(2026, 10, 27)
TOKENS = {"a": "tok-APPA-LEAKCHECK-3e9d1c", "b": "tok-APPB-LEAKCHECK-6f0a2b"}


def _yaml(attributes: str) -> RealtimeKitComponent:
    return RealtimeKitComponent.resolve_from_yaml(textwrap.dedent(attributes))


def test_yaml_and_python_build_the_same_definitions():
    yaml = _yaml(
        """\
        apps:
          - app_id: prod-1
            account_id: acct
            token_env: RTK_TOKEN_PROD
          - app_id: staging-2
            account_id: acct
        partitions_start: "2026-01-01"
        key_prefix: [cf, rtk]
        group_name: meetings
        stale:
          enabled: true
          dry_run: true
        """
    )
    python = RealtimeKitComponent(
        apps=[
            RealtimeKitApp(app_id="prod-1", account_id="acct", token_env="RTK_TOKEN_PROD"),
            RealtimeKitApp(app_id="staging-2", account_id="acct"),
        ],
        partitions_start="2026-01-01",
        key_prefix=["cf", "rtk"],
        group_name="meetings",
        stale={"enabled": True, "dry_run": True},
    )
    assert yaml == python
    defs = python.build_defs()
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "cf/rtk/prod_1/meetings",
        "cf/rtk/prod_1/participants",
        "cf/rtk/staging_2/meetings",
        "cf/rtk/staging_2/participants",
        "cf/rtk/analyst_views",
    }
    node = graph.get(dg.AssetKey(["cf", "rtk", "prod_1", "meetings"]))
    assert node.group_name == "meetings"
    assert node.partitions_def.start.date() == date(2026, 1, 1)
    # A pool per token: the rate budget is counted per token, whatever the apps.
    assert node.pools == {"rtk_api_rtk_token_prod"}
    assert graph.get(dg.AssetKey(["cf", "rtk", "staging_2", "meetings"])).pools == {"rtk_api"}
    sensors = {s.name: s.default_status for s in defs.sensors}
    assert sensors == {
        "cf_rtk_prod_1_stale_sensor": dg.DefaultSensorStatus.RUNNING,
        "cf_rtk_staging_2_stale_sensor": dg.DefaultSensorStatus.RUNNING,
    }
    # Tokens are referenced by name only: what the run config and the UI's config view show.
    resource = defs.resources["cf_rtk_prod_1_api"]
    assert resource.api_token == dg.EnvVar("RTK_TOKEN_PROD")
    assert resource.app_id == "prod-1" and resource.account_id == "acct"
    assert defs.resources["cf_rtk_staging_2_api"].api_token == dg.EnvVar("CLOUDFLARE_API_TOKEN")


def test_nothing_is_read_from_the_environment_but_by_from_env(monkeypatch, tmp_path):
    """Every attribute has a constant default: the component reads no variable; `from_env` (what the
    shipped definitions.py uses) turns the variables into attributes."""
    monkeypatch.setenv("RTK_PARTITIONS_START", "2026-05-01")
    monkeypatch.setenv("RTK_DUCKDB_PATH", str(tmp_path / "x.duckdb"))
    monkeypatch.setenv("RTK_LOOKBACK_DAYS", "5")
    monkeypatch.setenv("RTK_STALE_SENSOR", "on")
    monkeypatch.setenv("RTK_STALE_SENSOR_INTERVAL", "120")
    monkeypatch.delenv("RTK_APP_ID", raising=False)
    assert RealtimeKitComponent() == RealtimeKitComponent.from_env({})
    plain = RealtimeKitComponent().build_defs()
    node = plain.resolve_asset_graph().get(dg.AssetKey(["realtimekit", "default", "meetings"]))
    assert node.partitions_def.start.date() == date(2025, 1, 1)
    assert plain.sensors[0].default_status == dg.DefaultSensorStatus.STOPPED

    defs = RealtimeKitComponent.from_env().build_defs()
    node = defs.resolve_asset_graph().get(dg.AssetKey(["realtimekit", "default", "meetings"]))
    assert node.partitions_def.start.date() == date(2026, 5, 1)
    assert defs.resources["realtimekit_warehouse"].duckdb_path == str(tmp_path / "x.duckdb")
    api = defs.resources["realtimekit_default_api"]
    # Without RTK_APP_ID when the definitions load, the app's ids are read when a run starts, as the token.
    assert (api.api_token, api.app_id, api.account_id) == (
        dg.EnvVar("CLOUDFLARE_API_TOKEN"),
        dg.EnvVar("RTK_APP_ID"),
        dg.EnvVar("CLOUDFLARE_ACCOUNT_ID"),
    )
    (sensor,) = defs.sensors
    assert (sensor.default_status, sensor.minimum_interval_seconds) == (dg.DefaultSensorStatus.RUNNING, 120)
    schedule = {s.name: s for s in defs.schedules}["realtimekit_default_daily_sync"]
    assert "5 earlier days" in schedule.description


def test_from_env_names_the_app_it_reads_default():
    env = {"RTK_APP_ID": "app-1", "CLOUDFLARE_ACCOUNT_ID": "acct", "RTK_BASE_URL": "http://127.0.0.1:9"}
    defs = RealtimeKitComponent.from_env(env).build_defs()
    api = defs.resources["realtimekit_default_api"]
    assert (api.app_id, api.account_id, api.base_url) == ("app-1", "acct", "http://127.0.0.1:9")
    assert api.api_token == dg.EnvVar("CLOUDFLARE_API_TOKEN")


def test_two_instances_differ_in_their_knobs():
    """Step retries, the freshness deadline and the budget are attributes: two instances may differ."""

    def built(prefix: str, retries: int, delay: float, grace: int) -> dg.Definitions:
        return RealtimeKitComponent(
            key_prefix=[prefix],
            step_max_retries=retries,
            step_retry_delay_s=delay,
            freshness_grace_hours=grace,
            rate_limit_requests=retries + 10,
        ).build_defs()

    one, two = built("one", 1, 2, 4), built("two", 5, 7.5, 9)
    for defs, prefix, retries, delay, hour in ((one, "one", 1, 2, 4), (two, "two", 5, 7.5, 9)):
        node = defs.resolve_asset_graph().get(dg.AssetKey([prefix, "default", "participants"]))
        policy = node.assets_def.op.retry_policy
        assert (policy.max_retries, policy.delay) == (retries, delay)
        freshness = {s.name: s for s in defs.schedules}[f"{prefix}_default_freshness"]
        assert freshness.cron_schedule == f"5 {hour} * * *"
        assert defs.resources[f"{prefix}_default_api"].rate_limit_requests == retries + 10


def test_a_malformed_variable_fails_from_env_by_name(monkeypatch):
    monkeypatch.setenv("RTK_STEP_MAX_RETRIES", "many")
    with pytest.raises(ConfigError, match="RTK_STEP_MAX_RETRIES must be a whole number, got 'many'"):
        RealtimeKitComponent.from_env()


def test_the_store_resource_opens_what_its_fields_name(tmp_path):
    StoreResource(duckdb_path=str(tmp_path / "w.duckdb"), parquet_dir=str(tmp_path / "pq")).get(
        "a"
    ).ensure_schema()
    assert (tmp_path / "w.duckdb").is_file()
    StoreResource(store="DELTA", table_uri=str(tmp_path / "lake")).get("a").ensure_schema()
    assert (tmp_path / "lake" / "meetings" / "_delta_log").is_dir()
    with pytest.raises(ConfigError, match="RTK_STORE must be one of duckdb, delta, got 'sqlite'"):
        StoreResource(store="sqlite").get("a")
    with pytest.raises(ConfigError, match="RTK_STORE=delta needs RTK_TABLE_URI"):
        StoreResource(store="delta").get("a")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("apps:\n  - app_id: a\n    token_env: 0f3c-PASTED-TOKEN-9a8b", "token_env must be the NAME"),
        ('partitions_start: "01/02/2026"', "partitions_start must be a date like 2025-01-01"),
        ("apps:\n  - app_id: a\n  - app_id: a", "each app_id may appear once"),
        ("apps:\n  - app_id: a-1\n  - app_id: a_1", "each name may appear once"),
        ("apps: []", "list at least one app"),
        ("stale:\n  max_per_run: -1", "max_per_run must be at least 0, got -1"),
        ("store:\n  backend: sqlite", "duckdb"),
    ],
)
def test_bad_attributes_are_refused_clearly(attributes, message):
    with pytest.raises(Exception) as raised:
        _yaml(attributes)
    text = str(raised.value)
    assert message in text
    assert "0f3c-PASTED-TOKEN-9a8b" not in text


# ------------------------------------------------------------------------------ two apps, one warehouse


@pytest.fixture
def two_apps(emulator_factory, tmp_path, monkeypatch):
    """Two apps with their own emulators (same seed: their meeting ids collide), tokens and accounts, in
    one DuckDB warehouse."""
    emus = {
        name: emulator_factory(seed=7, account_id=f"acct-{name}", app_id=f"app-{name}", token=TOKENS[name])
        for name in TOKENS
    }
    for name, token in TOKENS.items():
        monkeypatch.setenv(f"RTK_TOKEN_{name.upper()}", token)
    component = RealtimeKitComponent(
        rate_limit_requests=100_000,
        rate_limit_period_s=10,
        step_max_retries=0,
        apps=[
            RealtimeKitApp(
                app_id=emu.app_id,
                account_id=emu.account_id,
                token_env=f"RTK_TOKEN_{name.upper()}",
                base_url=emu.base_url,
                name=name,
            )
            for name, emu in emus.items()
        ],
        partitions_start="2026-10-22",
        store={
            "duckdb_path": str(tmp_path / "wh" / "rtk.duckdb"),
            "parquet_dir": str(tmp_path / "wh" / "pq"),
        },
    )
    return emus, component, tmp_path / "wh" / "rtk.duckdb"


def _sync(defs: dg.Definitions, instance: dg.DagsterInstance, app: str) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(f"realtimekit_{app}_sync_job")
    return job.execute_in_process(
        instance=instance, tags=range_tags(FIRST, LAST), run_config=QUIET, raise_on_error=False
    )


def _ids(path: Path, app_id: str) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT id FROM meetings WHERE app_id = ?", [app_id]).fetchall()}
    finally:
        con.close()


def test_one_apps_failure_never_touches_another(two_apps, monkeypatch, tmp_path):
    emus, component, path = two_apps
    defs = component.build_defs()
    with dg.instance_for_test() as instance:
        assert _sync(defs, instance, "a").success
        assert _sync(defs, instance, "b").success
        truth = {name: set(truth_meetings(emu, FIRST, LAST)) for name, emu in emus.items()}
        assert truth["a"] == truth["b"]  # same seed: every id exists in both apps
        assert _ids(path, "app-a") == truth["a"] and _ids(path, "app-b") == truth["b"]

        # App a's token is revoked and b's data moves on: a fails on its own, b's run is unaffected,
        # a's rows stay as they were (a failed sync leaves the partition's previous data).
        monkeypatch.setenv("RTK_TOKEN_A", "revoked-token-0000")
        added = emus["b"].add_meeting(created_at=datetime(2026, 10, 27, 12, tzinfo=UTC), title="only in b")
        failed = _sync(defs, instance, "a")
        assert not failed.success
        assert _sync(defs, instance, "b").success
        assert _ids(path, "app-a") == truth["a"]
        assert _ids(path, "app-b") == truth["b"] | {added["id"]}
        # Each app's partitions have their own status in Dagster.
        a_key = dg.AssetKey(["realtimekit", "a", "meetings"])
        b_key = dg.AssetKey(["realtimekit", "b", "meetings"])
        assert instance.get_materialized_partitions(a_key) == {str(FIRST), str(LAST)}
        b_runs = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=b_key), limit=100).records
        assert len(b_runs) == 4  # two runs x two days
        # Neither token is anywhere in what Dagster stored (metadata, run config, logs).
        for run in instance.get_runs():
            text = repr(run.run_config) + "".join(repr(e) for e in instance.all_logs(run.run_id))
            assert not [t for t in TOKENS.values() if t in text]
