"""`rtk_pipeline.frames` on both backends, set up as a user would (a backfill from the CLI): `read_table`'s
Arrow answer is what `rtk-pipeline sql --format json` prints for the same query, `connect()` is a read-only
session over every table and view, and no storage credential appears in an error or a repr."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.frames import connect, read_table
from tests.support.processes import cli_env, run_cli

WINDOW = ["--start", "2026-10-29", "--end", "2026-10-31"]
QUERIES = [
    "meetings",
    "participants",
    "meetings_per_day",
    "stale_candidates(0, TIMESTAMPTZ '2026-12-01 00:00:00+00')",
    "SELECT status, count(*) AS n, min(created_at) AS first FROM meetings GROUP BY ALL",
]


@pytest.fixture
def as_user(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """`as_user(env)`: this process sees exactly the RTK_* and AWS_* settings of `env` (a CLI user's)."""

    def use(env: dict[str, str]) -> None:
        for key in [k for k in env if k.startswith(("RTK_", "AWS_"))]:
            monkeypatch.setenv(key, env[key])
        for key in ("RTK_STORE", "RTK_TABLE_URI"):
            if key not in env:
                monkeypatch.delenv(key, raising=False)

    yield use


def _backfilled(env: dict[str, str]) -> dict[str, str]:
    done = run_cli(["backfill", *WINDOW], env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return env


def _json_rows(table: pa.Table) -> list[dict]:
    """The Arrow rows as the CLI's JSON carries them: dates and instants as ISO text at milliseconds."""

    def value(v: object) -> object:
        if isinstance(v, datetime):
            return v.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if isinstance(v, date):
            return f"{v.isoformat()}T00:00:00.000"
        return v

    return [{k: value(v) for k, v in row.items()} for row in table.to_pylist()]


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


@pytest.mark.parametrize("backend", ["duckdb", "delta"])
def test_read_table_as_arrow_equals_sql_json(tmp_path, emulator, as_user, backend):
    extra = {"RTK_STORE": "delta", "RTK_TABLE_URI": str(tmp_path / "lake")} if backend == "delta" else {}
    env = _backfilled(cli_env(tmp_path, emulator.env(), **extra))
    as_user(env)
    for query in QUERIES:
        done = run_cli(["sql", query, "--format", "json"], env)
        assert done.returncode == 0, done.stderr[-2000:]
        printed = json.loads(done.stdout)
        answer = read_table(query, to="arrow")
        assert isinstance(answer, pa.Table) and answer.num_rows == len(printed) > 0, query
        assert answer.column_names == list(printed[0]), query
        assert _sorted(_json_rows(answer)) == _sorted(printed), query

    frame = read_table("meetings_per_day")  # pandas stays the default
    assert frame.total.sum() == read_table("SELECT count(*) AS n FROM meetings", to="arrow")["n"][0].as_py()
    assert str(frame.day.dtype).startswith("datetime64")
    if backend == "delta":
        assert not (tmp_path / "rtk.duckdb").exists(), "reading the Delta tables wrote a DuckDB file"


def test_both_backends_give_the_same_arrow(tmp_path, emulator, as_user):
    duck = _backfilled(cli_env(tmp_path / "duck", emulator.env()))
    delta = _backfilled(
        cli_env(tmp_path / "delta", emulator.env(), RTK_STORE="delta", RTK_TABLE_URI=str(tmp_path / "lake"))
    )
    answers = {}
    for name, env in (("duckdb", duck), ("delta", delta)):
        as_user(env)
        answers[name] = read_table("SELECT * FROM meetings_per_day ORDER BY app_id, day", to="arrow")
    assert answers["delta"].to_pylist() == answers["duckdb"].to_pylist()
    assert answers["delta"].schema == answers["duckdb"].schema


@pytest.mark.parametrize("backend", ["duckdb", "delta"])
def test_connect_is_a_read_only_session_that_creates_nothing(tmp_path, emulator, as_user, backend):
    extra = {"RTK_STORE": "delta", "RTK_TABLE_URI": str(tmp_path / "lake")} if backend == "delta" else {}
    env = cli_env(tmp_path, emulator.env(), **extra)
    as_user(env)
    with pytest.raises(FileNotFoundError, match="rtk-pipeline backfill"):
        connect()
    with pytest.raises(FileNotFoundError, match="rtk-pipeline backfill"):
        read_table("meetings", to="arrow")
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "a read created something"

    _backfilled(env)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    with connect() as con:
        days = con.sql("SELECT count(*) FROM meetings_per_day").fetchall()[0][0]
        assert days == 3
        assert con.sql("SELECT count(*) FROM participants").fetchall()[0][0] > 0
        with pytest.raises(duckdb.Error):
            con.execute("DELETE FROM meetings")
        if backend == "duckdb":
            with pytest.raises(duckdb.Error, match="read-only"):
                con.execute("CREATE TABLE notes (n INTEGER)")
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a read-only session changed a file"


def test_a_held_session_never_blocks_a_sync_and_sees_its_days(tmp_path, emulator, as_user):
    env = _backfilled(cli_env(tmp_path, emulator.env()))
    as_user(env)
    with connect() as con:
        assert con.sql("SELECT count(*) FROM meetings_per_day").fetchall() == [(3,)]
        done = run_cli(["backfill", "--start", "2026-10-27", "--end", "2026-10-28"], env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert con.sql("SELECT count(*) FROM meetings_per_day").fetchall() == [(5,)]


def test_storage_credentials_never_reach_an_error_or_a_repr(tmp_path, emulator, s3, as_user):
    secrets = [s3.env["AWS_SECRET_ACCESS_KEY"], s3.env["AWS_ACCESS_KEY_ID"]]
    missing = cli_env(tmp_path, emulator.env(), RTK_STORE="delta", RTK_TABLE_URI=s3.uri("none"), **s3.env)
    as_user(missing)
    with pytest.raises(FileNotFoundError) as nothing:
        read_table("meetings", to="arrow")
    assert s3.objects("none") == {}, "a read created objects"

    env = _backfilled({**missing, "RTK_TABLE_URI": s3.uri("lake")})
    as_user(env)
    assert read_table("SELECT count(*) AS n FROM meetings", to="arrow")["n"][0].as_py() > 0
    with pytest.raises(WarehouseError) as refused:
        read_table("SELECT * FROM read_text('/proc/self/environ')", to="arrow")
    with pytest.raises(WarehouseError) as broken:
        read_table("SELECT no_such_column FROM meetings", to="arrow")
    with connect() as con:
        shown = repr(con) + str(con.sql("FROM duckdb_settings()").fetchall())
        shown += str(con.sql("FROM duckdb_secrets()").fetchall())
    for text in (str(nothing.value), str(refused.value), str(broken.value), shown):
        for secret in secrets:
            assert secret not in text


def test_polars_when_installed_and_one_clear_line_when_not(tmp_path, emulator, as_user, monkeypatch):
    as_user(_backfilled(cli_env(tmp_path, emulator.env())))
    arrow = read_table("SELECT id, created_at FROM meetings ORDER BY id", to="arrow")
    try:
        import polars
    except ImportError:
        polars = None
    if polars is not None:
        frame = read_table("SELECT id, created_at FROM meetings ORDER BY id", to="polars")
        assert isinstance(frame, polars.DataFrame) and frame.to_arrow().to_pylist() == arrow.to_pylist()
    monkeypatch.setitem(__import__("sys").modules, "polars", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install polars"):
        read_table("meetings", to="polars")
    with pytest.raises(ValueError, match="'arrow', 'pandas', 'polars'"):
        read_table("meetings", to="numpy")  # type: ignore[arg-type]


def test_a_duckdb_path_argument_reads_that_file_from_any_folder(tmp_path, emulator, as_user, monkeypatch):
    env = _backfilled(cli_env(tmp_path / "wh", emulator.env()))
    monkeypatch.delenv("RTK_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("RTK_PARQUET_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    path = Path(env["RTK_DUCKDB_PATH"])
    assert read_table("meetings_per_day", path, to="arrow").num_rows == 3
    with connect(path) as con:
        assert con.sql("SELECT count(*) FROM meetings_per_day").fetchall() == [(3,)]
