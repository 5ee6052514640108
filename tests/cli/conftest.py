"""The CLI run in-process, as `main(argv)` with its own environment and captured output: a property test
runs it hundreds of times, which subprocesses would make take minutes."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

import pytest

from rtk_pipeline.cli import main
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from tests.support.emulator import END

TOKEN = "CLI-PROPERTY-TOKEN-7f3a9c"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    def assert_one_line_or_success(self, *secrets: str) -> None:
        """What every run must show: success, or non-zero with exactly one line on stderr and no
        traceback; never a secret on either stream."""
        assert "Traceback" not in self.stderr, self.stderr
        if self.code != 0:
            assert len(self.stderr.strip().splitlines()) == 1, self.stderr
        for secret in secrets:
            assert secret not in self.stdout + self.stderr, (secret, self.stderr)


def run_main(argv: list[str], env: dict[str, str]) -> Ran:
    """`rtk-pipeline argv` in this process with exactly `env` (plus PATH/HOME), stdout/stderr captured."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, {**keep, "COLUMNS": "120", **env}, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse: usage errors (2) and --help (0)
            code = stop.code if isinstance(stop.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="package")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(meetings=6, days=2, seed=3, end=END, token=TOKEN)) as emulator:
        yield emulator
