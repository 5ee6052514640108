"""`RealtimeKitComponent` inside someone else's Dagster project: a scratch `dg` project in a temporary
folder whose `defs/realtimekit/defs.yaml` configures two apps, each backed by its own emulator (its own
seed, account, app id and token). The project is validated and listed with Dagster's own tools, one day
of each app is materialized by the `dagster` CLI in a subprocess, and each app's rows are compared with
its emulator's ground truth. A second project is written by `dg scaffold defs` and shaped by attributes
(owners, tags, automation), as `dg list defs` shows it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from dagster_defs.local import prepare_dagster_home
from tests.support.truth import (
    assert_rows_equal,
    expected_meeting,
    expected_participant,
    truth_meetings,
    truth_participants,
    ts,
)

DAY = date(2026, 10, 27)
BIN = Path(sys.executable).parent
APPS = {
    # name: (seed, account, app id, token variable, token)
    "north": (11, "acct-north", "app-north-1f2e", "RTK_TOKEN_NORTH", "tok-NORTH-LEAKCHECK-5a1c9e"),
    "south": (23, "acct-south", "app-south-7b3d", "RTK_TOKEN_SOUTH", "tok-SOUTH-LEAKCHECK-8d2f4b"),
}


def _defs_yaml(emus: dict, root: Path) -> str:
    apps = "".join(
        f"""
            - app_id: {app_id}
              account_id: {account}
              token_env: {token_env}
              base_url: {emus[name].base_url}
              name: {name}"""
        for name, (_, account, app_id, token_env, _) in APPS.items()
    )
    return textwrap.dedent(
        f"""\
        type: dagster_defs.RealtimeKitComponent
        attributes:
          apps:{apps}
          partitions_start: "2026-10-22"
          key_prefix: [rtk]
          group_name: realtimekit_raw
          rate_limit_requests: "{{{{ env.RTK_RATE_LIMIT_REQUESTS }}}}"
          rate_limit_period_s: 10
          step_max_retries: 0  # a failure shows at once, not after minutes of step retries
          store:
            backend: duckdb
            duckdb_path: {root / "wh" / "rtk.duckdb"}
            parquet_dir: {root / "wh" / "parquet"}
          schedule:
            enabled: false
          stale:
            enabled: false
        requirements:
          env: [RTK_RATE_LIMIT_REQUESTS, RTK_TOKEN_NORTH, RTK_TOKEN_SOUTH]
        """
    )


def _skeleton(root: Path) -> tuple[Path, dict[str, str]]:
    """An empty `dg` project that may use the component (its defs folder, its definitions module), and
    the environment its commands run in."""
    package = root / "src" / "scratch_rtk"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "scratch-rtk"
            version = "0.0.1"
            requires-python = ">=3.11"
            dependencies = ["rtk-pipeline"]

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "scratch_rtk"
            registry_modules = ["dagster_defs"]
            """
        )
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        textwrap.dedent(
            """\
            from pathlib import Path

            import dagster as dg


            @dg.definitions
            def defs() -> dg.Definitions:
                return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
            """
        )
    )
    home = prepare_dagster_home(root / "dagster_home")
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env = {
        **base,
        "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
        "PYTHONPATH": str(root / "src"),
        "DAGSTER_HOME": str(home),
    }
    return package / "defs", env


@pytest.fixture
def project(tmp_path: Path, emulator_factory) -> tuple[Path, dict, dict[str, str]]:
    """The scratch project, its two emulators, and the environment a run needs (the tokens only)."""
    emus = {
        name: emulator_factory(seed=seed, account_id=account, app_id=app_id, token=token)
        for name, (seed, account, app_id, _, token) in APPS.items()
    }
    root = tmp_path / "scratch"
    defs, env = _skeleton(root)
    (defs / "realtimekit").mkdir()
    (defs / "realtimekit" / "defs.yaml").write_text(_defs_yaml(emus, root))
    env |= {
        "RTK_RATE_LIMIT_REQUESTS": "100000",
        **{token_env: token for _, _, _, token_env, token in APPS.values()},
    }
    return root, emus, env


