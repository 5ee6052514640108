"""No secret is stored or logged, anywhere, by any path: CLI backfill, Dagster assets, both deactivation
paths (CLI and Dagster job), and the error paths, all with debug logging.

The API answers carry recognizable secrets: the emulator's storage credentials (`EMU-SECRET-...`, in GET
and PATCH answers and in list rows of some meetings), and the proxy adds participant join tokens
(`EMU-PTOKEN-...`) to every participant list row plus a `secret` nested in a list inside an unknown field
of every meeting. The API token is `TOPSECRET-API-TOKEN-1234`. Afterwards every byte the pipeline left
behind is searched: stdout/stderr of every process, everything under DAGSTER_HOME (SQLite run storage,
event logs, compute logs), the DuckDB file (and WAL), every Parquet file, and every table read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_defs.local import INSTANCE_TEMPLATE
from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from tests.support.emulator import APP
from tests.support.names import STALE_JOB, STALE_OP, M, P
from tests.support.processes import REPO, cli_env, run_cli
from tests.support.stores import open_duckdb_store
from tests.support.truth import query

from .conftest import SECRET_MARKERS, Exchange, Proxy

pytestmark = pytest.mark.slow  # six subprocesses, two of them Dagster

TOKEN = "TOPSECRET-API-TOKEN-1234"
WRONG_TOKEN = "TOPSECRET-WRONG-TOKEN-5678"
MARKERS = (*SECRET_MARKERS, TOKEN, "TOPSECRET")
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 4
FIRST, LAST = (TODAY - timedelta(days=DAYS)).date(), (TODAY - timedelta(days=1)).date()
# Debug console logs; steps in the run's own process (a subprocess per step costs seconds each and stores
# the same events in the same instance).
DEBUG_LOGS = {
    "loggers": {"console": {"config": {"log_level": "DEBUG"}}},
    "execution": {"config": {"in_process": {}}},
}
STALE_RUN = {"ops": {STALE_OP: {"config": {"stale_after_days": 2, "max_deactivations": 3}}}}


def add_secrets(ex: Exchange) -> None:
    """Participant join tokens on every participant row, a webhook secret deep in every meeting row."""
    if ex.status != 200 or ex.endpoint not in ("list_meetings", "list_participants"):
        return
    doc = ex.json()
    for n, record in enumerate(doc.get("data") or []):
        if ex.endpoint == "list_participants":
            record["token"] = f"EMU-PTOKEN-wire-{n}"
        else:
            record["x_integrations"] = {
                "webhooks": [{"url": "https://example.com/h", "secret": f"EMU-SECRET-wh-{n}"}]
            }
    ex.set_json(doc)


def echo_token(ex: Exchange) -> None:
    """A server that echoes the request's credentials in its error message."""
    ex.status = 400
    message = f"bad request; you sent Authorization: Bearer {TOKEN} and password=EMU-SECRET-echo"
    ex.body = json.dumps({"success": False, "error": {"code": 400, "message": message}}).encode()


def dagster_home(root: Path) -> Path:
    """The project's instance config plus debug capture of the library's Python logs into the event log."""
    home = root / "dagster_home"
    home.mkdir()
    text = INSTANCE_TEMPLATE.read_text()
    text += "\npython_logs:\n  managed_python_loggers: [rtk_pipeline, httpx, httpcore]\n"
    text += "  python_log_level: DEBUG\n"
    (home / "dagster.yaml").write_text(text)
    return home


