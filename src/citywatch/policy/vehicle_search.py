"""When may an investigator search plate reads by the vehicle (type, colour)?  (pure)

Plate search needs a plate pattern of at least two letters or digits: it looks for a car
whose plate is (partly) known.  A search by vehicle alone ("dark estate car on this road this
morning") would otherwise list every white car of the city for months: it is allowed only
narrowed to one camera or one zone and to a period of at most :data:`MAX_VEHICLE_SPAN` (a
road, a morning).  With a plate pattern, the vehicle narrows a plate search and no more is
asked.  Both need the case reference and are audited like plate search (the service).
"""

from __future__ import annotations

import datetime as dt

from citywatch.policy.decision import Decision

MAX_VEHICLE_SPAN = dt.timedelta(hours=24)


def may_search_vehicles(
    *,
    has_pattern: bool,
    kind: str | None,
    colour: str | None,
    camera_id: str | None,
    zone: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    max_span: dt.timedelta = MAX_VEHICLE_SPAN,
) -> Decision:
    """Allowed with a plate pattern; without one, only for a type and/or colour at one camera
    or zone within a period of at most ``max_span``."""
    if not kind and not colour:
        if has_pattern:
            return Decision.allow("a plate search")
        return Decision.deny("name a vehicle type or colour, or a plate pattern")
    if has_pattern:
        return Decision.allow("a plate search narrowed by the vehicle")
    if not camera_id and not zone:
        return Decision.deny(
            "a search by vehicle without a plate pattern must name a camera or a zone"
        )
    if since is None or until is None:
        return Decision.deny(
            "a search by vehicle without a plate pattern needs a period (from and until)"
        )
    if until <= since:
        return Decision.deny("the period ends before it starts")
    if until - since > max_span:
        hours = max_span.total_seconds() / 3600
        return Decision.deny(
            f"a search by vehicle without a plate pattern may span at most {hours:g} hours"
        )
    return Decision.allow("a vehicle at one place within a short period")
