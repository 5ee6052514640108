"""Policy settings (environment, CLI flags) and the decisions table: no server needed for these."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest
from rich.console import Console

from rtk_pipeline import stale
from rtk_pipeline.cli import deactivate
from rtk_pipeline.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    """The lead's `deactivate-stale` flags plus ours, as the CLI builds them."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--stale-after-days", type=int, default=None)
    parser.add_argument("--max", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true")
    deactivate.add_cli_arguments(parser)
    return parser


def test_environment_policy_and_cli_flags_combine_safely():
    env = {
        "RTK_STALE_AFTER_DAYS": "45",
        "RTK_STALE_MAX_PER_RUN": "7",
        "RTK_STALE_DRY_RUN": "yes",
        "RTK_STALE_DENY_IDS": "a, b",
        "RTK_STALE_DENY_TITLE": "(?i)board",
    }
    args = _parser().parse_args(["--max", "3", "--deny-id", "c", "--deny-title", "^VIP", "--meeting", "m1"])

    kwargs = deactivate.kwargs_from_args(args, env)

    assert kwargs["stale_after_days"] == 45  # not given on the command line: the environment's
    assert kwargs["max_deactivations"] == 3  # given: the flag wins
    assert kwargs["dry_run"] is True  # the environment's dry run cannot be switched off by omission
    assert kwargs["deny_ids"] == ("a", "b", "c")  # deny lists only ever grow
    assert kwargs["deny_title_patterns"] == ("(?i)board", "^VIP")
    assert kwargs["candidate_ids"] == ["m1"]
    assert stale.StalePolicy(**{k: v for k, v in kwargs.items() if k != "candidate_ids"}).dry_run


def test_defaults_are_conservative():
    policy = stale.StalePolicy.from_env({})
    assert (policy.stale_after_days, policy.max_deactivations, policy.dry_run) == (30, 50, False)
    assert policy.max_sync_age_hours == 48
    assert stale.PATCH_BODY == {"status": "INACTIVE"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RTK_STALE_AFTER_DAYS": "0"}, "stale_after_days must be at least 1"),
        ({"RTK_STALE_AFTER_DAYS": "thirty"}, "RTK_STALE_AFTER_DAYS must be a whole number"),
        ({"RTK_STALE_MAX_PER_RUN": "-1"}, "max_deactivations must be 0 or more"),
        ({"RTK_STALE_DRY_RUN": "maybe"}, "RTK_STALE_DRY_RUN must be one of"),
        ({"RTK_STALE_ALLOW_TITLE": "(x"}, "RTK_STALE_ALLOW_TITLE is not a valid regular expression"),
        ({"RTK_STALE_MAX_SYNC_AGE_HOURS": "soon"}, "RTK_STALE_MAX_SYNC_AGE_HOURS must be a number"),
    ],
)
def test_bad_settings_name_what_to_fix(env, message):
    with pytest.raises(ConfigError, match=message):
        stale.StalePolicy.from_env(env)


def test_screen_deny_wins_and_allow_restricts():
    policy = stale.StalePolicy(allow_title_patterns=("^Team",), deny_ids=("x",), deny_title_patterns=("VIP",))
    assert policy.screen("x", "Team sync")[0] == stale.SKIP_DENIED
    assert policy.screen("y", "Team VIP room")[0] == stale.SKIP_DENIED
    assert policy.screen("y", "Lecture")[0] == stale.SKIP_NOT_ALLOWED
    assert policy.screen("y", None)[0] == stale.SKIP_NOT_ALLOWED
    assert policy.screen("y", "Team sync") is None


def test_print_decisions_shows_every_decision_and_a_summary():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    common = {"threshold_days": 30, "dry_run": False, "decided_at": now, "run_id": "r", "as_of": now}
    decisions = [
        stale.Decision(
            "m-1",
            "Weekly",
            now,
            decision=stale.DEACTIVATED,
            http_status=200,
            error=None,
            detail="PATCH confirmed status INACTIVE",
            **common,
        ),
        stale.Decision(
            "m-2",
            None,
            None,
            decision=stale.FAILED,
            http_status=503,
            error="PATCH ... -> HTTP 503",
            detail=None,
            **common,
        ),
    ]
    console = Console(record=True, width=200)
    deactivate.print_decisions(decisions, console=console)
    text = console.export_text()
    assert "m-1" in text and "m-2" in text and "HTTP 503" in text
    assert "2 decision(s): 1 deactivated, 1 failed" in text

    console = Console(record=True, width=200)
    deactivate.print_decisions([], console=console)
    assert "no stale meetings" in console.export_text()


def test_a_future_as_of_is_refused_before_anything_is_read():
    future = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
    with pytest.raises(ConfigError, match="in the future"):
        stale.deactivate_stale(client=None, store=None, as_of=future)


def test_run_config_and_component_attribute_are_views_of_the_one_policy(monkeypatch):
    from dagster_defs.component import RealtimeKitStale
    from dagster_defs.stale import DeactivateStaleConfig

    policy = stale.StalePolicy(
        stale_after_days=40,
        max_deactivations=7,
        dry_run=True,
        allow_ids=("a",),
        deny_title_patterns=("^VIP",),
    )
    config = DeactivateStaleConfig.of(policy, ["m-1"])
    assert config.meeting_ids == ["m-1"] and config.deny_title_patterns == ["^VIP"]
    assert config.policy(stale.StalePolicy()) == policy  # what the sensor requests is what the run applies
    assert DeactivateStaleConfig().policy(policy) == policy  # an empty run config changes nothing
    assert (
        DeactivateStaleConfig.model_fields["deny_ids"].description
        == "Never touch these ids (added to RTK_STALE_DENY_IDS)."
    )

    for name in ("RTK_STALE_MAX_PER_RUN", "RTK_STALE_DENY_IDS", "RTK_STALE_SENSOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RTK_STALE_AFTER_DAYS", "45")
    monkeypatch.setenv("RTK_STALE_DRY_RUN", "1")
    attribute = RealtimeKitStale(max_per_run=3)
    # The attribute's defaults are the policy's constants: the environment is not read by it...
    assert attribute.policy() == stale.StalePolicy(max_deactivations=3)
    # ...but by `from_env`, the shipped definitions' reading of the same variables.
    from_env = RealtimeKitStale(**RealtimeKitStale.env_attributes())
    assert from_env.policy() == stale.StalePolicy.from_env()
    assert from_env.policy() == stale.StalePolicy(stale_after_days=45, dry_run=True)
    assert attribute.sensor().enabled is False
    assert RealtimeKitStale(enabled=True).sensor().enabled is True
