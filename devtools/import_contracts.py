"""An import-linter contract type that import-linter 2.16 lacks: no import cycle between any two modules.

`acyclic_siblings` squashes each package and looks for cycles between its children, so it cannot see a
package's `__init__` and one of its own modules importing each other (`cli` <-> `cli.deactivate` was one).
This contract reads the module graph as it is, nothing squashed: every strongly connected component of two
or more modules is a cycle, reported with one path around it. Registered in pyproject.toml's
`[tool.importlinter]` as `acyclic_modules`.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import grimp
from importlinter import Contract, ContractCheck, fields, output


class AcyclicModulesContract(Contract):
    """Kept when no module of `packages` reaches itself through the imports of other modules."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        modules = {m for p in self.packages for m in (p, *graph.find_descendants(p))}  # type: ignore[attr-defined]
        edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
        cycles = [_path_around(graph, sorted(c)) for c in _components(edges) if len(c) > 1]
        return ContractCheck(kept=not cycles, metadata={"cycles": sorted(cycles)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"{cycle[0][0]} imports itself through:")
            output.new_line()
            for importer, imported, lines in cycle:
                output.print_error(f"- {importer} -> {imported} ({lines})", bold=False)
            output.new_line()


def _components(edges: dict[str, set[str]]) -> Iterable[set[str]]:
    """Tarjan's strongly connected components, without recursion (a deep package must not hit the limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while (member := stack.pop()) != node:
                        component.add(member)
                    on_stack.discard(node)
                    on_stack.difference_update(component)
                    yield component | {node}
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])


def _path_around(graph: grimp.ImportGraph, component: list[str]) -> list[tuple[str, str, str]]:
    """One way around the cycle from its first module back to it, each hop with the lines of its import."""
    start = component[0]
    first = min(m for m in graph.find_modules_directly_imported_by(start) if m in component)
    chain = (start, *(graph.find_shortest_chain(importer=first, imported=start) or ()))
    hops = []
    for importer, imported in pairwise(chain):
        details = graph.get_import_details(importer=importer, imported=imported)
        hops.append((importer, imported, ", ".join(f"l.{d['line_number']}" for d in details)))
    return hops
