"""``GET /health``: is the server up, does the database answer, how many cameras per state,
how far alert delivery to webhooks and MQTT lags (the outbox, per sink), whether any
camera's recording failed and where the recording storage budget stands.

Public (a load balancer or a status page asks it), so it holds no personal data: counts only
(a sink is named by its hashed outbox key, its error by the sink's short message).
"""

from __future__ import annotations

import logging
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from citywatch.alerts.durable import durable_sink_keys
from citywatch.api.schemas import AlertDeliveryPublic, CameraHealthPublic, HealthPublic
from citywatch.api.security import Permission, Principal, requires
from citywatch.policy.recording import BUDGET_OK, budget_state
from citywatch.services import recordings
from citywatch.services.outbox import outbox_backlog
from citywatch.store.types import utcnow

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("citywatch")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def _database_ok(request: Request) -> bool:
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as err:  # any failure means "not ok"; the type says enough for the log
        log.warning("health: database check failed (%s)", type(err).__name__)
        return False
    return True


def camera_health(request: Request) -> list[CameraHealthPublic] | None:
    """Each camera's health from ``app.state.health()``; None when it failed."""
    health = getattr(request.app.state, "health", None)
    if health is None:
        return []
    try:
        records = health()
    except Exception as err:
        log.warning("health: camera health failed (%s)", type(err).__name__)
        return None
    if not isinstance(records, dict):
        return None
    return [CameraHealthPublic.of(str(cam), rec) for cam, rec in records.items()]


def camera_states(request: Request) -> Counter[str] | None:
    """Cameras per source state from ``app.state.health()``; None when it failed."""
    cameras = camera_health(request)
    return None if cameras is None else Counter(c.state for c in cameras)


def alert_delivery(request: Request) -> dict[str, AlertDeliveryPublic]:
    """The outbox backlog per external sink (empty when the database does not answer)."""
    alerts = request.app.state.config.alerts
    keys = durable_sink_keys(alerts) if alerts.outbox.enabled else []
    try:
        with request.app.state.sessions() as session:
            backlog = outbox_backlog(session, utcnow(), keys)
    except Exception as err:
        log.warning("health: alert outbox not readable (%s)", type(err).__name__)
        return {}
    return {
        b.sink: AlertDeliveryPublic(
            pending=b.pending,
            oldest_pending_s=b.oldest_pending_s,
            failed=b.failed,
            last_error=b.last_error,
            last_error_at=b.last_error_at,
        )
        for b in backlog
    }


def recording_storage(request: Request) -> str | None:
    """Where the node's recording segments stand against the budget (None: nothing records
    and nothing was recorded, or the store cannot say)."""
    config = request.app.state.config
    storage = config.recording.storage
    try:
        with request.app.state.sessions() as session:
            used = recordings.total_bytes(session)
    except Exception as err:
        log.warning("health: recording segments not readable (%s)", type(err).__name__)
        return None
    if not used and not any(c.recording.enabled for c in config.cameras):
        return None
    return budget_state(used, storage.budget_bytes, storage.warn_fraction)


@router.get("/health", response_model=HealthPublic)
def health(
    request: Request,
    _principal: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
) -> HealthPublic:
    """Server status (no personal data; no sign-in needed)."""
    db_ok = _database_ok(request)
    cameras = camera_health(request)
    states = None if cameras is None else Counter(c.state for c in cameras)
    unwritable = sum(bool(c.media_error) for c in cameras or [])
    delivery = alert_delivery(request) if db_ok else {}
    stale = request.app.state.config.alerts.outbox.stale_after_s
    lagging = any((d.oldest_pending_s or 0.0) > stale for d in delivery.values())
    # a stale record: the process that analyses the camera stopped rewriting its health
    # (killed, hung); the camera is not watched, whatever its last state said
    stale_cameras = (states or Counter()).get("stale", 0)
    recording_failed = sum(c.recording == "failed" for c in cameras or [])
    storage = recording_storage(request) if db_ok else None
    ok = (
        db_ok
        and states is not None
        and not lagging
        and not unwritable
        and not stale_cameras
        and not recording_failed
        and storage in (None, BUDGET_OK)
    )
    return HealthPublic(
        status="ok" if ok else "degraded",
        version=_version(),
        database=db_ok,
        cameras=dict(sorted((states or Counter()).items())),
        evidence_unwritable=unwritable,
        recording_failed=recording_failed,
        recording_storage=storage,
        alert_delivery=delivery,
    )
