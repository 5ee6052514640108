"""The RTK_STALE_* variables, each declared once: on the field it sets (`variable(...)`), with its parser
and what it means. The policy, the sensor's settings, the Dagster run config and the component's
attribute docs all read these declarations, so a name, a default or a parser is never written twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rtk_pipeline.settings import env_flag, env_list, env_number, env_regex

_KEY = "rtk_stale_variable"

# name, default, env -> value; the process environment when env is None.
Parser = Callable[[str, Any, Mapping[str, str] | None], Any]


def whole(minimum: int | None = None) -> Parser:
    return lambda name, default, env: env_number(name, default, minimum=minimum, env=env)


def number(minimum: float | None = None, *, off: bool = False) -> Parser:
    """A float; with `off`, "off"/"none"/"never" mean None."""
    return lambda name, default, env: env_number(name, default, minimum=minimum, kind=float, env=env, off=off)


def flag(name: str, default: Any, env: Mapping[str, str] | None) -> bool:
    return env_flag(name, default, env=env)


def id_list(name: str, default: Any, env: Mapping[str, str] | None) -> tuple[str, ...]:
    return env_list(name, env=env)


def regex(name: str, default: Any, env: Mapping[str, str] | None) -> tuple[str, ...]:
    return env_regex(name, env=env)


@dataclass(frozen=True)
class Variable:
    """One RTK_STALE_* variable: its name, how its text is parsed, and a phrase for docs."""

    name: str
    parse: Parser
    doc: str
    # How a caller's setting combines with the variable, for run-config docs.
    combine: str = "instead of {name}"


def variable(name: str, parse: Parser, doc: str, *, default: Any, combine: str = "instead of {name}") -> Any:
    """A dataclass field set by the variable `name` when read `from_env`."""
    return dataclasses.field(default=default, metadata={_KEY: Variable(name, parse, doc, combine)})


def declared(cls: type, field_name: str) -> tuple[Variable, Any]:
    """The variable that sets `cls.field_name`, and the field's default."""
    field = {f.name: f for f in dataclasses.fields(cls)}[field_name]
    return field.metadata[_KEY], field.default


def describe(cls: type, field_name: str, *, combined: bool = False) -> str:
    """A field's doc line naming its variable and default: "Days without activity. Default:
    RTK_STALE_AFTER_DAYS (30)."; with `combined`, how a given value combines with the variable instead."""
    var, default = declared(cls, field_name)
    if combined:
        return f"{var.doc} ({var.combine.format(name=var.name)})."
    shown = "" if default in ((), None) else f" ({_shown(default)})"
    return f"{var.doc}. Default: {var.name}{shown}."


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


T = TypeVar("T")


def read(cls: type, field_name: str, env: Mapping[str, str] | None = None) -> Any:
    """One field's value from its variable (the field's default when unset); a malformed value is a
    ConfigError naming the variable."""
    var, default = declared(cls, field_name)
    return var.parse(var.name, default, env)


def load(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """An instance of the dataclass `cls` with every declared field read from its variable."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: read(cls, f.name, env) for f in fields if _KEY in f.metadata})
