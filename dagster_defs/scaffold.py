"""`dg scaffold defs dagster_defs.RealtimeKitComponent <path> --app-id A --account-id B --token-env T
[--backend delta]`: a `defs.yaml` that `dg check defs` accepts as written.

It spells out the schedule and the stale settings (stale sensor off, dry run on), so what will run is
on the page, and lists the variables it needs under `requirements.env`: the token's (read by each run,
never written into config) and, for Delta, the table root's (`{{ env.RTK_TABLE_URI }}`).
"""

from __future__ import annotations

from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel, Field

from dagster_defs.attributes import RealtimeKitSchedule, RealtimeKitStale, RealtimeKitStore
from dagster_defs.scope import slug
from rtk_pipeline.settings import API_TOKEN, TABLE_URI


class RealtimeKitScaffoldParams(BaseModel):
    """The options of `dg scaffold defs dagster_defs.RealtimeKitComponent`."""

    app_id: str = Field(description="RealtimeKit app id.")
    account_id: str = Field(description="Cloudflare account id.")
    token_env: str = Field(default=API_TOKEN.name, description="NAME of the variable holding the token.")
    backend: Literal["duckdb", "delta"] = Field(default="duckdb", description="duckdb or delta.")


def scaffold_attributes(params: RealtimeKitScaffoldParams, folder: str) -> tuple[dict[str, Any], list[str]]:
    """The attributes (one app, the store, an explicit schedule, stale off with dry run on) and the
    variables they need. The key prefix is the folder's name, so two scaffolded instances never share
    asset keys, jobs or resources."""
    store: dict[str, Any] = {"backend": params.backend}
    needed = [params.token_env]
    if params.backend == "delta":
        store["table_uri"] = f"{{{{ env.{TABLE_URI.name} }}}}"
        needed.append(TABLE_URI.name)
    else:
        defaults = RealtimeKitStore()
        store.update(duckdb_path=defaults.duckdb_path, parquet_dir=defaults.parquet_dir)
    stale = RealtimeKitStale(enabled=False, dry_run=True)
    attributes = {
        "key_prefix": [slug(folder)],
        "apps": [{"app_id": params.app_id, "account_id": params.account_id, "token_env": params.token_env}],
        "store": store,
        "automation": "schedule",
        "schedule": RealtimeKitSchedule().model_dump(),
        "stale": stale.model_dump(include={"enabled", "dry_run", "stale_after_days", "max_per_run"}),
    }
    return attributes, needed


class RealtimeKitScaffolder(dg.Scaffolder[RealtimeKitScaffoldParams]):
    @classmethod
    def get_scaffold_params(cls) -> type[RealtimeKitScaffoldParams]:
        return RealtimeKitScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[RealtimeKitScaffoldParams]) -> None:
        """Dagster's own writer for `type` and `attributes`, then the `requirements` block after them."""
        attributes, needed = scaffold_attributes(request.params, request.target_path.name)
        request.target_path.mkdir(parents=True, exist_ok=True)
        dg.scaffold_component(request, attributes)
        written = request.target_path if request.append else request.target_path / "defs.yaml"
        with open(written, "a", encoding="utf-8") as out:
            out.write("requirements:\n  env:\n" + "".join(f"  - {name}\n" for name in needed))
