"""Delta transactions against real delta-rs tables (a local root): a writer whose snapshot another commit
has moved past conflicts on the same days and retries from its own data, commits over it on other days,
and gives up after its bounded attempts with a clear error and nothing of its write landed."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pytest

from rtk_pipeline.errors import RetriableError
from rtk_pipeline.store.delta.lake import Lake, LakeConflictError, Layout, in_list, literal
from rtk_pipeline.store.delta.objectstore import TableRoot

SCHEMA = pa.schema(
    [pa.field("id", pa.string(), nullable=False), pa.field("day", pa.date32(), nullable=False)]
)
D1, D2 = date(2026, 10, 1), date(2026, 10, 2)


def rows(ids: list[str], day: date) -> pa.Table:
    return pa.table({"id": ids, "day": [day] * len(ids)}, schema=SCHEMA)


def stored(lake: Lake) -> list[tuple[str, date]]:
    table = Lake(lake.root, lake.layouts).dataset("t").to_table()  # a reader of its own
    return sorted(zip(table.column("id").to_pylist(), table.column("day").to_pylist(), strict=True))


@pytest.fixture
def raced(tmp_path, monkeypatch):
    """A lake whose next write starts from a snapshot that a winner's commit on D1 has made stale, for as
    many attempts as `raced(n)` says (then it reads the table afresh, as every retry does)."""
    lake = Lake(TableRoot.from_env(str(tmp_path / "lake")), {"t": Layout(SCHEMA, "day")}, max_attempts=3)
    lake.replace("t", rows(["old"], D1), in_list("day", [D1]), run_id="first")
    stale = lake._table("t")
    lake.replace("t", rows(["winner"], D1), in_list("day", [D1]), run_id="winner")
    fresh = lake._table

    def losing(times: int) -> Lake:
        left = [times]

        def table(name: str):
            left[0] -= 1
            return stale if left[0] >= 0 else fresh(name)

        monkeypatch.setattr(lake, "_table", table)
        return lake

    return losing


def test_the_loser_of_a_same_day_race_retries_from_its_own_data(raced):
    lake = raced(1)
    lake.replace("t", rows(["mine-1", "mine-2"], D1), in_list("day", [D1]), run_id="me")
    assert stored(lake) == [("mine-1", D1), ("mine-2", D1)]  # the day replaced whole, no duplicate


def test_writers_on_other_days_both_commit(raced):
    lake = raced(1)
    lake.replace("t", rows(["other"], D2), in_list("day", [D2]), run_id="me")
    assert stored(lake) == [("other", D2), ("winner", D1)]


def test_a_writer_that_keeps_losing_gives_up_with_a_clear_error(raced):
    lake = raced(99)
    with pytest.raises(LakeConflictError) as info:
        lake.replace("t", rows(["mine"], D1), in_list("day", [D1]), run_id="me")
    assert isinstance(info.value, RetriableError)
    assert "lost 3 races in a row" in str(info.value) and "nothing of this write landed" in str(info.value)
    assert stored(lake) == [("winner", D1)]


APP_SCHEMA = SCHEMA.append(pa.field("app_id", pa.string(), nullable=False))


def test_writers_of_two_apps_on_one_day_both_commit_without_a_retry(tmp_path, monkeypatch):
    """Each app's overwrite names its app (as DeltaStore's do): a commit from a snapshot that another app's
    commit on the same day has made stale does not conflict (one attempt only here) and keeps its rows."""
    lake = Lake(TableRoot.from_env(str(tmp_path / "lake")), {"t": Layout(APP_SCHEMA, "day")}, max_attempts=1)

    def write(ids: list[str], app: str) -> None:
        data = pa.table({"id": ids, "day": [D1] * len(ids), "app_id": [app] * len(ids)}, schema=APP_SCHEMA)
        lake.replace("t", data, f"app_id = {literal(app)} AND {in_list('day', [D1])}", run_id=app)

    write(["a-old"], "A")
    write(["b-old"], "B")
    stale = lake._table("t")
    write(["a-new"], "A")
    monkeypatch.setattr(lake, "_table", lambda name: stale)
    write(["b-new"], "B")
    table = Lake(lake.root, lake.layouts).dataset("t").to_table()
    assert sorted(zip(table.column("app_id").to_pylist(), table.column("id").to_pylist(), strict=True)) == [
        ("A", "a-new"),
        ("B", "b-new"),
    ]
