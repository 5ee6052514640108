"""Both backends (the DuckDB `DuckDBStore`, the Delta Lake `DeltaStore`) implement every role of the `Store`
that sync, stale, quality and the SQL door call: every method, with the role's parameter names, so either
fits callers. Each role stays small."""

from __future__ import annotations

import inspect

import pytest

from rtk_pipeline.store import DuckDBStore, ParquetStage, roles
from rtk_pipeline.store.delta import DeltaStore
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store


def _members(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if callable(value) and (not name.startswith("_") or name in {"__enter__", "__exit__"})
    )


ROLES = (roles.SyncStore, roles.DeactivationLog, roles.QualityReads, roles.Previews, roles.SqlReads)


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    [(role, backend) for role in ROLES for backend in (DuckDBStore, DeltaStore)]
    + [(roles.Stage, ParquetStage)],
)
def test_each_backend_has_every_protocol_method_with_the_same_parameters(protocol, implementation):
    for name in _members(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        have = list(inspect.signature(getattr(implementation, name)).parameters)
        assert have == wanted, f"{implementation.__name__}.{name}{have} differs from {protocol.__name__}"


def test_a_warehouse_is_a_store(tmp_path):
    assert isinstance(open_duckdb_store(tmp_path, app_id=APP), roles.Store)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_a_handful_of_methods_and_the_store_is_their_union(role):
    assert 0 < len(_members(role)) <= 12
    assert role in roles.Store.__mro__
