"""The Dagster UI in a real browser (headless Chromium, Debian's `chromium`): the lineage page and an asset
page, rendered by the UI's own JavaScript after two synced days, show what a user looks for; screenshots
of both are kept in the test's folder for a person to look at.

CI installs Chromium (`.ci/run`) and must run this; elsewhere it is skipped when no Chromium is on PATH,
unless the CI variable is set, which makes a missing browser a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from tests.dagster.test_webserver import _graphql

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Virtual time the page gets to load its data and render (the UI polls GraphQL): no real sleep needed.
RENDER_MS = 20_000


def _chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "Chromium is not installed (Debian: apt-get install chromium)"
    command = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--window-size=1600,1100", f"--virtual-time-budget={RENDER_MS}",
        *args, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _page(url: str, folder: Path, name: str) -> str:
    """The page's DOM once rendered, and its screenshot as `<name>.png` in `folder`."""
    dom = _chromium(url, folder / "profile", "--dump-dom").stdout
    shot = folder / f"{name}.png"
    _chromium(url, folder / "profile", f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000, f"{shot} looks blank"
    return dom


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="no Chromium on PATH; CI installs it")
def test_lineage_and_asset_page_in_a_browser(
    rtk_env, disk_instance, run_job, webserver, dagster_home, tmp_path
):
    assert run_job(disk_instance, date(2026, 10, 30), date(2026, 10, 31)).success
    _graphql(webserver)  # the code location has loaded
    # As if a user had dismissed Dagster's community pop-up, which would cover the screenshots.
    (Path(dagster_home) / ".nux").mkdir(exist_ok=True)
    (Path(dagster_home) / ".nux" / "nux.yaml").write_text("seen: 1\n")

    lineage = _page(f"{webserver}/asset-groups/realtimekit", tmp_path, "lineage")
    for text in ("meetings", "participants", "analyst_views", "DuckDB", "Parquet"):
        assert text in lineage, text

    asset = _page(f"{webserver}/assets/realtimekit/default/meetings", tmp_path, "meetings")
    analysts_name = f"{Path(rtk_env['RTK_DUCKDB_PATH']).stem}.main.meetings"
    for text in (analysts_name, "TIMESTAMPTZ", "JSON", "non-nullable", "When RealtimeKit created it (UTC)."):
        assert text in asset, text
    assert rtk_env["CLOUDFLARE_API_TOKEN"] not in lineage + asset
