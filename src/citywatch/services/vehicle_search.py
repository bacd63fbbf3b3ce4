"""Searching plate reads by the vehicle that held the plate: only with a case reference, always
audited, within the same access window as plate search (:mod:`citywatch.services.search`).

The vehicle (type and/or colour) narrows a plate pattern, or, without one, is searched at one
camera or zone within a short period (:func:`citywatch.policy.vehicle_search.may_search_vehicles`);
a search the policy refuses is refused (403) and the refusal audited.  Reads carry no person:
there is no search by person here.  Colours are named right on about two dev cars in three
(``docs/vehicles.md``): a colour search finds candidates to look at, never proof.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.decisions.vehicle_check import (
    COLOUR_ALIASES,
    KIND_ALIASES,
    canonical_colour,
    canonical_kind,
)
from citywatch.policy.retention import DEFAULT_ACCESS_WINDOW
from citywatch.policy.vehicle_search import MAX_VEHICLE_SPAN, may_search_vehicles
from citywatch.services.access_requests import refuse
from citywatch.services.common import aware, unit_of_work
from citywatch.services.search import (
    LIKE_ESCAPE,
    SearchError,
    _case_ref,
    _read_filters,
    _scope,
    check_limit,
    checked_pattern,
    like_pattern,
)
from citywatch.store.models import PlateReadRow


def _vehicle(kind: str | None, colour: str | None) -> tuple[str, str]:
    k, c = canonical_kind(kind), canonical_colour(colour)
    if k is None:
        raise SearchError(
            f"vehicle type {kind!r}: expected one of {', '.join(sorted(KIND_ALIASES))}"
        )
    if c is None:
        raise SearchError(
            f"vehicle colour {colour!r}: expected one of {', '.join(sorted(COLOUR_ALIASES))}"
        )
    return k, c


def search_vehicle_reads(
    session: Session,
    actor: Actor,
    *,
    case_ref: str,
    pattern: str | None = None,
    vehicle_kind: str | None = None,
    vehicle_colour: str | None = None,
    camera_id: str | None = None,
    zone: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
    max_span: dt.timedelta = MAX_VEHICLE_SPAN,
    now: dt.datetime | None = None,
) -> list[PlateReadRow]:
    """Reads of a vehicle of that type and/or colour (newest first), matching ``pattern``
    when given; audited ``vehicle.search`` with what was asked and the case reference."""
    ref = _case_ref(case_ref)
    kind, colour = _vehicle(vehicle_kind, vehicle_colour)
    norm = checked_pattern(pattern) if pattern else ""
    check_limit(limit)
    if since is not None:
        since = aware(since, "since")
    if until is not None:
        until = aware(until, "until")
    asked: dict[str, Any] = {
        "pattern": pattern or None,
        "normalised": norm or None,
        "vehicle_kind": kind or None,
        "vehicle_colour": colour or None,
        "camera_id": camera_id,
        "zone": zone,
        "since": since,
        "until": until,
        "limit": limit,
    }
    target = f"vehicles:{colour or '*'} {kind or '*'}"
    verdict = may_search_vehicles(
        has_pattern=bool(norm),
        kind=kind,
        colour=colour,
        camera_id=camera_id,
        zone=zone,
        since=since,
        until=until,
        max_span=max_span,
    )
    if not verdict:
        raise refuse(
            session, actor, "vehicle.search_refused", target, verdict.reason,
            details=asked, reason=ref,
        )  # fmt: skip
    scope = _scope(session, actor, ref, window, now, since, until, asked)
    stmt = select(PlateReadRow).where(scope.clause)
    if norm:
        stmt = stmt.where(PlateReadRow.plate.like(like_pattern(norm), escape=LIKE_ESCAPE))
    if kind:
        stmt = stmt.where(PlateReadRow.vehicle_kind == kind)
    if colour:
        stmt = stmt.where(PlateReadRow.vehicle_colour == colour)
    stmt = _read_filters(stmt, camera_id, zone, since, until)
    stmt = stmt.order_by(PlateReadRow.last_seen_at.desc(), PlateReadRow.id.desc()).limit(limit)
    with unit_of_work(session):
        rows = [r for r in session.scalars(stmt) if scope.allows(r)]
        append(
            session,
            actor,
            "vehicle.search",
            target,
            details={**asked, **scope.details(), "results": len(rows)},
            reason=ref,
        )
    return rows
