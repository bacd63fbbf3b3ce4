"""Authorisations for face recognition: live now?  covering this camera?  Pure, no I/O.

Face recognition on a camera needs, besides the camera's own registration for ``face``, a live
authorisation whose scope names the camera or its zone.  An empty scope covers nothing.  An
urgent authorisation is live without written confirmation only for a short window after it
starts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from citywatch.policy.decision import Decision
from citywatch.policy.register import CameraFacts, camera_may_analyse

URGENT_CONFIRMATION_WINDOW = dt.timedelta(hours=48)
FACE = "face"


@dataclass(frozen=True, slots=True)
class AuthorisationFacts:
    reference: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    scope_cameras: frozenset[str]
    scope_zones: frozenset[str]
    urgent: bool = False
    confirmed_at: dt.datetime | None = None
    status: str = "active"


def _aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def authorisation_is_live(
    auth: AuthorisationFacts,
    now: dt.datetime,
    urgent_window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> Decision:
    """Active, started, not ended; an urgent one confirmed or still within its window."""
    _aware("now", now)
    ref = f"authorisation {auth.reference!r}"
    if auth.status != "active":
        return Decision.deny(f"{ref} is {auth.status}")
    if now < auth.starts_at:
        return Decision.deny(f"{ref} starts at {auth.starts_at.isoformat()}")
    if now >= auth.ends_at:
        return Decision.deny(f"{ref} ended at {auth.ends_at.isoformat()}")
    if auth.urgent:
        if auth.confirmed_at is not None and auth.confirmed_at <= now:
            return Decision.allow(f"{ref} is live (urgent, confirmed)")
        deadline = auth.starts_at + urgent_window
        if now >= deadline:
            return Decision.deny(f"{ref} is urgent and was not confirmed by {deadline.isoformat()}")
        return Decision.allow(f"{ref} is live (urgent, confirm by {deadline.isoformat()})")
    return Decision.allow(f"{ref} is live until {auth.ends_at.isoformat()}")


def covers_camera(auth: AuthorisationFacts, camera_id: str, zone: str) -> bool:
    """The scope names the camera, or the camera's (non-empty) zone."""
    return camera_id in auth.scope_cameras or (bool(zone) and zone in auth.scope_zones)


def may_recognise_faces(
    camera: CameraFacts, authorisations: Iterable[AuthorisationFacts], now: dt.datetime
) -> Decision:
    """Camera registered for ``face`` and at least one live authorisation covering it."""
    registered = camera_may_analyse(camera, FACE, now)
    if not registered:
        return registered
    refused: list[str] = []
    for auth in authorisations:
        if not covers_camera(auth, camera.id, camera.zone):
            continue
        live = authorisation_is_live(auth, now)
        if live:
            return Decision.allow(f"camera {camera.id!r}: {live.reason}")
        refused.append(live.reason)
    if refused:
        return Decision.deny(f"camera {camera.id!r}: no live authorisation ({'; '.join(refused)})")
    return Decision.deny(f"camera {camera.id!r}: no authorisation covers it")
