"""The public register as a web page (no sign-in): a map of the cameras, the authorisations,
the monthly statistics and the model card.

The same register as ``/public/register`` (one cached build per app), rendered with the
console's templates and look; the map is the console's map script (markers on a
latitude/longitude grid, no tiles: a visitor's browser asks no other server for anything).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from citywatch.api.console.render import render
from citywatch.api.routes.public import CACHE_CONTROL, current_register
from citywatch.api.security import Permission, Principal, requires
from citywatch.services.register import PublicRegister

router = APIRouter(include_in_schema=False)

#: Months shown in the page's chart and table (the JSON and CSV hold them all).
PAGE_MONTHS = 24


def page_data(register: PublicRegister) -> dict[str, Any]:
    """What the page's scripts read: published locations only, monthly counts."""
    markers = [
        {
            "id": c.id,
            "name": c.name,
            "zone": c.zone,
            "lat": c.location.lat,
            "lon": c.location.lon,
            "purposes": c.purposes,
        }
        for c in register.cameras
        if c.location is not None
    ]
    months = [m.model_dump() for m in register.statistics[-PAGE_MONTHS:]]
    return {"cameras": markers, "tiles": None, "months": months}


@router.get("/public")
def public_page(
    request: Request,
    _who: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
) -> Response:
    """The transparency register for everyone."""
    register = current_register(request)
    months = register.statistics[-PAGE_MONTHS:]
    response = render(
        request,
        "public.html",
        None,  # the public page looks the same to everyone, signed in or not
        {
            "register": register,
            "page": page_data(register),
            "months": list(reversed(months)),
            "withheld": [c for c in register.cameras if c.location_withheld],
            "located": sum(1 for c in register.cameras if c.location is not None),
        },
        title="Public register",
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
