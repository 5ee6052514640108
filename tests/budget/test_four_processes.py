"""One token, four real processes at once (three `rtk-pipeline backfill`s and a Dagster run of the sync
job, each with its own data folder), against an emulator that enforces the token's budget (40 requests per
4 s, then a 30 s lockout) exactly as the clients are told it: shared on the host through the state file, or
across hosts through Postgres. Zero 429s, and the emulator's request log holds at most 40 requests in every
4-second window. Neither place keeps the token."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from dagster_defs.schedules import range_tags
from rtk_pipeline.budget import token_key
from rtk_pipeline.emulator import Emulator
from tests.support.emulator import END
from tests.support.names import SYNC_JOB
from tests.support.processes import REPO, cli, cli_env

pytestmark = pytest.mark.slow

BUDGET = (40, 4.0)
LAST = END.date() - timedelta(days=1)
# Overlapping windows on purpose: each process has its own warehouse, so they never wait for each other.
WINDOWS = [(LAST - timedelta(days=n + 2), LAST - timedelta(days=n)) for n in (0, 2, 4, 1)]


def max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_right(times, t + period) - i for i, t in enumerate(times)), default=0)


@pytest.fixture
def emu(emulator_factory) -> Emulator:
    return emulator_factory(
        meetings=120, rate_limit=BUDGET, lockout_s=30.0, token=f"budget-{uuid.uuid4().hex}"
    )


def command(n: int, first: date, last: date, work: Path) -> list[str]:
    """The last process is a Dagster run of the sync job (in-process executor, its own SQLite instance)."""
    if n < 3:
        return cli("backfill", "--start", str(first), "--end", str(last), "--workers", "4")
    config = work / "run_config.yaml"
    config.write_text(json.dumps({"execution": {"config": {"in_process": {}}}}))
    return [
        sys.executable, "-m", "dagster", "job", "execute", "-m", "dagster_defs.definitions", "-j", SYNC_JOB,
        "--tags", json.dumps(range_tags(first, last)), "-c", str(config),
    ]  # fmt: skip


def run_four(tmp_path: Path, emu: Emulator, extra_env: list[dict[str, str]]) -> None:
    """Start the four processes at once, each with the env of its slot; every one must exit 0."""
    procs = []
    for n, ((first, last), extra) in enumerate(zip(WINDOWS, extra_env, strict=True)):
        work = tmp_path / f"proc{n}"
        (work / "dagster_home").mkdir(parents=True)
        env = cli_env(
            work,
            emu.env(),
            RTK_RATE_LIMIT_REQUESTS=str(BUDGET[0]),
            RTK_RATE_LIMIT_PERIOD_S=str(BUDGET[1]),
            DAGSTER_HOME=str(work / "dagster_home"),
            **extra,
        )
        with (work / "out.log").open("wb") as out:  # the child keeps its own copy of the descriptor
            procs.append(
                (
                    subprocess.Popen(
                        command(n, first, last, work), env=env, cwd=REPO, stdout=out, stderr=out
                    ),
                    work,
                )
            )
    for proc, work in procs:
        code = proc.wait(timeout=300)
        text = (work / "out.log").read_text(errors="replace")
        assert code == 0, text[-3000:]
        assert emu.token not in text


def assert_within_budget(emu: Emulator) -> None:
    log = emu.requests
    assert len(log) > 3 * BUDGET[0], "too few requests to test a shared budget"
    assert emu.stats["lockouts"] == 0
    assert {r.status for r in log} == {200}, emu.stats["by_status"]
    assert max_in_window([r.timestamp for r in log], BUDGET[1]) <= BUDGET[0]


def test_four_processes_on_one_host_share_the_tokens_budget(tmp_path, emu):
    shared = tmp_path / "state"
    # Two name the folder, two find it as the per-user default under their XDG_STATE_HOME.
    envs = [
        {"RTK_BUDGET_DIR": str(shared)},
        {"RTK_BUDGET_DIR": "", "XDG_STATE_HOME": str(tmp_path / "xdg")},
        {"RTK_BUDGET_DIR": str(shared)},
        {"RTK_BUDGET_DIR": "", "XDG_STATE_HOME": str(tmp_path / "xdg")},
    ]
    default = tmp_path / "xdg" / "rtk-pipeline" / "budget"
    default.parent.mkdir(parents=True)
    shared.mkdir()
    default.symlink_to(shared, target_is_directory=True)  # one folder, reached both ways
    run_four(tmp_path, emu, envs)
    assert_within_budget(emu)

    files = list(shared.iterdir())
    assert [f.name for f in files] == [f"{token_key(emu.token, emu.base_url)}.gcra"]
    for found in files:
        assert emu.token not in found.name
        assert emu.token.encode() not in found.read_bytes()


def test_four_processes_share_the_tokens_budget_through_postgres(tmp_path, emu, postgres):
    import psycopg2

    # Every process has a state folder of its own (as on four hosts): only the database is shared, named
    # by the budget's own setting or found as Dagster's.
    envs = [
        {"RTK_BUDGET_DIR": str(tmp_path / f"host{n}"), setting: postgres.url}
        for n, setting in enumerate(["RTK_BUDGET_PG_URL", "DAGSTER_PG_URL"] * 2)
    ]
    run_four(tmp_path, emu, envs)
    assert_within_budget(emu)

    assert not any((tmp_path / f"host{n}").exists() for n in range(4)), "a host kept a budget file too"
    with psycopg2.connect(postgres.dsn) as con, con.cursor() as cur:
        cur.execute("SELECT * FROM rtk_rate_budget")
        rows = cur.fetchall()
    assert [row[0] for row in rows] == [token_key(emu.token, emu.base_url)]
    assert emu.token not in repr(rows)
