"""`rtk-pipeline sql` answers `FROM meetings_per_day` over the Delta tables exactly as over the DuckDB file,
after the same backfill of the same emulator (Arrow datasets: no DuckDB extension is loaded)."""

from __future__ import annotations

import io
import json

import pandas as pd

from tests.support.processes import cli_env, run_cli


def test_sql_over_delta_equals_sql_over_duckdb(tmp_path, emulator):
    duck = cli_env(tmp_path / "duck", emulator.env())
    delta = cli_env(
        tmp_path / "delta", emulator.env(), RTK_STORE="delta", RTK_TABLE_URI=str(tmp_path / "lake")
    )
    window = ["--start", "2026-10-22", "--end", "2026-10-31"]
    answers = {}
    for name, env in (("duckdb", duck), ("delta", delta)):
        done = run_cli(["backfill", *window], env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        done = run_cli(["sql", "FROM meetings_per_day", "--format", "csv"], env)
        assert done.returncode == 0, done.stderr[-2000:]
        answers[name] = pd.read_csv(io.StringIO(done.stdout))
    assert len(answers["delta"]) == 10 and answers["delta"]["total"].sum() > 0
    pd.testing.assert_frame_equal(answers["delta"], answers["duckdb"])

    done = run_cli(["sql", "SELECT count(*) AS n FROM meetings", "--format", "json"], delta)
    assert json.loads(done.stdout) == [{"n": int(answers["delta"]["total"].sum())}]
    assert not (tmp_path / "delta" / "rtk.duckdb").exists(), "the Delta backend wrote a DuckDB file"
