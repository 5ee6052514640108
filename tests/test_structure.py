"""The rule no linter offers: no module over 500 lines. Layers, cycles, who may import DuckDB or Dagster, and
declared-versus-imported dependencies are import-linter's and deptry's (pyproject.toml, `make lint`)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 500


def _modules() -> list[Path]:
    return sorted(p for package in ("rtk_pipeline", "dagster_defs") for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by job"
