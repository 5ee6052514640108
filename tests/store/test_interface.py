"""Both backends (the DuckDB `DuckDBStore`, the Delta Lake `DeltaStore`) implement the `Store` protocol that
sync, stale and quality call: every method, with the protocol's parameter names, so either fits callers."""

from __future__ import annotations

import inspect

import pytest

from rtk_pipeline.store import DuckDBStore, ParquetStage, Stage, Store
from rtk_pipeline.store.delta import DeltaStore
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store


def _members(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if callable(value) and (not name.startswith("_") or name in {"__enter__", "__exit__"})
    )


@pytest.mark.parametrize(
    ("protocol", "implementation"), [(Store, DuckDBStore), (Store, DeltaStore), (Stage, ParquetStage)]
)
def test_each_backend_has_every_protocol_method_with_the_same_parameters(protocol, implementation):
    for name in _members(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        have = list(inspect.signature(getattr(implementation, name)).parameters)
        assert have == wanted, f"{implementation.__name__}.{name}{have} differs from {protocol.__name__}"


def test_a_warehouse_is_a_store(tmp_path):
    assert isinstance(open_duckdb_store(tmp_path, app_id=APP), Store)
