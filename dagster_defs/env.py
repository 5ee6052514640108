"""Knobs read from the environment when the code location loads: the package's one set of env parsers
(`rtk_pipeline.config`, which names the variable in every error), plus what only Dagster needs."""

from __future__ import annotations

from dagster import EnvVar

from rtk_pipeline.config import env_date, env_flag, env_number, env_text

__all__ = ["env_date", "env_flag", "env_number", "env_text", "env_var_or"]


def env_var_or(name: str, default: str) -> EnvVar | str:
    """`EnvVar(name)` when the variable is set, else the default (an unset EnvVar would fail every run).

    An EnvVar keeps the value out of the run config: the UI shows the variable's name only.
    """
    return EnvVar(name) if env_text(name) else default
