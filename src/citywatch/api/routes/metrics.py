"""``GET /metrics``: Prometheus text for an authorised scraper (a ``scraper`` token, or admin).

Camera health comes from ``app.state.health()``; alert counts and the alert outbox backlog
per webhook / MQTT sink from the database (numbers only); queue depths from the event hub and,
when the server runs the platform, from the alert dispatcher on ``app.state.dispatcher``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from citywatch.alerts.durable import durable_sink_keys
from citywatch.api.deps import get_session
from citywatch.api.metrics import (
    CONTENT_TYPE,
    Metric,
    alert_metrics,
    camera_metrics,
    hub_metrics,
    outbox_metrics,
    render,
    sink_metrics,
)
from citywatch.api.schemas import ERRORS
from citywatch.api.security import Permission, requires
from citywatch.services.alerts import alert_counts, pending_count
from citywatch.services.outbox import outbox_backlog
from citywatch.store.types import utcnow

log = logging.getLogger(__name__)

router = APIRouter(tags=["metrics"], responses=ERRORS)

TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
}


def _health(request: Request) -> dict[str, Any]:
    health = getattr(request.app.state, "health", None)
    try:
        records = health() if health is not None else {}
    except Exception as err:  # a broken health source must not take the metrics down
        log.warning("metrics: camera health failed (%s)", type(err).__name__)
        return {}
    return records if isinstance(records, dict) else {}


@router.get(
    "/metrics",
    response_class=Response,
    responses=TEXT,
    dependencies=[Depends(requires(Permission.METRICS_READ))],
)
def metrics(request: Request, session: Annotated[Session, Depends(get_session)]) -> Response:
    """Per-camera rates, lag, reconnects and drops; queue depths; alert counts."""
    families: list[Metric] = camera_metrics(_health(request))
    families += alert_metrics(alert_counts(session), pending_count(session))
    alerts = request.app.state.config.alerts
    keys = durable_sink_keys(alerts) if alerts.outbox.enabled else []
    families += outbox_metrics(outbox_backlog(session, utcnow(), keys))
    hub = getattr(request.app.state, "hub", None)
    if hub is not None and hasattr(hub, "stats"):
        families += hub_metrics(hub.stats())
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None and hasattr(dispatcher, "stats"):
        families += sink_metrics(dispatcher.stats())
    return Response(render(families), media_type=CONTENT_TYPE)
