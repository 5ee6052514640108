"""A materialization renders its previews from Arrow rows: pandas (~70 MB of the Dagster path's peak RSS)
is never imported, and the previews still show the stored rows, NULL for a missing value."""

from __future__ import annotations

import json
import subprocess
import sys

from dagster_defs.local import PROJECT_ROOT
from tests.support.names import SYNC_JOB, M, V
from tests.support.stores import rows

# The real sync job (meetings, participants, their checks, the analyst views) over the fixture's window,
# in a fresh interpreter so that nothing the test process imported counts.
_RUN = """
import json, sys
from datetime import date
from dagster import AssetKey, DagsterInstance
from dagster_defs.definitions import build_defs
from dagster_defs.schedules import range_tags

job = build_defs().resolve_job_def(sys.argv[1])
with DagsterInstance.ephemeral() as instance:
    result = job.execute_in_process(
        instance=instance,
        tags=range_tags(date.fromisoformat(sys.argv[2]), date.fromisoformat(sys.argv[3])),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    previews = {}
    for event in result.get_asset_materialization_events():
        done = event.event_specific_data.materialization
        shown = {k: v.value for k, v in done.metadata.items() if k.endswith("preview")}
        previews[f"{done.asset_key.to_user_string()} {done.partition}"] = shown
failures = [e.step_failure_data.error.to_string() for e in result.get_step_failure_events()]
report = {"success": result.success, "failures": failures, "pandas": "pandas" in sys.modules}
print(json.dumps({**report, "previews": previews}))
"""


def test_a_materialization_never_imports_pandas_and_still_previews_rows(rtk_env, window):
    first, last = window
    done = subprocess.run(
        [sys.executable, "-c", _RUN, SYNC_JOB, first.isoformat(), last.isoformat()],
        cwd=PROJECT_ROOT,
        env=rtk_env | {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["success"], "\n".join(report["failures"])
    assert report["pandas"] is False, "a materialization imported pandas"

    day = first.isoformat()
    preview = report["previews"][f"{M} {day}"]["preview"].splitlines()
    assert preview[0] == "| id | title | status | created_at | updated_at |"
    stored = rows(
        rtk_env["RTK_DUCKDB_PATH"],
        "SELECT id, coalesce(title, 'NULL'), status, created_at FROM meetings "
        f"WHERE created_day = DATE '{day}' ORDER BY created_at, id LIMIT 5",
    )
    shown = [[c.strip() for c in line.strip("|").split(" | ")] for line in preview[2:]]
    assert [r[:3] for r in shown] == [[i, t, s] for i, t, s, _ in stored]
    assert [r[3] for r in shown] == [str(at) for *_, at in stored]

    per_day = report["previews"][f"{V} None"]["meetings_per_day_preview"].splitlines()
    assert per_day[0].startswith("| app_id | day | total |")
    assert len(per_day) == 2 + 5  # header, rule, the view's first five rows
