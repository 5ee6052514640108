"""The layout rules of issue 10, checked on the source: module size, who may open DuckDB, the library's
independence from Dagster, and no declared dependency left unused."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rtk_pipeline", "dagster_defs")
MAX_LINES = 500
# Declared for what it serves, not for an import: the Dagster UI that `dagster dev` starts.
NOT_IMPORTED = {"dagster-webserver"}


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (absolute imports, at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", _modules(*PACKAGES), ids=_rel)
def test_no_module_is_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_rel(path)} has {lines} lines; split it by job"


def test_only_the_store_imports_duckdb():
    store = ROOT / "rtk_pipeline" / "store"
    offenders = [
        _rel(p)
        for p in _modules(*PACKAGES)
        if store not in p.parents and any(name.split(".")[0] == "duckdb" for name in _imports(p))
    ]
    assert offenders == []


def test_the_library_never_imports_dagster():
    offenders = [
        f"{_rel(p)}: {name}"
        for p in _modules("rtk_pipeline")
        for name in _imports(p)
        if name.split(".")[0] in {"dagster", "dagster_defs"} or name.split(".")[0].startswith("dagster_")
    ]
    assert offenders == []


def test_every_runtime_dependency_is_imported():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]}
    imported = {name.split(".")[0] for p in _modules(*PACKAGES) for name in _imports(p)}
    unused = sorted(dist for dist in declared - NOT_IMPORTED if dist.replace("-", "_") not in imported)
    assert unused == [], f"declared in pyproject.toml but imported nowhere: {unused}"
