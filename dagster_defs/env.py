"""Knobs read from the environment when the code location loads, with the variable named in every error."""

from __future__ import annotations

import os

from dagster import EnvVar

from rtk_pipeline.errors import ConfigError


def env_number(name: str, default: float, *, minimum: float, kind: type[int] | type[float] = int):
    """`kind(os.environ[name])`, or `default` when unset; a malformed value names the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a{'n integer' if kind is int else ' number'}, got {raw!r}"
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_var_or(name: str, default: str) -> EnvVar | str:
    """`EnvVar(name)` when the variable is set, else the default (an unset EnvVar would fail every run).

    An EnvVar keeps the value out of the run config: the UI shows the variable's name only.
    """
    return EnvVar(name) if os.environ.get(name, "").strip() else default
