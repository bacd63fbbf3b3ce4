"""``GET /health``: is the server up, does the database answer, how many cameras per state.

Public (a load balancer or a status page asks it), so it holds no personal data: counts only.
"""

from __future__ import annotations

import logging
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import text

from citywatch.api.schemas import CameraHealthPublic, HealthPublic
from citywatch.api.security import Permission, Principal, requires

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


def camera_states(request: Request) -> Counter[str] | None:
    """Cameras per source state from ``app.state.health()``; None when it failed."""
    health = getattr(request.app.state, "health", None)
    if health is None:
        return Counter()
    try:
        records = health()
    except Exception as err:
        log.warning("health: camera health failed (%s)", type(err).__name__)
        return None
    if not isinstance(records, dict):
        return None
    return Counter(CameraHealthPublic.of(str(cam), rec).state for cam, rec in records.items())


@router.get("/health", response_model=HealthPublic)
def health(
    request: Request,
    _principal: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
) -> HealthPublic:
    """Server status (no personal data; no sign-in needed)."""
    db_ok = _database_ok(request)
    states = camera_states(request)
    ok = db_ok and states is not None
    return HealthPublic(
        status="ok" if ok else "degraded",
        version=_version(),
        database=db_ok,
        cameras=dict(sorted((states or Counter()).items())),
    )
