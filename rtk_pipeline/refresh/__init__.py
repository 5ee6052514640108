"""Bring old meetings and their participants up to date within a request budget (issue 19).

A meeting is a reusable room: participants keep arriving long after its creation day, and it may be renamed
or set INACTIVE at any time. `refresh` re-lists the meetings (advancing through windows across runs when the
listing does not fit the budget) and then the participants of ACTIVE meetings, oldest
`participants_synced_at` first, replacing exactly those meetings' participants. `plan` says what a full
cycle costs, from the warehouse alone (ARCHITECTURE.md, "Refresh").
"""

from rtk_pipeline.errors import RefreshFailedError
from rtk_pipeline.refresh.report import RefreshPlan, RefreshReport
from rtk_pipeline.refresh.run import plan, refresh
from rtk_pipeline.settings import RefreshSettings

__all__ = ["RefreshFailedError", "RefreshPlan", "RefreshReport", "RefreshSettings", "plan", "refresh"]
