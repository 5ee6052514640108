"""The emulator's knobs for what the API reference leaves out: window field, bound inclusiveness, list
order, status filter and a read-only token. Each is checked over HTTP against ground truth."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from rtk_pipeline.emulator import EmulatorConfig, add_cli_arguments, config_from_args

T = datetime(2026, 10, 28, 12, 0, 0, 123000, tzinfo=UTC)
SECOND = timedelta(seconds=1)
READ_ONLY = "emu-read-only"


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ids(api, **params) -> list[str]:
    r = api.get("/meetings", params={"per_page": 100, **params})
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["data"]]


@pytest.mark.parametrize("start_inclusive", [True, False])
@pytest.mark.parametrize("end_inclusive", [True, False])
def test_bounds_on_an_exact_timestamp(emulator_factory, api_for, start_inclusive, end_inclusive):
    emu = emulator_factory(start_inclusive=start_inclusive, end_inclusive=end_inclusive)
    api = api_for(emu)
    mid = emu.add_meeting(created_at=T, title="on the bound")["id"]
    for (lo, hi), expected in (((T, T + SECOND), start_inclusive), ((T - SECOND, T), end_inclusive)):
        window = {"start_time": _iso(lo), "end_time": _iso(hi)}
        assert (mid in _ids(api, **window)) is expected
        truth = [m["id"] for m in emu.meetings(start_time=lo, end_time=hi)]
        assert truth == _ids(api, **window)


@pytest.mark.parametrize("window_field", ["created_at", "updated_at"])
def test_window_field(emulator_factory, api_for, window_field):
    emu = emulator_factory(window_field=window_field)
    api = api_for(emu)
    created, updated = T - timedelta(days=3), T
    mid = emu.add_meeting(created_at=created, updated_at=updated)["id"]
    on = {"created_at": created, "updated_at": updated}[window_field]
    off = {"created_at": updated, "updated_at": created}[window_field]
    assert mid in _ids(api, start_time=_iso(on - SECOND), end_time=_iso(on + SECOND))
    assert mid not in _ids(api, start_time=_iso(off - SECOND), end_time=_iso(off + SECOND))
    day = {"start_time": _iso(T - timedelta(hours=12)), "end_time": _iso(T + timedelta(hours=6))}
    rows = emu.meetings(start_time=day["start_time"], end_time=day["end_time"])
    assert rows and all(day["start_time"] <= m[window_field] <= day["end_time"] for m in rows)
    assert [m["id"] for m in rows] == _ids(api, **day)


@pytest.mark.parametrize("order", ["created_desc", "created_asc", "updated_desc", "updated_asc"])
def test_orders(emulator_factory, api_for, order):
    emu = emulator_factory(meetings=80, order=order)
    by, _, direction = order.partition("_")
    pages = api_for(emu).walk("/meetings", per_page=30)
    listed = [m for page in pages for m in page["data"]]
    key = [(m[f"{by}_at"], m["id"]) for m in listed]
    assert key == sorted(key, reverse=direction == "desc")
    assert len(listed) == 80 and listed == emu.meetings(secrets=True)


def test_status_filter_can_be_ignored(emulator_factory, api_for):
    on, off = emulator_factory(), emulator_factory(status_filter=False)
    for emu, honoured in ((on, True), (off, False)):
        statuses = {
            m["status"] for page in api_for(emu).walk("/meetings", status="INACTIVE") for m in page["data"]
        }
        assert statuses == ({"INACTIVE"} if honoured else {"ACTIVE", "INACTIVE"})
        assert {m["status"] for m in emu.meetings(status="INACTIVE")} == statuses


def test_read_only_token_reads_and_is_refused_writes(emulator_factory, api_for):
    emu = emulator_factory(read_only_token=READ_ONLY)
    api = api_for(emu)
    api.http.headers["Authorization"] = f"Bearer {READ_ONLY}"
    before = emu.meetings(secrets=True)
    mid = before[0]["id"]
    assert api.get("/meetings").status_code == 200
    assert api.get(f"/meetings/{mid}").status_code == 200
    for method, path, body in (
        ("PATCH", f"/meetings/{mid}", {"status": "INACTIVE"}),
        ("PUT", f"/meetings/{mid}", {"title": "x"}),
        ("POST", "/meetings", {"title": "x"}),
        ("POST", f"/meetings/{mid}/participants", {"custom_participant_id": "a", "preset_name": "b"}),
    ):
        r = api.http.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["errors"][0]["code"] == 10000
    assert emu.meetings(secrets=True) == before


def test_cli_flags_and_validation():
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    argv = ["--window-field", "updated_at", "--exclusive-start", "--exclusive-end", "--no-status-filter"]
    cfg, _ = config_from_args(parser.parse_args([*argv, "--read-only-token", "ro", "--order", "updated_asc"]))
    assert (cfg.window_field, cfg.start_inclusive, cfg.end_inclusive, cfg.status_filter) == (
        "updated_at",
        False,
        False,
        False,
    )
    assert (cfg.read_only_token, cfg.order) == ("ro", "updated_asc")
    with pytest.raises(ValueError, match="window_field"):
        EmulatorConfig(window_field="deleted_at")
    with pytest.raises(ValueError, match="read_only_token"):
        EmulatorConfig(read_only_token="emu-token")
