"""How console pages are rendered: templates, navigation, and what a browser sees instead of a
bare 401/403.

A page route declares its permission with ``requires`` like any API route.  The route class
:class:`ConsoleRoute` turns the dependency's refusals into what a person at a browser needs: no
session -> a redirect to ``/login?next=...``; a role without the permission -> a 403 page that
says so.  Clients that do not ask for HTML (scripts, the route-walk test) get the plain 401/403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from citywatch.api.security import Principal, current_principal
from citywatch.policy.access import Permission, Role, allowed

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
_STATE_KEY = "console_templates"


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    permission: Permission


#: The console's pages, in menu order; the first one a role may open is its start page.
NAV: tuple[NavItem, ...] = (
    NavItem("/", "Live", Permission.LIVE_VIEW),
    NavItem("/search", "Search", Permission.PLATES_SEARCH),
    NavItem("/playback", "Playback", Permission.RECORDINGS_VIEW),
    NavItem("/lists", "Lists & cameras", Permission.WATCHLISTS_READ),
    NavItem("/audit", "Audit log", Permission.AUDIT_READ),
    NavItem("/access", "Access requests", Permission.ACCESS_APPROVE),
    NavItem("/users", "Users", Permission.USERS_MANAGE),
    NavItem("/map", "Map", Permission.CAMERAS_READ),
)
#: Where a role that no page of the menu admits lands (it says so): never the login page,
#: which sends a signed-in browser to its start page (a redirect loop).
WELCOME = "/welcome"


def nav_for(role: Role | None) -> list[NavItem]:
    return [item for item in NAV if allowed(role, item.permission)]


def home_for(role: Role | None) -> str:
    """The start page of a role: its first page of the menu; ``/welcome`` for a signed-in role
    with none (it says so); the login page for nobody."""
    if role is None:
        return "/login"
    items = nav_for(role)
    return items[0].path if items else WELCOME


def safe_next(value: str | None) -> str | None:
    """A redirect target only when it is a path on this site (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(ch) < 0x20 for ch in value):
        return None
    return value


def templates(request: Request) -> Jinja2Templates:
    """The template environment of this app (one per app, kept on ``app.state``)."""
    state = request.app.state
    found = getattr(state, _STATE_KEY, None)
    if isinstance(found, Jinja2Templates):
        return found
    made = Jinja2Templates(directory=str(TEMPLATES_DIR))
    made.env.autoescape = True  # every {{ value }} is HTML-escaped; nothing is marked safe
    made.env.filters["utc"] = format_utc
    made.env.filters["score"] = format_score
    setattr(state, _STATE_KEY, made)
    return made


def format_utc(value: dt.datetime | None) -> str:
    """``2024-05-01 12:00:03 UTC`` (the page's script rewrites it to local time)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def iso(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    title: str = "",
) -> HTMLResponse:
    """Render ``name`` with the shared context (who is signed in, the menu, the CSRF token)."""
    role = principal.role if principal is not None else None
    ctx: dict[str, Any] = {
        "principal": principal,
        "role": role.value if role is not None else "",
        "csrf": (principal.csrf or "") if principal is not None else "",
        "nav": nav_for(role),
        "current": request.url.path,
        "title": title,
        "home": home_for(role),
        # links to the investigator's playback page from other pages (issue 17)
        "may_play_recordings": allowed(role, Permission.RECORDINGS_VIEW),
    }
    ctx.update(context or {})
    response = templates(request).TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages hold personal data: never cache
    return response


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def error_page(request: Request, status_code: int, heading: str, detail: str) -> Response:
    try:
        principal = await current_principal(request)
    except HTTPException:
        principal = None
    return render(
        request,
        "error.html",
        principal,
        {"code": status_code, "heading": heading, "detail": detail},
        status_code=status_code,
        title=heading,
    )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """An APIRoute whose 401/403/404 become a login redirect or an error page for browsers."""

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except HTTPException as exc:
                if not wants_html(request) or request.method != "GET":
                    raise
                if exc.status_code == 401:
                    return login_redirect(request)
                if exc.status_code == 403:
                    return await error_page(
                        request,
                        403,
                        "Not allowed",
                        "Your role may not open this page. If your work needs it, ask an "
                        "administrator.",
                    )
                if exc.status_code == 404:
                    detail = exc.detail if isinstance(exc.detail, str) else "Not found."
                    return await error_page(request, 404, "Not found", detail)
                raise

        return handler
