"""The wheel, installed in a clean virtualenv and run from a folder holding no project files, works: the
SQL files and the Dagster instance template travel inside it, and the CLI finds the Dagster commands.

Slow (a wheel build and a full dependency install; pip's cache keeps the second run short).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from tests.support.stores import open_duckdb_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
# What a wheel is built from: the project's own files, nothing a test run or a venv left behind.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "rtk_pipeline", "dagster_defs", "sql")


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv (no system site-packages) holding only the built wheel and its dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    env = _clean_env()
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)],
        tmp,
        env,
    )
    (wheel,) = (tmp / "dist").glob("rtk_pipeline-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp, env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)], tmp, env)
    return venv


@pytest.fixture
def empty_dir(tmp_path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _clean_env() -> dict[str, str]:
    """This process's environment without any rtk-pipeline, Cloudflare or Dagster setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("RTK_", "CLOUDFLARE_", "DAGSTER_"))}


def _env(venv: Path, **extra: str) -> dict[str, str]:
    """The venv's commands first on PATH, nothing of this checkout importable."""
    base = _clean_env()
    path = f"{venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"
    return {**base, "PATH": path, "PYTHONPATH": "", "COLUMNS": "200", **extra}


def test_backfill_from_the_wheel_loads_what_the_emulator_holds(venv, empty_dir):
    config = EmulatorConfig(meetings=120, days=3, seed=3, end=datetime(2026, 11, 1, tzinfo=UTC))
    with Emulator(config) as emu:
        first = (config.end - timedelta(days=config.days)).date()
        last = (config.end - timedelta(days=1)).date()
        _run(
            ["rtk-pipeline", "backfill", "--start", str(first), "--end", str(last)],
            empty_dir,
            _env(venv, **emu.env(), RTK_RATE_LIMIT_REQUESTS="100000", RTK_RATE_LIMIT_PERIOD_S="10"),
        )
        expected = {m["id"] for m in emu.meetings()}
    data = empty_dir / "data"
    stored = open_duckdb_store(data, app_id=config.app_id).query_df("meetings")
    assert set(stored["id"]) == expected
    assert list((empty_dir / "data" / "parquet" / "meetings").glob("created_day=*/data.parquet"))


def test_demo_and_definitions_validate_from_the_wheel(venv, empty_dir):
    out = _run(["rtk-pipeline", "demo", "--meetings", "200", "--days", "3"], empty_dir, _env(venv))
    assert "all runs succeeded, all checks passed" in out
    assert (empty_dir / "data" / "dagster_home" / "dagster.yaml").is_file()
    _run(
        ["dagster", "definitions", "validate", "-m", "dagster_defs.definitions"],
        empty_dir,
        _env(venv, DAGSTER_HOME=str(empty_dir / "data" / "dagster_home")),
    )
