"""Each fault knob does what it says, observably over HTTP; fault decisions are seeded; the rate limit
locks a client out like Cloudflare's; page drift moves rows between page requests."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from rtk_pipeline.emulator import Faults


def ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def rtk_error_code(r: httpx.Response) -> int:
    body = r.json()
    assert body["success"] is False
    return body["error"]["code"]


def test_p429_carries_retry_after_in_seconds(emulator_factory, api_for):
    api = api_for(emulator_factory(p429=1.0, retry_after="7"))
    r = api.get("/meetings")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json()["errors"][0]["code"] == 971 and r.json()["success"] is False


def test_p429_can_carry_an_http_date(emulator_factory, api_for):
    api = api_for(emulator_factory(p429=1.0, retry_after="date", retry_after_s=30))
    r = api.get("/meetings")
    wait = (parsedate_to_datetime(r.headers["retry-after"]) - datetime.now(UTC)).total_seconds()
    assert r.status_code == 429 and 25 <= wait <= 35


def test_p429_without_retry_after(emulator_factory, api_for):
    r = api_for(emulator_factory(p429=1.0, retry_after=None)).get("/meetings")
    assert r.status_code == 429 and "retry-after" not in r.headers


def test_p5xx_answers_each_server_error_in_the_realtimekit_shape(emulator_factory, api_for):
    api = api_for(emulator_factory(p5xx=1.0))
    statuses = {api.get("/meetings").status_code for _ in range(40)}
    assert statuses == {500, 502, 503, 504}
    only = api_for(emulator_factory(p5xx=1.0, statuses_5xx=(503,))).get("/meetings")
    assert only.status_code == 503 and rtk_error_code(only) == 503


def test_latency_delays_every_answer(emulator_factory, api_for):
    r = api_for(emulator_factory(latency_s=0.3)).get("/meetings")
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.3


def test_truncated_body_is_a_prefix_of_the_real_one(emulator_factory, api_for):
    emu = emulator_factory(p_truncated=1.0)
    api = api_for(emu)
    cut = api.get("/meetings")
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    emu.set_faults(p_truncated=0.0)
    whole = api.get("/meetings").content
    assert whole.startswith(cut.content) and 0 < len(cut.content) < len(whole)


def test_truncated_transport_style_breaks_the_connection_mid_body(emulator_factory, api_for):
    api = api_for(emulator_factory(p_truncated=1.0, truncate_style="transport"))
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/meetings")


def test_a_truncated_write_still_happened(emulator_factory, api_for):
    emu = emulator_factory(p_truncated=1.0, fault_paths="create_meeting")
    r = api_for(emu).post("/meetings", json={"title": "landed"})
    assert r.status_code == 201 and len(emu.meetings(search="landed")) == 1


def test_faults_answered_instead_of_a_write_change_nothing(emulator_factory, api_for):
    emu = emulator_factory(p5xx=1.0, fault_paths="write")
    api = api_for(emu)
    assert api.post("/meetings", json={"title": "never"}).status_code >= 500
    assert emu.meetings(search="never") == [] and len(emu.meetings()) == 300


@pytest.mark.parametrize("status", [502, 200])
def test_non_json_is_a_proxy_html_page(emulator_factory, api_for, status):
    r = api_for(emulator_factory(p_non_json=1.0, non_json_statuses=(status,))).get("/meetings")
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<html>")


def test_success_false_with_http_200(emulator_factory, api_for):
    r = api_for(emulator_factory(p_success_false=1.0)).get("/meetings")
    assert r.status_code == 200 and r.json()["success"] is False and r.json()["error"]["message"]


def test_reset_closes_the_connection_without_an_answer(emulator_factory, api_for):
    emu = emulator_factory(p_reset=1.0)
    api = api_for(emu)
    with pytest.raises(httpx.TransportError):
        api.get("/meetings")
    assert emu.requests[-1].status == 0 and emu.requests[-1].fault == "reset"
    emu.set_faults(p_reset=0.0)
    assert api.get("/meetings").status_code == 200, "a new connection works again"


def test_fault_paths_limit_which_endpoints_fail(emulator_factory, api_for):
    emu = emulator_factory(p5xx=1.0, fault_paths="list")
    api = api_for(emu)
    mid = emu.meetings()[0]["id"]
    assert api.get("/meetings").status_code >= 500
    assert api.get(f"/meetings/{mid}/participants").status_code >= 500
    assert api.get(f"/meetings/{mid}").status_code == 200
    emu.set_faults(fault_paths="get_meeting,create_meeting")
    assert api.get("/meetings").status_code == 200
    assert api.get(f"/meetings/{mid}").status_code >= 500


def test_random_faults_repeat_with_the_same_seed(emulator_factory, api_for):
    def statuses(seed: int) -> list[int]:
        api = api_for(emulator_factory(p5xx=0.3, p429=0.2, fault_seed=seed))
        return [api.get("/meetings", params={"per_page": 1}).status_code for _ in range(30)]

    first = statuses(3)
    assert first == statuses(3) and first != statuses(4)
    assert {200, 429} <= set(first) and max(first) >= 500


def test_set_faults_changes_knobs_at_runtime(emulator, api):
    assert emulator.set_faults(p5xx=1.0, statuses_5xx=(500,)).p5xx == 1.0
    assert api.get("/meetings").status_code == 500
    emulator.set_faults(p5xx=0.0)
    assert api.get("/meetings").status_code == 200
    assert emulator.stats["faults"] == {"5xx": 1}


def test_invalid_faults_are_rejected(emulator):
    for bad in ({"p429": 2.0}, {"p429": 0.6, "p5xx": 0.6}, {"fault_paths": "bogus"}, {"truncate_style": "x"}):
        with pytest.raises(ValueError):
            Faults(**bad)
    with pytest.raises(ValueError):
        emulator.set_faults(p5xx=5.0)
    assert emulator.faults == Faults()


def test_fail_next_forces_exact_faults(emulator, api):
    emulator.fail_next(2, 503)
    assert [api.get("/meetings").status_code for _ in range(3)] == [503, 503, 200]
    mid = emulator.meetings()[0]["id"]
    emulator.fail_next(1, kind="reset", paths="get_meeting")
    assert api.get("/meetings").status_code == 200
    with pytest.raises(httpx.TransportError):
        api.get(f"/meetings/{mid}")
    emulator.fail_next(1, 401)
    r = api.get("/meetings")
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == 10000
    emulator.fail_next(1, 429)
    assert api.get("/meetings").headers["retry-after"] == "1"
    emulator.fail_next(1, 404)
    assert rtk_error_code(api.get("/meetings")) == 404
    emulator.fail_next(1, kind="success_false")
    assert api.get("/meetings").json()["success"] is False
    with pytest.raises(ValueError):
        emulator.fail_next(1)


def test_rate_limit_locks_out_then_recovers(emulator_factory, api_for):
    emu = emulator_factory(rate_limit=(5, 60.0), lockout_s=0.5)
    api = api_for(emu)
    assert [api.get("/meetings").status_code for _ in range(5)] == [200] * 5
    locked = api.get("/meetings")
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert locked.json()["errors"][0]["code"] == 971
    assert api.get("/meetings").status_code == 429, "everything is refused during the lockout"
    assert emu.stats["lockouts"] == 1
    time.sleep(0.6)
    assert api.get("/meetings").status_code == 200
    assert emu.stats["lockouts"] == 1


def test_rate_limit_counts_a_sliding_window(emulator_factory, api_for):
    emu = emulator_factory(rate_limit=(3, 0.3), lockout_s=60)
    api = api_for(emu)
    assert [api.get("/meetings").status_code for _ in range(3)] == [200] * 3
    time.sleep(0.35)
    assert [api.get("/meetings").status_code for _ in range(3)] == [200] * 3
    assert emu.stats["lockouts"] == 0


def test_drift_insert_shifts_rows_onto_the_next_page(emulator_factory, api_for):
    emu = emulator_factory(drift_insert=1.0)
    api = api_for(emu)
    window = {"start_time": "2026-10-25T00:00:00Z", "end_time": "2026-10-25T23:59:59.999Z", "per_page": 10}
    first = api.get("/meetings", params={**window, "page_no": 1}).json()
    second = api.get("/meetings", params={**window, "page_no": 2}).json()
    assert second["data"][0]["id"] == first["data"][-1]["id"], "the insert pushed page 1's last row down"
    assert second["paging"]["total_count"] == first["paging"]["total_count"] + 1
    top = emu.meetings(start_time="2026-10-25T00:00:00Z", end_time="2026-10-25T23:59:59.999Z")[0]
    assert top["title"] == "drift insert" and top["created_at"] == "2026-10-25T23:59:59.999Z"
    assert emu.stats["drift"] == {"insert": 2}


def test_drift_update_moves_an_unpaged_meeting_above_the_pager(emulator_factory, api_for):
    emu = emulator_factory(order="updated_desc", drift_update=1.0)
    api = api_for(emu)
    before = ids(emu.meetings())
    first = api.get("/meetings", params={"per_page": 10}).json()
    assert ids(first["data"]) == before[:10]
    assert emu.meetings()[0]["id"] in before[10:], "a meeting not yet paged jumped to the top"
    seen = ids([row for page in api.walk("/meetings", per_page=10) for row in page["data"]])
    updates = emu.stats["drift"]["update"] - 1
    assert updates > 0 and set(seen) <= set(before)
    assert len(set(before) - set(seen)) == updates, "each update hides one meeting from the pager"
    assert len(seen) - len(set(seen)) == updates, "... and serves one twice"


def test_drift_delete_hides_a_participant_that_still_exists(emulator_factory, api_for):
    emu = emulator_factory(drift_delete=1.0)
    api = api_for(emu)
    big = next(m["id"] for m in emu.meetings() if len(emu.participants(m["id"])) > 100)
    truth = emu.participants(big)
    first = api.get(f"/meetings/{big}/participants", params={"per_page": 50, "page_no": 1}).json()
    after_first = emu.participants(big)
    gone = set(ids(truth)) - set(ids(after_first))
    assert len(gone) == 1 and gone <= set(ids(first["data"])), "the deleted one was already paged"
    second = api.get(f"/meetings/{big}/participants", params={"per_page": 50, "page_no": 2}).json()
    skipped = truth[50]["id"]
    assert skipped in ids(after_first) and skipped not in ids(first["data"]) + ids(second["data"])
    assert emu.stats["drift"] == {"delete": 2}