def _run(root: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() + (exc.stderr or b"").decode()
        raise AssertionError(f"{args[:6]} timed out:\n{out[-4000:]}") from None
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


def test_two_apps_in_a_scratch_dg_project(project):
    root, emus, env = project
    # Dagster's own tools see the project and the component.
    validated = _run(root, env, str(BIN / "dg"), "check", "defs")
    assert "All definitions loaded successfully" in validated.stdout + validated.stderr
    components = _run(root, env, str(BIN / "dg"), "list", "components", "--json")
    assert "dagster_defs.RealtimeKitComponent" in {c["key"] for c in json.loads(components.stdout)["items"]}
    # The attribute documentation the UI's Docs tab and `dg` show.
    schema = _run(
        root, env, str(BIN / "dg"), "utils", "inspect-component", "dagster_defs.RealtimeKitComponent",
        "--defs-yaml-schema",
    ).stdout  # fmt: skip
    assert "token_env: <string>  # Optional: NAME of the environment variable" in schema
    assert (
        "# Optional: Ship the stale sensors running. Default: off (`from_env`: RTK_STALE_SENSOR)." in schema
    )
    listed = _run(root, env, str(BIN / "dg"), "list", "defs", "--json")
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert keys == {
        "rtk/north/meetings",
        "rtk/north/participants",
        "rtk/south/meetings",
        "rtk/south/participants",
        "rtk/analyst_views",
    }
    _run(
        root, env, sys.executable, "-m", "dagster", "definitions", "validate", "-m", "scratch_rtk.definitions"
    )
    # One day of each app, each in its own run, as a user would launch them.
    for name in APPS:
        _run(
            root, env, sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "scratch_rtk.definitions",
            "--select", f"rtk/{name}/meetings,rtk/{name}/participants",
            "--partition", DAY.isoformat(),
        )  # fmt: skip

    # Each day records its own row count, equal to the emulator's, and the table as an analyst names it.
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for name in APPS:
            (record,) = instance.fetch_materializations(
                AssetRecordsFilter(
                    asset_key=AssetKey(["rtk", name, "meetings"]), asset_partitions=[str(DAY)]
                ),
                limit=1,
            ).records
            metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
            assert metadata["dagster/partition_row_count"] == len(truth_meetings(emus[name], DAY, DAY))
            assert metadata["dagster/table_name"] == "rtk.main.meetings"

    con = duckdb.connect(str(root / "wh" / "rtk.duckdb"), read_only=True)
    try:
        for name, (_, _, app_id, _, _) in APPS.items():
            emu = emus[name]
            meetings = truth_meetings(emu, DAY, DAY)
            assert meetings, f"{name}: the emulator has meetings on {DAY}"
            stored = _rows(con, "SELECT * FROM meetings WHERE app_id = ?", app_id)
            assert_rows_equal(
                {r["id"]: r for r in stored},
                {mid: expected_meeting(m) for mid, m in meetings.items()},
                f"{name} meetings",
            )
            participants = truth_participants(emu, meetings)
            stored = _rows(con, "SELECT * FROM participants WHERE app_id = ?", app_id)
            assert_rows_equal(
                {(r["meeting_id"], r["id"]): r for r in stored},
                {
                    (mid, pid): expected_participant(mid, ts(meetings[mid]["created_at"]).date(), p)
                    for (mid, pid), p in participants.items()
                },
                f"{name} participants",
            )
            runs = _rows(con, "SELECT table_name, outcome FROM sync_runs WHERE app_id = ?", app_id)
            assert sorted((r["table_name"], r["outcome"]) for r in runs) == [
                ("meetings", "success"),
                ("participants", "success"),
            ]
            # Each emulator only ever saw its own token, account and app.
            assert {tuple(r.path.split("/")[4:8:3]) for r in emu.requests} == {(APPS[name][1], app_id)}
        # No row is filed under anything else than the two apps.
        for table in ("meetings", "participants", "rejected_records", "sync_runs"):
            apps = {r["app_id"] for r in _rows(con, f"SELECT DISTINCT app_id FROM {table}")}
            assert apps <= {app_id for _, _, app_id, _, _ in APPS.values()}, table
    finally:
        con.close()
    # The tokens were only in the environment: never in the project, the instance or the warehouse.
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for _, _, _, _, token in APPS.values():
                assert token.encode() not in data, path


def _rows(con: duckdb.DuckDBPyConnection, sql: str, *params: object) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row.pop("synced_at", None)
        for column in ("ai_config", "recording_config", "extra"):
            if row.get(column) is not None:
                row[column] = json.loads(row[column])
    return rows


def _readme_example(language: str, containing: str) -> str:
    """The README's code block in `language` that contains `containing`."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"```{language}\n(.*?)```", readme, re.S)
    (block,) = [b for b in blocks if containing in b]
    return block


SHAPED = """\
type: dagster_defs.RealtimeKitComponent
attributes:
  key_prefix: [{name}]
  apps:
    - app_id: app-{name}
      account_id: acct
  owners: [team:data, analyst@example.com]
  tags: {{domain: meetings}}
  automation: {automation}
"""


def test_scaffolded_and_shaped_instances_in_a_scratch_dg_project(tmp_path):
    """`dg scaffold defs` writes a defs.yaml `dg check defs` accepts, per backend; owners, tags, kinds and
    the automation choice show in `dg list defs`, and `automation: none` leaves no schedule or sensor."""
    root = tmp_path / "scratch"
    defs, env = _skeleton(root)
    scaffold = [str(BIN / "dg"), "scaffold", "defs", "dagster_defs.RealtimeKitComponent"]
    ids = ["--app-id", "app-1", "--account-id", "acct-1", "--token-env", "RTK_TOKEN_ONE"]
    _run(root, env, *scaffold, "rtk", *ids)
    _run(root, env, *scaffold, "lake", *ids, "--backend", "delta")
    written = (defs / "rtk" / "defs.yaml").read_text()
    for line in ("token_env: RTK_TOKEN_ONE", "enabled: false", "dry_run: true", "lookback_days: 3"):
        assert line in written
    assert "requirements:\n  env:\n  - RTK_TOKEN_ONE\n" in written
    assert "{{ env.RTK_TABLE_URI }}" in (defs / "lake" / "defs.yaml").read_text()
    for name, automation in (("auto", "condition"), ("quiet", "none")):
        (defs / name).mkdir()
        (defs / name / "defs.yaml").write_text(SHAPED.format(name=name, automation=automation))
    # The README's examples, as an adopter would paste them (the Python one under another key prefix).
    (defs / "readme").mkdir()
    (defs / "readme" / "defs.yaml").write_text(_readme_example("yaml", "post_processing:"))
    (defs / "readme_py").mkdir()
    python = _readme_example("python", "@dg.component_instance")
    (defs / "readme_py" / "component.py").write_text(python.replace("owners=", 'key_prefix=["py"], owners='))
    env |= {
        "RTK_TABLE_URI": "s3://lake/rtk",
        "CLOUDFLARE_ACCOUNT_ID": "acct",
        "RTK_RATE_LIMIT_REQUESTS": "600",
    }

    checked = _run(root, env, str(BIN / "dg"), "check", "defs")
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = json.loads(_run(root, env, str(BIN / "dg"), "list", "defs", "--json").stdout)
    assets = {a["asset_key"]: a for a in listed["assets"]}
    assert assets["rtk/app_1/meetings"]["kinds"] == ["duckdb", "parquet"]
    assert assets["lake/app_1/meetings"]["kinds"] == ["delta", "s3"]
    for name in ("auto/app_auto/meetings", "auto/analyst_views", "quiet/app_quiet/participants"):
        assert assets[name]["owners"] == [{"team": "data"}, {"email": "analyst@example.com"}]
        assert {"key": "domain", "value": "meetings"} in assets[name]["tags"]
    assert "on_cron" in assets["auto/app_auto/meetings"]["automation_condition"]["label"]
    assert {"key": "tier", "value": "gold"} in assets["realtimekit/prod/meetings"]["tags"]  # post_processing
    assert assets["py/prod/meetings"]["owners"] == [{"team": "data"}]
    assert "automation_condition" not in assets["quiet/app_quiet/meetings"]
    schedules = {s["name"] for s in listed["schedules"]}
    sensors = {s["name"] for s in listed["sensors"]}
    assert "rtk_app_1_daily_sync" in schedules and "rtk_app_1_stale_sensor" in sensors
    # An automation condition replaces the sync's schedules (the refresh, an op job that no asset's condition
    # starts, keeps its own, as the stale sensor stays); `none` leaves no schedule and no sensor at all.
    assert [n for n in schedules if n.startswith(("quiet_", "auto_"))] == ["auto_app_auto_daily_refresh"]
    assert "auto_app_auto_stale_sensor" in sensors
    assert not [n for n in sensors if n.startswith("quiet_")]
