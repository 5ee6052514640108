"""The peer a user would pick instead: dlt's `rest_api` source loading the same API into DuckDB.

Configured the way the dlt docs suggest for this API, nothing tuned for the benchmark: a page-number
paginator (`page_no`, first page 1) that stops on an empty page -- the API's `paging.total_count` counts
records, not pages, so it cannot serve as dlt's `total_path` -- meetings filtered to the same
`start_time`/`end_time` window as rtk-pipeline's, participants as a child resource of meetings (one
listing per meeting, with the meeting id carried over), and merge write disposition on `id`.
dlt is a benchmark-only extra (`.[bench]`), never a runtime dependency of rtk-pipeline.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# No network beyond loopback: dlt's anonymous telemetry must stay off.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

PER_PAGE = 100


def rest_api_config(
    *,
    base_url: str,
    token: str,
    account_id: str,
    app_id: str,
    start_day: date,
    end_day: date,
    participants: bool,
) -> dict:
    """dlt `RESTAPIConfig` for the meetings of the UTC days [start_day, end_day] and their participants."""
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    end = start + timedelta(days=(end_day - start_day).days + 1)
    paginator = {
        "type": "page_number",
        "page_param": "page_no",
        "base_page": 1,
        "total_path": None,
        "stop_after_empty_page": True,
    }
    resources: list[dict] = [
        {
            "name": "meetings",
            "endpoint": {
                "path": "meetings",
                "params": {
                    "per_page": PER_PAGE,
                    "start_time": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "end_time": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                },
            },
        }
    ]
    if participants:
        resources.append(
            {
                "name": "participants",
                "endpoint": {
                    "path": "meetings/{resources.meetings.id}/participants",
                    "params": {"per_page": PER_PAGE},
                },
                "include_from_parent": ["id"],
            }
        )
    return {
        "client": {
            "base_url": f"{base_url.rstrip('/')}/accounts/{account_id}/realtime/kit/{app_id}/",
            "auth": {"type": "bearer", "token": token},
            "paginator": paginator,
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {"data_selector": "data"},
        },
        "resources": resources,
    }


def run(workdir: Path, **settings) -> dict[str, int]:
    """Load the window into a fresh DuckDB file under `workdir`; return the rows per table.

    `settings` are `rest_api_config`'s keyword arguments.
    """
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(rest_api_config(**settings))
    pipeline = dlt.pipeline(
        pipeline_name="rtk_bench",
        destination=dlt.destinations.duckdb(str(workdir / "dlt.duckdb")),
        dataset_name="rtk",
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    pipeline.run(source)
    tables = ["meetings", "participants"] if settings["participants"] else ["meetings"]
    with pipeline.sql_client() as sql:
        return {t: sql.execute_sql(f"SELECT count(*) FROM {t}")[0][0] for t in tables}
