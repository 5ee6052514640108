"""Benchmark workload A (the analysts' queries) runs: every query, every contender, the same answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "analysts_workload.py"


@pytest.mark.parametrize("via", ["sql", "execute"])
def test_the_quick_workload_answers_every_query_like_native_tables(via):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--via", via],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # --quick also compares every answer with native's
    lines = done.stdout.splitlines()
    assert (
        "| query | rtk.duckdb | rtk.duckdb+3d | rtk.duckdb+3dx24 | rtk views, no files | 0bd6465 "
        "| 0bd6465+3d | 8f6a58c | ffbf680 | glob | native |" in lines
    )
    assert any(f"runs via `con.{via}`" in line for line in lines)
    for query in (
        "count by day",
        "one meeting by id",
        "participants x meetings, 7 days",
        "FROM preset_usage",
    ):
        row = next(line for line in lines if line.startswith(f"| {query} |"))
        assert row.count("x) @") == 10  # a median, its ratio against native and the load average, each
    assert any(line.startswith("worst rtk.duckdb / native:") for line in lines)
