"""Names and shared pieces of one component instance: where each app's assets, jobs, resources and pool
live, so that several apps (and several component instances) sit side by side in one Dagster project.

An app is a segment of the asset key: `<key_prefix>/<app>/meetings`, `<key_prefix>/<app>/participants`;
the analyst views, which span every app of the warehouse, are `<key_prefix>/analyst_views`. Jobs,
schedules, sensors, ops and resources are named `<prefix>_<app>_<what>`: Dagster wants names that are
unique in the whole project and made of letters, digits and underscores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagster import AssetKey, AutomationCondition, BackfillPolicy, DailyPartitionsDefinition

from rtk_pipeline.settings import API_TOKEN, StoreSettings

# The pool of the default token keeps its old name, so an instance with `rtk_api` limits keeps them.
DEFAULT_TOKEN_ENV = API_TOKEN.name
DEFAULT_POOL = "rtk_api"


def slug(text: str) -> str:
    """`text` as a Dagster name part: lower case, runs of anything else than [a-z0-9_] become one `_`."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "_"


def token_pool(token_env: str) -> str:
    """One concurrency pool per token (per env var holding one): its rate budget is counted per token
    and shared by every process anyway, so a pool limit only keeps two steps from splitting it."""
    return DEFAULT_POOL if token_env == DEFAULT_TOKEN_ENV else f"{DEFAULT_POOL}_{slug(token_env)}"


@dataclass(frozen=True)
class ComponentScope:
    """What every app of one component instance shares: key prefix, group, partitions, the store (its
    resource and where its tables live), and how every asset is shaped (owners, tags, automation)."""

    prefix: tuple[str, ...]
    group: str
    partitions: DailyPartitionsDefinition
    backfill: BackfillPolicy
    store: StoreSettings = field(default_factory=StoreSettings)
    owners: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()  # (key, value) pairs: the scope stays hashable
    automation: AutomationCondition | None = None

    @property
    def slug(self) -> str:
        return "_".join(slug(part) for part in self.prefix)

    @property
    def resource(self) -> str:
        """Resource key of the store (one per component instance)."""
        return f"{self.slug}_warehouse"

    @property
    def views_key(self) -> AssetKey:
        return AssetKey([*self.prefix, "analyst_views"])


@dataclass(frozen=True)
class App:
    """One RealtimeKit app of a component: its key segment, its token's pool, its resource."""

    scope: ComponentScope
    name: str  # asset key segment and name part
    token_env: str

    @property
    def slug(self) -> str:
        return f"{self.scope.slug}_{slug(self.name)}"

    def key(self, table: str) -> AssetKey:
        return AssetKey([*self.scope.prefix, self.name, table])

    def named(self, what: str) -> str:
        """A project-unique Dagster name for this app's `what` (job, schedule, sensor, op)."""
        return f"{self.slug}_{what}"

    @property
    def resource(self) -> str:
        """Resource key of this app's API client (its own token, account and app id)."""
        return self.named("api")

    @property
    def store_resource(self) -> str:
        """Resource key of the store this app's rows go to (its component's)."""
        return self.scope.resource

    @property
    def pool(self) -> str:
        return token_pool(self.token_env)
