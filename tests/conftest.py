"""Shared fixtures: seeded emulators serving real HTTP on 127.0.0.1, stopped after each test."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults

EMULATOR_END = datetime(2026, 11, 1, tzinfo=UTC)
EMULATOR_DEFAULTS = {"meetings": 300, "days": 10, "seed": 7, "end": EMULATOR_END}
_CONFIG_FIELDS = {f.name for f in dataclasses.fields(EmulatorConfig)}
_FAULT_FIELDS = {f.name for f in dataclasses.fields(Faults)} - {"seed"}


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """`emulator_factory(**kw)` -> a started Emulator. Keywords are EmulatorConfig fields (defaults: 300
    meetings over 10 days up to 2026-11-01, seed 7) and Faults fields (`fault_seed` for Faults.seed)."""
    started: list[Emulator] = []

    def make(**kwargs) -> Emulator:
        unknown = set(kwargs) - _CONFIG_FIELDS - _FAULT_FIELDS - {"fault_seed"}
        if unknown:
            raise TypeError(f"not an EmulatorConfig or Faults field: {sorted(unknown)}")
        config = {k: v for k, v in kwargs.items() if k in _CONFIG_FIELDS}
        cfg = EmulatorConfig(**{**EMULATOR_DEFAULTS, **config})
        faults = Faults(
            **{k: v for k, v in kwargs.items() if k in _FAULT_FIELDS},
            **({"seed": kwargs["fault_seed"]} if "fault_seed" in kwargs else {}),
        )
        emu = Emulator(cfg, faults).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A small seeded emulator (300 meetings over the 10 days up to 2026-11-01, seed 7), no faults."""
    return emulator_factory()
