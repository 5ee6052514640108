"""The emulator's command line: options -> config, and `serve` in a real process until Ctrl-C."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults, add_cli_arguments, config_from_args

REPO = Path(__file__).resolve().parents[2]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_match_the_dataclasses():
    args = parse([])
    cfg, faults = config_from_args(args)
    assert (args.host, args.port) == ("127.0.0.1", 8787)
    assert faults == Faults()
    assert cfg == EmulatorConfig(end=cfg.end)


def test_options_become_config_and_faults():
    cfg, faults = config_from_args(
        parse(
            [
                "--meetings=50",
                "--days=3",
                "--seed=9",
                "--end=2026-10-01T00:00:00",
                "--participants-mean=0",
                "--rooms=0.5",
                "--max-per-page=25",
                "--page-base=0",
                "--order=updated_desc",
                "--token=t0k",
                "--no-secrets",
                "--p429=0.1",
                "--retry-after=date",
                "--p5xx=0.2",
                "--latency=0.05",
                "--p-reset=0.01",
                "--drift-insert=0.5",
                "--rate-limit=1200/300",
                "--lockout=60",
                "--fault-paths=list",
                "--fault-seed=4",
            ]
        )
    )
    assert (
        cfg.meetings == 50
        and cfg.days == 3
        and cfg.seed == 9
        and cfg.end == datetime(2026, 10, 1, tzinfo=UTC)
    )
    assert cfg.page_base == 0 and cfg.order == "updated_desc" and cfg.token == "t0k" and cfg.secrets is False
    assert cfg.participants_mean == 0 and cfg.max_per_page == 25 and cfg.rooms == 0.5
    assert (
        faults.p429 == 0.1
        and faults.retry_after == "date"
        and faults.p5xx == 0.2
        and faults.latency_s == 0.05
    )
    assert faults.rate_limit == (1200, 300.0) and faults.lockout_s == 60 and faults.fault_paths == "list"
    assert faults.drift_insert == 0.5 and faults.p_reset == 0.01 and faults.seed == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate-limit=lots"],
        ["--p429=1.5"],
        ["--order=random"],
        ["--page-base=2"],
        ["--rooms=2"],
        ["--rooms=x"],
    ],
)
def test_bad_options_are_refused(argv):
    with pytest.raises(SystemExit):
        parse(argv)


def test_only_loopback_addresses():
    with pytest.raises(ValueError):
        Emulator(EmulatorConfig(meetings=1), host="0.0.0.0")
    Emulator(EmulatorConfig(meetings=1), host="localhost")


def test_serve_prints_how_to_connect_and_serves_until_interrupted():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtk_pipeline.emulator",
            "--port=0",
            "--meetings=5",
            "--seed=3",
            "--token=cli-t",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = []
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(banner)
        base_url = re.search(r"base URL\s+(\S+)", text).group(1)
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/client/v4")
        assert "export CLOUDFLARE_API_TOKEN=cli-t" in text and "RTK_APP_ID=emu-app" in text
        r = httpx.get(
            f"{base_url}/accounts/emu-account/realtime/kit/emu-app/meetings",
            headers={"Authorization": "Bearer cli-t"},
        )
        assert r.status_code == 200 and r.json()["paging"]["total_count"] == 5
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "emulator stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
