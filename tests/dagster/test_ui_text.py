"""What the UI shows as text: markdown tables whose rows hold whatever a title says, NULL rather than `nan`,
log lines without enum reprs, a reason when a deactivation run deactivated nothing, and a sensor cursor
of a few short lines that still round-trips the library's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from dagster_defs import cursor, markdown
from dagster_defs.stale import _decisions_markdown, counts_line, why_none
from rtk_pipeline import stale
from rtk_pipeline.stale import eligibility

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _cells(row: str) -> list[str]:
    """A markdown row's cells as a renderer splits them: at pipes that are not escaped."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_a_title_with_a_newline_or_a_pipe_stays_in_its_cell():
    decision = stale.Decision(
        meeting_id="m-1",
        title="Board room\nQ4 | budget",
        last_activity_at=NOW - timedelta(days=40),
        threshold_days=30,
        decision=stale.DEACTIVATED,
        dry_run=False,
        http_status=200,
        error=None,
        detail="idle 40 days",
        decided_at=NOW,
        run_id="r",
        as_of=NOW,
    )
    lines = _decisions_markdown([decision]).splitlines()
    assert len(lines) == 3  # header, rule, one row
    assert _cells(lines[2]) == [
        "m-1",
        "Board room Q4 | budget",
        "2026-10-28 01:00",
        "deactivated",
        "200",
        "idle 40 days",
    ]


def test_missing_values_read_null():
    rows = pa.table(
        {
            "id": pa.array(["a", "b"]),
            "score": pa.array([None, float("nan")], pa.float64()),
            "updated_at": pa.array([None, NOW], pa.timestamp("us", "UTC")),
        }
    )
    text = markdown.table(rows.column_names, markdown.arrow_rows(rows))
    lines = text.splitlines()
    assert lines[2] == "| a | NULL | NULL |"
    assert lines[3].startswith("| b | NULL | 2026-12-07 01:00:00")
    assert "nan" not in text


def test_log_lines_name_decisions_not_enum_reprs():
    counts = {stale.DEACTIVATED: 2, stale.SKIP_DENIED: 1}
    line = counts_line(counts)
    assert line == "deactivated 2, skipped:denied 1"
    assert "Outcome" not in line


def test_a_run_that_deactivated_nothing_says_why():
    policy = stale.StalePolicy(stale_after_days=14)
    assert why_none(policy, {stale.DEACTIVATED: 1}) is None
    assert why_none(policy, {}) == (
        "no stale candidate: the warehouse holds no ACTIVE meeting idle for 14 days"
    )
    dry = stale.StalePolicy(dry_run=True)
    assert why_none(dry, {stale.WOULD_DEACTIVATE: 3}).startswith("dry run: 3 meeting(s) would be")
    assert why_none(policy, {stale.SKIP_CHANGED: 2}) == (
        "nothing deactivated: skipped:meeting-changed-since-sync 2"
    )


def test_the_sensor_cursor_is_short_lines_of_digests_looked_up_by_id():
    ids = [f"{n:08d}-0000-4000-8000-000000000000" for n in range(50)]
    requested = {**dict.fromkeys(ids[:30], NOW - timedelta(hours=1)), **dict.fromkeys(ids[30:], NOW)}
    library = eligibility.dump_cursor(requested)
    packed = cursor.pack(library)
    lines = packed.splitlines()
    assert len(lines) == 2 and lines[0].startswith("2026-12-07T00:00:00+00:00 ")
    assert len(packed) < len(library) / 4 and ids[0] not in packed
    unpacked = cursor.unpack(packed)
    assert all(unpacked[i] == at for i, at in requested.items()) and "m-unknown" not in unpacked
    # What the library writes back after a tick (digests of old requests, ids of new ones) packs the same.
    again = eligibility.dump_cursor({**unpacked, "m-new": NOW})
    assert cursor.unpack(cursor.pack(again))["m-new"] == NOW
    assert set(cursor.unpack(cursor.pack(again))) == {*map(cursor.digest, ids), cursor.digest("m-new")}
    assert cursor.unpack(library)[ids[0]] == NOW - timedelta(hours=1)  # stored by an earlier release
    assert len(cursor.unpack(None)) == 0 and len(cursor.unpack("not-a-time id-1")) == 0