def dagster(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dagster", *args, "-m", "dagster_defs.definitions"]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    """Run every path once against the secret-laden API; return all output and the folders written."""
    root = tmp_path_factory.mktemp("secrets")
    config = EmulatorConfig(meetings=60, days=DAYS, seed=13, end=TODAY, token=TOKEN, participants_mean=3.0)
    with Emulator(config, Faults(p429=0.05, p5xx=0.05, retry_after="0", seed=4)) as emu:
        for n in range(3):  # stale meetings whose GET/PATCH answers carry storage credentials
            emu.add_meeting(
                created_at=TODAY - timedelta(days=DAYS - 1, hours=-n),
                title=f"stale with credentials {n}",
                recording_config={"storage_config": {"type": "aws", "access_key": f"EMU-SECRET-ak-{n}"}},
            )
        proxy = Proxy(emu)
        proxy.hooks.append(add_secrets)
        home = dagster_home(root)
        env = cli_env(
            root,
            {**emu.env(), "RTK_BASE_URL": proxy.base_url},
            DAGSTER_HOME=str(home),
            RTK_STEP_MAX_RETRIES="0",
        )
        outputs: dict[str, subprocess.CompletedProcess] = {}
        try:
            outputs["cli backfill"] = run_cli(
                ["-vv", "backfill", "--start", str(FIRST), "--end", str(LAST)], env
            )
            outputs["dagster assets"] = dagster(
                [
                    "asset",
                    "materialize",
                    "--select",
                    f"{M},{P}",
                    "--partition",
                    str(LAST),
                    "--config-json",
                    json.dumps(DEBUG_LOGS),
                ],
                env,
            )
            outputs["cli deactivate"] = run_cli(
                ["-vv", "deactivate-stale", "--stale-after-days", "2", "--max", "3"], env
            )
            run_config = root / "stale-run.json"  # JSON is YAML; `job execute` only takes files
            run_config.write_text(json.dumps({**STALE_RUN, **DEBUG_LOGS}))
            job = ["job", "execute", "-j", STALE_JOB, "-c", str(run_config)]
            outputs["dagster deactivate job"] = dagster(job, env)
            outputs["cli 401"] = run_cli(
                ["-vv", "backfill", "--start", str(LAST), "--end", str(LAST)],
                {**env, "CLOUDFLARE_API_TOKEN": WRONG_TOKEN},
            )
            proxy.hooks.append(echo_token)
            outputs["cli echoed token"] = run_cli(
                ["-vv", "backfill", "--start", str(LAST), "--end", str(LAST)], env
            )
        finally:
            proxy.stop()
        served = [ex for ex in proxy.log if any(m.encode() in ex.body for m in SECRET_MARKERS)]
        yield {"root": root, "home": home, "outputs": outputs, "served": served, "requests": emu.requests}


def test_every_path_ran(everything):
    """Not vacuous: the runs succeeded (or failed as intended) and the API really sent the secrets."""
    outputs = everything["outputs"]
    for name in ("cli backfill", "dagster assets", "cli deactivate", "dagster deactivate job"):
        assert outputs[name].returncode == 0, f"{name}: {outputs[name].stderr[-3000:]}"
    assert outputs["cli 401"].returncode == 1 and outputs["cli echoed token"].returncode == 1
    served = {ex.endpoint for ex in everything["served"]}
    assert {"list_meetings", "list_participants", "get", "patch"} <= served, served
    patched = [r for r in everything["requests"] if r.method == "PATCH"]
    assert patched, "the deactivation paths should have PATCHed stale meetings"
    for name in ("cli backfill", "dagster assets", "dagster deactivate job"):  # debug lines of the client
        assert "DEBUG" in outputs[name].stderr and "GET /accounts/" in outputs[name].stderr, name


def test_no_secret_in_any_output(everything):
    """(The echoed storage password is checked below; the echoed token here.)"""
    for name, done in everything["outputs"].items():
        for marker in MARKERS if name != "cli echoed token" else (TOKEN,):
            assert marker not in done.stdout, f"{marker} in stdout of {name}"
            assert marker not in done.stderr, f"{marker} in stderr of {name}"


def test_error_messages_name_the_problem_without_the_token(everything):
    outputs = everything["outputs"]
    unauthorized = outputs["cli 401"].stderr.partition("error:")[2]
    assert "CLOUDFLARE_API_TOKEN" in unauthorized and "Traceback" not in outputs["cli 401"].stderr
    echoed = outputs["cli echoed token"].stderr.partition("error:")[2]
    assert "HTTP 400" in echoed and "Traceback" not in outputs["cli echoed token"].stderr


def test_a_credential_echoed_in_an_error_message_is_redacted(everything):
    done = everything["outputs"]["cli echoed token"]
    assert "EMU-SECRET-echo" not in done.stdout + done.stderr


def test_no_secret_in_any_file_left_behind(everything):
    """DAGSTER_HOME (run storage, event logs, compute logs), the DuckDB file and WAL, Parquet, stages."""
    files = [p for p in everything["root"].rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "no Dagster SQLite storage found"
    assert any(p.name.endswith(".duckdb") for p in files) and any(p.suffix == ".parquet" for p in files)
    for path in files:
        blob = path.read_bytes()
        for marker in MARKERS:
            assert marker.encode() not in blob, f"{marker} in {path.relative_to(everything['root'])}"


def test_no_secret_in_any_table(everything):
    root = everything["root"]
    warehouse = open_duckdb_store(root, app_id=APP)
    tables = [r["table_name"] for r in query(warehouse, "SELECT table_name FROM duckdb_tables()")]
    assert {"meetings", "participants", "rejected_records", "sync_runs", "meeting_deactivations"} <= set(
        tables
    )
    for table in tables:
        text = json.dumps(query(warehouse, f'SELECT * FROM "{table}"'), default=str, ensure_ascii=False)
        for marker in MARKERS:
            assert marker not in text, f"{marker} in table {table}"
    extras = [r["extra"] for r in query(warehouse, "SELECT extra FROM meetings WHERE extra IS NOT NULL")]
    assert any("x_integrations" in e for e in extras), "the field around the secret should be kept"
