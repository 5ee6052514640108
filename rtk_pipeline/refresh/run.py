"""The refresh run: meetings first, then participants, never more than the budget's requests."""

from __future__ import annotations

from typing import Any

from rtk_pipeline.refresh.report import RefreshPlan, RefreshReport
from rtk_pipeline.settings import RefreshSettings


def refresh(
    client: Any,
    store: Any,
    *,
    max_requests: int | None = None,
    settings: RefreshSettings | None = None,
) -> RefreshReport:
    """Refresh meetings and ACTIVE meetings' participants, sending at most `max_requests` requests
    (retries included; default `settings.default_budget`). Raises RefreshFailedError when a request
    failed for good; the warehouse then keeps what it held."""
    raise NotImplementedError


def plan(
    store: Any,
    *,
    max_requests: int | None = None,
    settings: RefreshSettings | None = None,
) -> RefreshPlan:
    """What a full cycle needs at this budget, from the warehouse alone (sends nothing)."""
    raise NotImplementedError
