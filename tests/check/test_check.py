"""`rtk-pipeline check` against emulators configured every way it must tell apart: the findings must match
the configuration each time, within 15 requests counted by the emulator, and must change no data."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.probe import EMULATOR_DEFAULTS, KEYS, MAX_REQUESTS, NIL_MEETING_ID, Findings, run_check
from rtk_pipeline.settings import ApiSettings
from tests.support.processes import cli_env, run_cli

READ_ONLY = "emu-read-only-token"


def _settings(emu: Emulator, **env: str) -> ApiSettings:
    return ApiSettings.from_env({**emu.env(), "RTK_RATE_LIMIT_REQUESTS": "100000", **env})


def check(emu: Emulator, **env: str) -> Findings:
    """Run the check as the CLI does (one attempt per request), counting requests at the emulator."""
    emu.clear_requests()
    with RealtimeKitClient.from_settings(_settings(emu, **env), max_attempts=1) as client:
        found = run_check(client)
    assert len(emu.requests) == found.requests <= MAX_REQUESTS
    return found


def expected(cfg: EmulatorConfig, *, write: bool = True) -> dict:
    """What the check must report for an emulator with this configuration."""
    return {
        "auth": True,
        "read": True,
        "write": write,
        "page_base": cfg.page_base,
        "max_per_page": cfg.max_per_page,
        "default_per_page": cfg.default_per_page,
        "window_field": cfg.window_field,
        "start_inclusive": cfg.start_inclusive,
        "end_inclusive": cfg.end_inclusive,
        "order": cfg.order,
        "status_filter": cfg.status_filter,
    }


CONFIGS = {
    "defaults": {},
    "page base 0": {"page_base": 0},
    "cap 50": {"max_per_page": 50},
    "cap 100, base 0": {"max_per_page": 100, "page_base": 0},
    "default per_page 25": {"default_per_page": 25},
    "exclusive start": {"start_inclusive": False},
    "exclusive end": {"end_inclusive": False},
    "both exclusive, window on updated_at": {
        "start_inclusive": False,
        "end_inclusive": False,
        "window_field": "updated_at",
    },
    "window on updated_at": {"window_field": "updated_at"},
    "created_asc": {"order": "created_asc"},
    "updated_desc": {"order": "updated_desc"},
    "updated_asc, window on updated_at, cap 50": {
        "order": "updated_asc",
        "window_field": "updated_at",
        "max_per_page": 50,
    },
    "status filter ignored": {"status_filter": False},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_findings_match_the_configuration(emulator_factory, config):
    emu = emulator_factory(**config)
    found = check(emu)
    assert {k: v for k, v in found.as_json().items() if k != "requests"} == expected(emu.config)
    assert found.exit_code() == (1 if emu.config.window_field == "updated_at" else 0)


def test_read_only_token_is_found_and_nothing_changes(emulator_factory):
    emu = emulator_factory(read_only_token=READ_ONLY)
    before = emu.meetings(secrets=True)
    found = check(emu, CLOUDFLARE_API_TOKEN=READ_ONLY)
    assert found.as_json() == {**expected(emu.config, write=False), "requests": found.requests}
    assert found.exit_code() == 1
    assert "stale meetings stay ACTIVE" in found.problems()[0]
    [patch] = [r for r in emu.requests if r.method != "GET"]
    assert (patch.method, patch.path.rsplit("/", 1)[1], patch.status) == ("PATCH", NIL_MEETING_ID, 403)
    assert emu.meetings(secrets=True) == before


def test_write_probe_changes_no_state(emulator):
    before = emulator.meetings(secrets=True)
    stats_before = emulator.stats["by_status"].get(200, 0)
    found = check(emulator)
    assert found.write is True
    writes = [r for r in emulator.requests if r.method != "GET"]
    assert [(r.method, r.path.rsplit("/", 1)[1], r.status) for r in writes] == [
        ("PATCH", NIL_MEETING_ID, 404)
    ]
    assert emulator.meetings(secrets=True) == before  # every field of every meeting, updated_at included
    assert emulator.stats["by_status"][200] == stats_before + found.requests - 1


def test_empty_app_answers_null_with_reasons(emulator_factory):
    found = check(emulator_factory(meetings=0))
    got = found.as_json()
    assert (got["auth"], got["read"], got["write"]) == (True, True, True)
    assert all(got[k] is None for k in KEYS[3:-1]), got
    assert found.notes["page_base"] == "the app holds no meetings"
    assert found.exit_code() == 0


@pytest.mark.parametrize(
    ("env", "auth", "read"),
    [
        ({"CLOUDFLARE_API_TOKEN": "wrong-token"}, False, None),
        ({"CLOUDFLARE_ACCOUNT_ID": "someone-else"}, True, False),
        ({"RTK_APP_ID": "no-such-app"}, True, False),
    ],
    ids=["bad token", "other account", "unknown app"],
)
def test_auth_and_reachability_exit_2(emulator, env, auth, read):
    found = check(emulator, **env)
    assert (found.auth, found.read, found.requests) == (auth, read, 1)
    assert found.exit_code() == 2


def test_emulator_defaults_are_the_emulators(emulator):
    defaults = EmulatorConfig()
    assert expected(defaults) == EMULATOR_DEFAULTS
    assert [f.name for f in dataclasses.fields(Findings)] == [*KEYS, "notes"]


def _cli(tmp_path, emu: Emulator | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run_cli(["check", *args], cli_env(tmp_path, emu.env() if emu else {}, **env))


def test_cli_json_and_exit_codes(emulator_factory, tmp_path):
    good = emulator_factory()
    run = _cli(tmp_path, good, "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert list(out) == list(KEYS)
    assert out == {**expected(good.config), "requests": out["requests"]}
    assert out["requests"] == len(good.requests) <= MAX_REQUESTS

    bad = emulator_factory(window_field="updated_at")
    run = _cli(tmp_path, bad)
    assert run.returncode == 1
    assert "window_field" in run.stdout and "never loaded" in run.stdout

    run = _cli(tmp_path, good, "--json", CLOUDFLARE_API_TOKEN="TOPSECRET-CHECK-TOKEN")
    assert run.returncode == 2 and json.loads(run.stdout)["auth"] is False
    assert "TOPSECRET" not in run.stdout + run.stderr

    run = _cli(tmp_path, None, "--json")
    assert run.returncode == 2
    assert "CLOUDFLARE_API_TOKEN" in run.stderr
    assert json.loads(run.stdout) == dict.fromkeys(KEYS) | {"requests": 0}


def test_small_app_cannot_show_the_cap(emulator_factory):
    found = check(emulator_factory(meetings=30))
    assert (found.max_per_page, found.default_per_page, found.page_base) == (None, 20, 1)
    assert found.notes["max_per_page"] == "all 30 meetings fit on one page of 1000"
    assert (found.window_field, found.start_inclusive, found.end_inclusive) == ("created_at", True, True)
