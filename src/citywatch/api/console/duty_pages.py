"""Console pages for the roles whose work is deciding, not watching: the supervisor's queue of
access requests, the administrator's user management, and a page for a role with no pages.

Every role lands on a page (``render.home_for``): a role none of the menu's pages admits gets
``/welcome``, which says so, instead of being sent back to the login page (the supervisor's
redirect loop of issue 16).  Decisions and changes go through the REST API from the page's
script, with the CSRF token, like every other console page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.orm import Session

from citywatch.api.console.render import ConsoleRoute, render
from citywatch.api.deps import get_session
from citywatch.api.security import Principal, requires
from citywatch.policy.access import GRANTS, Permission
from citywatch.services import access_requests, login_limits, tokens, users

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

DbSession = Annotated[Session, Depends(get_session)]
QUEUE = 100


def _signed_in(principal: Principal | None) -> Principal:
    if principal is None:  # requires() already refused; this keeps the type checker honest
        raise HTTPException(401, "sign in")
    return principal


@router.get("/welcome")
def welcome(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.SELF))],
) -> Response:
    """The start page of a role that no console page admits: says so, and what it may do."""
    who = _signed_in(principal)
    may = sorted(p.value for p in GRANTS[who.role] if p is not Permission.SELF)
    return render(request, "welcome.html", who, {"permissions": may}, title="Welcome")


@router.get("/access")
def access_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.ACCESS_APPROVE))],
    session: DbSession,
) -> Response:
    """The supervisor's queue: investigators' requests to see plate reads past the access
    window, to approve or deny with a reason (never one's own; audited)."""
    who = _signed_in(principal)
    pending, total = access_requests.list_requests(
        session, who.actor(), mine=False, status="pending", limit=QUEUE
    )
    decided, _ = access_requests.list_requests(session, who.actor(), mine=False, limit=20)
    return render(
        request,
        "access.html",
        who,
        {
            "pending": pending,
            "pending_total": total,
            "decided": [r for r in decided if r.status != "pending"],
        },
        title="Access requests",
    )


@router.get("/users")
def users_page(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.USERS_MANAGE))],
    session: DbSession,
) -> Response:
    """Users (create, activate, disable, unlock), sign-in blocks and API tokens."""
    who = _signed_in(principal)
    actor = who.actor()
    return render(
        request,
        "users.html",
        who,
        {
            "users": users.list_users(session, actor, limit=users.MAX_LIST),
            "tokens": tokens.list_tokens(session, actor, active=True, limit=100),
            "blocks": login_limits.blocks(session),
            "roles": sorted(users.USER_ROLES),
            "token_roles": ["admin", "scraper"],
        },
        title="Users",
    )
