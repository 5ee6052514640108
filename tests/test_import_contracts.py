"""The `acyclic_modules` contract of `make lint` (devtools/import_contracts.py) on small import graphs."""

from __future__ import annotations

import grimp
import pytest

from devtools.import_contracts import AcyclicModulesContract


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.d"):
        graph.add_module(module)
    for line, (importer, imported) in enumerate(imports, start=1):
        graph.add_import(importer=importer, imported=imported, line_number=line, line_contents="import")
    return graph


def _cycles(graph: grimp.ImportGraph) -> list:
    contract = AcyclicModulesContract(name="t", session_options={}, contract_options={"packages": ["pkg"]})
    check = contract.check(graph, verbose=False)
    assert check.kept == (not check.metadata["cycles"])
    return check.metadata["cycles"]


def test_a_graph_without_cycles_is_kept():
    assert _cycles(_graph(("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg", "pkg.a"))) == []


def test_a_package_and_its_own_module_importing_each_other_is_a_cycle():
    assert _cycles(_graph(("pkg.sub", "pkg.sub.d"), ("pkg.sub.d", "pkg.sub"))) == [
        [("pkg.sub", "pkg.sub.d", "l.1"), ("pkg.sub.d", "pkg.sub", "l.2")]
    ]


@pytest.mark.parametrize("order", [0, 1, 2])
def test_a_longer_cycle_is_reported_once_from_its_first_module(order):
    ring = [("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")]
    cycles = _cycles(_graph(*ring[order:], *ring[:order], ("pkg.c", "pkg.sub.d")))
    assert [[(i, j) for i, j, _ in cycle] for cycle in cycles] == [ring]
