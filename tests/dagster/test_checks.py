"""The asset checks pass on good data and fail, on exactly the broken partitions, on data broken on
purpose; blocking failures stop the downstream assets; freshness follows the latest closed day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_defs.checks import expected_partition
from rtk_pipeline.store import DuckDBStore
from tests.support.names import CHECKS_JOB, FRESHNESS_JOB, P_STEP, VIEWS, M, P

START = date(2025, 1, 1)  # the project's first partition (RTK_PARTITIONS_START unset)


def _sabotage(path: Path, statements: list[tuple[str, list]]) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql, params in statements:
            con.execute(sql, params)
    finally:
        con.close()


def _meeting_with_participants(path: Path, day: date) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "SELECT meeting_id FROM participants WHERE meeting_created_day = ? ORDER BY meeting_id LIMIT 1",
            [day],
        ).fetchone()[0]
    finally:
        con.close()


def _failures(results: dict) -> set[tuple[str, str, str | None]]:
    """Failed per-partition checks (freshness fails on the fixture's old days by design)."""
    return {k for k, passed in results.items() if not passed and k[1] != "latest_partition_fresh"}


def test_checks_fail_exactly_where_data_is_broken(
    emu, rtk_env, instance, run_job, check_results, window, token
):
    first, last = window
    good = run_job(instance, first, last)
    assert good.success
    assert _failures(check_results(good)) == set()

    # Broken where the checks read: the pipeline's state (the analysts' file holds only views).
    db = DuckDBStore(
        Path(rtk_env["RTK_DUCKDB_PATH"]), Path(rtk_env["RTK_PARQUET_DIR"]), app_id=emu.app_id
    ).state_path
    day = {n: first + timedelta(days=n) for n in range(10)}
    lost = _meeting_with_participants(db, day[1])
    _sabotage(
        db,
        [
            # day 1: a meeting vanished from the table (its participants are orphans now)
            ("DELETE FROM meetings WHERE id = ?", [lost]),
            # day 2 -> day 3: a meeting stored a second time under the wrong day
            (
                "INSERT INTO meetings SELECT * REPLACE (CAST(? AS DATE) AS created_day) FROM meetings "
                "WHERE id = (SELECT min(id) FROM meetings WHERE created_day = ?)",
                [day[3], day[2]],
            ),
            # day 5: storage credentials that escaped the scrubber; day 6: the API token in a title
            (
                'UPDATE meetings SET recording_config = \'{"storage_config": {"secret": "s3"}}\' '
                "WHERE id = (SELECT min(id) FROM meetings WHERE created_day = ?)",
                [day[5]],
            ),
            (
                "UPDATE meetings SET title = 'standup ' || ? "
                "WHERE id = (SELECT min(id) FROM meetings WHERE created_day = ?)",
                [token, day[6]],
            ),
            # day 7: a participant token in the extra JSON; day 8: a participant stored twice
            (
                'UPDATE participants SET extra = \'{"nested": [{"token": "EMU-PTOKEN-1"}]}\' '
                "WHERE id = (SELECT min(id) FROM participants WHERE meeting_created_day = ?)",
                [day[7]],
            ),
            (
                "INSERT INTO participants SELECT * FROM participants "
                "WHERE id = (SELECT min(id) FROM participants WHERE meeting_created_day = ?)",
                [day[8]],
            ),
        ],
    )

    checked = run_job(instance, first, last, job=CHECKS_JOB)
    assert not checked.success  # blocking checks failed
    m, p = M, P
    d = {n: v.isoformat() for n, v in day.items()}
    assert _failures(check_results(checked)) == {
        (m, "rows_match_api", d[1]),
        (m, "parquet_matches_table", d[1]),
        (p, "meeting_exists", d[1]),
        (m, "ids_unique", d[2]),
        (m, "ids_unique", d[3]),
        (m, "rows_match_api", d[3]),
        (m, "created_at_in_partition", d[3]),
        (m, "parquet_matches_table", d[3]),
        (m, "secrets_absent", d[5]),
        (m, "secrets_absent", d[6]),
        (p, "secrets_absent", d[7]),
        (p, "ids_unique", d[8]),
        (p, "rows_match_api", d[8]),
        (p, "parquet_matches_table", d[8]),
    }
    # Findings name where, never what.
    for evaluation in checked.get_asset_check_evaluations():
        assert token not in repr(evaluation.metadata)
        assert "EMU-PTOKEN" not in repr(evaluation.metadata)

    # A re-sync of the broken days repairs them: the checks pass again.
    repaired = run_job(instance, first, last)
    assert repaired.success
    assert _failures(check_results(repaired)) == set()


def test_blocking_check_stops_downstream(emu, rtk_env, instance, run_job, check_results, window, token):
    """The API itself serves a meeting whose title carries the token: the meetings land, the blocking
    secrets check fails for that day, and participants and the views are not materialized."""
    first, last = window
    emu.add_meeting(title=f"paste {token} here", created_at=datetime(2026, 10, 25, 0, 0, 1, tzinfo=UTC))
    result = run_job(instance, first, last)
    assert not result.success
    assert _failures(check_results(result)) == {(M, "secrets_absent", "2026-10-25")}
    materializations = result.get_asset_materialization_events()
    assert {e.asset_key.to_user_string() for e in materializations} == {M}
    # The day's preview shows the row, not the token: metadata is kept for good.
    (day,) = [e for e in materializations if e.partition == "2026-10-25"]
    preview = day.step_materialization_data.materialization.metadata["preview"].value
    assert "[redacted]" in preview
    assert not [e for e in materializations if token in repr(e.step_materialization_data.materialization)]
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert not {P_STEP, VIEWS.to_python_identifier()} & started


def test_freshness_follows_the_latest_closed_day(emu, rtk_env, instance, run_job, check_results, window):
    first, last = window
    now = datetime.now(UTC)
    due = expected_partition(now, 6, START)
    assert run_job(instance, first, last).success  # old days only
    stale = run_job(instance, job=FRESHNESS_JOB)
    assert check_results(stale) == {
        (M, "latest_partition_fresh", None): False,
        (P, "latest_partition_fresh", None): False,
    }
    due_day = date.fromisoformat(due)
    assert run_job(instance, due_day, due_day).success  # the due day, empty in the emulator, lands
    fresh = run_job(instance, job=FRESHNESS_JOB)
    assert all(check_results(fresh).values())


def test_expected_partition_waits_for_the_grace_period():
    assert expected_partition(datetime(2026, 11, 27, 5, 59, tzinfo=UTC), 6, START) == "2026-11-25"
    assert expected_partition(datetime(2026, 11, 27, 6, 0, tzinfo=UTC), 6, START) == "2026-11-26"
    assert expected_partition(datetime(2026, 11, 27, 0, 0, tzinfo=UTC), 0, START) == "2026-11-26"
    assert expected_partition(datetime(2025, 1, 1, 12, 0, tzinfo=UTC), 6, START) is None
