"""The rich table of `rtk-pipeline check`: each finding beside the emulator's default and what it means."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from rtk_pipeline.probe.findings import EMULATOR_DEFAULTS, KEYS, MEANING, Findings


def _show(value: Any) -> str:
    return "unknown" if value is None else json.dumps(value)


def findings_table(found: Findings, *, title: str) -> Table:
    """One row per finding; a value the data could not answer says why, a broken assumption is red."""
    table = Table(title=title)
    for name in ("finding", "found", "emulator default", "for a sync"):
        table.add_column(name)
    broken = {"window_field": found.window_field == "updated_at", "write": found.write is False}
    for key in KEYS[:-1]:
        value = getattr(found, key)
        meaning = MEANING[key]
        note = found.notes.get(key)
        if note and value is None:
            meaning = f"unknown: {note}"
        elif note and broken.get(key):
            meaning = f"{meaning}; {note}"
        style = "bold red" if broken.get(key) else "yellow" if value is None else None
        table.add_row(key, _show(value), _show(EMULATOR_DEFAULTS[key]), meaning, style=style)
    table.add_row("requests", str(found.requests), "", found.notes.get("requests", "the budget is 15"))
    return table


def verdict(found: Findings) -> str:
    """One line per broken assumption, or why the check could not run, or that all is well."""
    code = found.exit_code()
    if code == 2:
        key = "auth" if found.auth is not True else "read"
        return f"settings or auth: {found.notes.get(key, 'the API could not be listed')}"
    if code == 1:
        return "\n".join(f"assumption broken: {p}" for p in found.problems())
    return "every assumption the sync relies on holds"
