"""Authorisations for face recognition: their state, what may be done, what must go.  Pure.

Face recognition on a camera needs, besides the camera's own registration for ``face``, a live
authorisation whose scope names the camera or its zone.  An empty scope covers nothing.

An urgent authorisation is live from its start without written confirmation, but only until its
confirmation deadline (start + 24 hours).  If it is refused, or not confirmed by then, it is
void: every alert, snapshot and watchlist entry made under it must be deleted (``PURGE``).  An
authorisation that expired or was revoked after a valid confirmation keeps its alerts (they
fall under the retention rules) but its watchlists are destroyed (``DESTROY_WATCHLISTS``).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from citywatch.policy.decision import Decision
from citywatch.policy.register import CameraFacts, camera_may_analyse

URGENT_CONFIRMATION_WINDOW = dt.timedelta(hours=24)
FACE = "face"


class AuthorisationState(enum.StrEnum):
    SCHEDULED = "scheduled"  # not started yet
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # urgent, live, not confirmed yet
    LIVE = "live"
    EXPIRED = "expired"  # its period ended
    REVOKED = "revoked"  # withdrawn (non-urgent, or urgent after a valid confirmation)
    REFUSED = "refused"  # urgent, withdrawn before it was confirmed: void
    LAPSED = "lapsed"  # urgent, not confirmed by its deadline: void


class LifecycleAction(enum.StrEnum):
    KEEP = "keep"
    DESTROY_WATCHLISTS = "destroy_watchlists"  # embeddings and photos of its watchlists
    PURGE = "purge"  # alerts, snapshots, watchlists: everything made under it


LIVE_STATES = frozenset({AuthorisationState.LIVE, AuthorisationState.AWAITING_CONFIRMATION})
# Watchlists may be created and filled only under these (never under a void or ended one).
USABLE_STATES = LIVE_STATES | {AuthorisationState.SCHEDULED}
VOID_STATES = frozenset({AuthorisationState.REFUSED, AuthorisationState.LAPSED})


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


@dataclass(frozen=True, slots=True)
class StateDecision:
    state: AuthorisationState
    reason: str


def _aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def _ref(auth: AuthorisationFacts) -> str:
    return f"authorisation {auth.reference!r}"


def confirmation_deadline(
    auth: AuthorisationFacts, window: dt.timedelta = URGENT_CONFIRMATION_WINDOW
) -> dt.datetime | None:
    """When an urgent authorisation must be confirmed by; ``None`` for a regular one."""
    return auth.starts_at + window if auth.urgent else None


def confirmed_in_time(
    auth: AuthorisationFacts,
    now: dt.datetime,
    window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> bool:
    """An urgent authorisation confirmed before its deadline (and not later than ``now``)."""
    deadline = confirmation_deadline(auth, window)
    return (
        deadline is not None
        and auth.confirmed_at is not None
        and auth.confirmed_at <= now
        and auth.confirmed_at < deadline
    )


def authorisation_state(
    auth: AuthorisationFacts,
    now: dt.datetime,
    window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> StateDecision:
    """Where ``auth`` stands at ``now``, with a reason an operator can read."""
    _aware("now", now)
    ref = _ref(auth)
    deadline = confirmation_deadline(auth, window)
    if deadline is not None and not confirmed_in_time(auth, now, window):
        if auth.status != "active":
            return StateDecision(
                AuthorisationState.REFUSED, f"{ref} is urgent and was refused before confirmation"
            )
        if now >= deadline:
            return StateDecision(
                AuthorisationState.LAPSED,
                f"{ref} is urgent and was not confirmed by {deadline.isoformat()}",
            )
    if auth.status != "active":
        return StateDecision(AuthorisationState.REVOKED, f"{ref} is {auth.status}")
    if now < auth.starts_at:
        return StateDecision(
            AuthorisationState.SCHEDULED, f"{ref} starts at {auth.starts_at.isoformat()}"
        )
    if now >= auth.ends_at:
        return StateDecision(
            AuthorisationState.EXPIRED, f"{ref} ended at {auth.ends_at.isoformat()}"
        )
    if deadline is not None:
        if confirmed_in_time(auth, now, window):
            return StateDecision(AuthorisationState.LIVE, f"{ref} is live (urgent, confirmed)")
        return StateDecision(
            AuthorisationState.AWAITING_CONFIRMATION,
            f"{ref} is live (urgent, confirm by {deadline.isoformat()})",
        )
    return StateDecision(AuthorisationState.LIVE, f"{ref} is live until {auth.ends_at.isoformat()}")


def authorisation_is_live(
    auth: AuthorisationFacts,
    now: dt.datetime,
    urgent_window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> Decision:
    """Active, started, not ended; an urgent one confirmed in time or still within its window."""
    s = authorisation_state(auth, now, urgent_window)
    return Decision(s.state in LIVE_STATES, s.reason)


def may_use_for_watchlists(
    auth: AuthorisationFacts,
    now: dt.datetime,
    window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> Decision:
    """May a watchlist be created, or a subject enrolled, under ``auth`` at ``now``?"""
    s = authorisation_state(auth, now, window)
    return Decision(s.state in USABLE_STATES, s.reason)


def lifecycle_action(
    auth: AuthorisationFacts,
    now: dt.datetime,
    window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> tuple[LifecycleAction, StateDecision]:
    """What the lifecycle sweep must do with the data made under ``auth`` at ``now``."""
    s = authorisation_state(auth, now, window)
    if s.state in VOID_STATES:
        return LifecycleAction.PURGE, s
    if s.state in (AuthorisationState.EXPIRED, AuthorisationState.REVOKED):
        return LifecycleAction.DESTROY_WATCHLISTS, s
    return LifecycleAction.KEEP, s


def may_confirm(
    auth: AuthorisationFacts,
    now: dt.datetime,
    window: dt.timedelta = URGENT_CONFIRMATION_WINDOW,
) -> Decision:
    """The written confirmation of an urgent authorisation is accepted until its deadline."""
    _aware("now", now)
    ref = _ref(auth)
    deadline = confirmation_deadline(auth, window)
    if deadline is None:
        return Decision.deny(f"{ref} is not urgent: nothing to confirm")
    if auth.confirmed_at is not None:
        return Decision.deny(f"{ref} was already confirmed at {auth.confirmed_at.isoformat()}")
    if now >= deadline:
        return Decision.deny(
            f"{ref}: the confirmation deadline {deadline.isoformat()} has passed; it is void "
            "and what was made under it is deleted (record a new authorisation instead)"
        )
    if auth.status != "active":
        return Decision.deny(f"{ref} was refused or revoked ({auth.status})")
    return Decision.allow(f"{ref} may be confirmed until {deadline.isoformat()}")


def may_refuse(auth: AuthorisationFacts, now: dt.datetime) -> Decision:
    """Only an urgent authorisation that was not confirmed can be refused."""
    _aware("now", now)
    ref = _ref(auth)
    if not auth.urgent:
        return Decision.deny(f"{ref} is not urgent: revoke it instead of refusing it")
    if auth.confirmed_at is not None:
        return Decision.deny(
            f"{ref} was confirmed at {auth.confirmed_at.isoformat()}: revoke it instead"
        )
    if auth.status != "active":
        return Decision.deny(f"{ref} is already {auth.status}")
    return Decision.allow(f"{ref} may be refused")


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
