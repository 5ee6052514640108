"""HTTP client for the Cloudflare RealtimeKit Meetings API: 11 endpoints, full listings, retries, rate limit.

One module a job: `paths` (where each endpoint is), `sender` (the request chain with retries),
`responses` (an answer -> envelope or typed error), `paging` (pages and the walk over them), `stats`
(counters), `endpoints` (the client users call).
"""

from rtk_pipeline.client.endpoints import RealtimeKitClient
from rtk_pipeline.client.paging import Page
from rtk_pipeline.client.stats import ClientStats, StatsSnapshot

__all__ = ["ClientStats", "Page", "RealtimeKitClient", "StatsSnapshot"]
