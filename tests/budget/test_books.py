"""Where a token's limiter state lives: a state file locked across real processes, a Postgres row, and the
one-line errors a user sees when neither can be used."""

from __future__ import annotations

import itertools
import json
import os
import struct
import subprocess
import sys
import uuid

import pytest

from rtk_pipeline.budget import FileBook, PgBook, open_book, token_key
from rtk_pipeline.budget.filebook import HORIZON_S
from rtk_pipeline.errors import ConfigError
from rtk_pipeline.ratelimit import shared_limiter
from tests.support.processes import cli, cli_env

INTERVAL = 0.002
_RESERVER = """
import json, sys, time
from pathlib import Path
from rtk_pipeline.budget import FileBook
seen = [0.0]  # the instant the book read the clock: its slot is that instant plus the wait it returns

def clock():
    seen[0] = time.time()
    return seen[0]

book = FileBook(Path(sys.argv[1]), setting="RTK_BUDGET_DIR", clock=clock)
slots = []
for _ in range(int(sys.argv[2])):
    wait = book.reserve(float(sys.argv[3]), 0.0)
    slots.append(seen[0] + wait)
print(json.dumps(slots))
"""


def test_processes_sharing_a_state_file_get_evenly_spaced_slots(tmp_path):
    path = tmp_path / "budget" / "token.gcra"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RESERVER, str(path), "150", str(INTERVAL)], stdout=subprocess.PIPE
        )
        for _ in range(4)
    ]
    slots = sorted(s for proc in procs for s in json.loads(proc.communicate(timeout=60)[0]))
    assert len(slots) == 600
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= INTERVAL * 0.9999, "two processes were given overlapping slots"


def test_a_state_file_with_a_tat_beyond_the_horizon_is_ignored(tmp_path):
    """A wall clock stepped back must not stall every sync until it catches up."""
    clock = [1_000_000.0]
    book = FileBook(tmp_path / "t.gcra", setting="RTK_BUDGET_DIR", clock=lambda: clock[0])
    book.hold(30.0)
    assert book.reserve(1.0, 0.0) == pytest.approx(30.0)
    clock[0] -= 2 * HORIZON_S
    assert book.reserve(1.0, 0.0) == 0.0
    assert book.reserve(1.0, 0.0) == pytest.approx(1.0)


def test_a_budget_dir_that_cannot_be_made_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^RTK_BUDGET_DIR: cannot keep the rate budget in .*a-file"):
        open_book("tok", "http://x", {"RTK_BUDGET_DIR": str(blocker / "budget")})


def test_the_cli_says_so_in_one_line(tmp_path, emulator):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = cli_env(tmp_path, emulator.env(), RTK_BUDGET_DIR=str(blocker / "budget"))
    done = subprocess.run(
        cli("backfill", "--start", "2026-10-30", "--end", "2026-10-30"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "RTK_BUDGET_DIR: cannot keep the rate budget" in done.stderr
    assert "Traceback" not in done.stderr and emulator.token not in done.stderr + done.stdout


def test_an_unreachable_database_is_one_clear_error_without_its_password():
    url = "postgresql+psycopg2://rtk:hunter2-secret@127.0.0.1:1/rtk"
    with pytest.raises(ConfigError) as info:
        open_book("tok", "http://x", {"RTK_BUDGET_PG_URL": url})
    message = str(info.value)
    assert message.startswith("RTK_BUDGET_PG_URL: the rate budget's database did not answer")
    assert "hunter2" not in message and "\n" not in message


def test_postgres_rows_are_shared_and_honour_holds(postgres):
    key = token_key(f"tok-{uuid.uuid4()}", "http://x")
    first = PgBook(postgres.url, key, setting="RTK_BUDGET_PG_URL")
    second = PgBook(postgres.url, key, setting="RTK_BUDGET_PG_URL")
    assert first.reserve(1.0, 0.0) <= 0.0
    assert second.reserve(1.0, 0.0) == pytest.approx(1.0, abs=0.05)  # the first one's slot is taken
    second.hold(5.0)
    assert first.reserve(1.0, 0.0) == pytest.approx(5.0, abs=0.05)


def test_the_shared_limiter_keeps_its_state_in_the_budget_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RTK_BUDGET_DIR", str(tmp_path))
    token = f"secret-{uuid.uuid4()}"
    limiter = shared_limiter(token, "http://127.0.0.1:9/client/v4", max_requests=1000, period=1.0)
    limiter.acquire()
    names = [p.name for p in tmp_path.iterdir()]
    assert names == [f"{token_key(token, 'http://127.0.0.1:9/client/v4')}.gcra"]
    assert token not in names[0] and token.encode() not in (tmp_path / names[0]).read_bytes()
    assert token not in repr(limiter) + repr(limiter.book)


def reserve_in_forked_child(book: FileBook | PgBook) -> float:
    """The wait a forked child of this process gets from `book` (the book it inherited, as a fork does)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one reservation, reported through the pipe, then gone without cleanup
        code = 1
        try:
            os.write(write, struct.pack("<d", book.reserve(1.0, 0.0)))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with os.fdopen(read, "rb") as answer:
        return struct.unpack("<d", answer.read())[0]


@pytest.mark.parametrize("kind", ["file", "postgres"])
def test_a_forked_child_shares_the_book_without_breaking_its_parents(kind, tmp_path, request):
    if kind == "file":
        book: FileBook | PgBook = FileBook(tmp_path / "t.gcra", setting="RTK_BUDGET_DIR")
    else:
        url = request.getfixturevalue("postgres").url
        book = PgBook(url, token_key(f"tok-{uuid.uuid4()}", "http://x"), setting="RTK_BUDGET_PG_URL")
    assert book.reserve(1.0, 0.0) <= 0.0
    session = book._conn.get_backend_pid() if kind == "postgres" else None
    assert reserve_in_forked_child(book) == pytest.approx(1.0, abs=0.2)
    assert book.reserve(1.0, 0.0) == pytest.approx(2.0, abs=0.2)  # after the child's slot
    if session is not None:  # the child's exit did not end the parent's session (no reconnect was needed)
        assert book._conn.get_backend_pid() == session
