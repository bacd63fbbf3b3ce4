"""Who is calling, and may they: principals, the ``requires`` dependency, CSRF.

Every route declares one :class:`Permission` with ``Depends(requires(Permission.X))``.  The
dependency resolves the caller from ``Authorization: Bearer <token>`` (API tokens) or the
``cw_session`` cookie (console sessions), then asks the pure policy
(:func:`citywatch.policy.access.allowed`).  No principal: 401; a principal without the
permission: 403.  Cookie sessions must also prove, on every unsafe method, that the request
comes from our own pages: header ``X-CSRF-Token`` (or form field ``csrf_token``) equal to the
session's CSRF token.  Deny by default: an unknown role or a broken credential gets nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool

from citywatch.api.settings import ApiSettings
from citywatch.audit.chain import Actor
from citywatch.policy.access import Permission, Role, allowed
from citywatch.services import tokens, users

__all__ = [
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "UNSAFE_METHODS",
    "Permission",
    "Principal",
    "Role",
    "RouteEntry",
    "allowed",
    "app_routes",
    "current_principal",
    "requires",
    "route_permission",
]

SESSION_COOKIE = "cw_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MARK = "__citywatch_permission__"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    id: int  # user id or token id
    name: str  # user name, or "token:<name>"
    role: Role
    kind: Literal["user", "token"]
    csrf: str | None = None  # the session's CSRF token (cookie sessions only)

    def __repr__(self) -> str:  # never print the CSRF token
        return f"Principal({self.kind} {self.name!r}, role={self.role.value})"

    def actor(self) -> Actor:
        return Actor(self.name, self.role.value)

    def may(self, permission: Permission) -> bool:
        return allowed(self.role, permission)


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthorised("Authorization header: expected 'Bearer <token>'")
    return value.strip()


def _settings(request: Request) -> ApiSettings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, ApiSettings) else ApiSettings()


def _resolve(request: Request) -> Principal | None:
    """Look the credential up (blocking database work: runs in a worker thread)."""
    sessions = request.app.state.sessions
    token = _bearer(request)
    if token is not None:
        with sessions() as db:
            info = tokens.resolve_token(db, token)
        if info is None:
            raise _unauthorised("the API token is unknown, expired or revoked")
        return Principal(info.id, f"token:{info.name}", Role(info.role), "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    settings = _settings(request)
    with sessions() as db:
        live = users.resolve_session(
            db, cookie, idle=settings.session_idle, max_age=settings.session_max
        )
    if live is None:
        raise _unauthorised("the session has expired: sign in again")
    return Principal(live.user.id, live.user.name, Role(live.user.role), "user", live.csrf)


async def _check_csrf(request: Request, principal: Principal) -> None:
    if principal.kind != "user" or request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached by Starlette: the route reads it again
            value = form.get(CSRF_FORM_FIELD)
            sent = value if isinstance(value, str) else None
    expected = principal.csrf or ""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="CSRF token missing or wrong")


async def current_principal(request: Request) -> Principal | None:
    """The caller, or None when the request carries no credential (cached per request)."""
    if hasattr(request.state, "principal"):
        cached = request.state.principal
        return cached if isinstance(cached, Principal) else None
    principal = await run_in_threadpool(_resolve, request)
    request.state.principal = principal
    return principal


def requires(permission: Permission) -> Callable[..., Awaitable[Principal | None]]:
    """A FastAPI dependency that lets the request through only with ``permission``.

    Returns the :class:`Principal` (None on a PUBLIC route without credentials).
    """
    if not isinstance(permission, Permission):
        raise TypeError(f"requires(): expected a Permission, got {permission!r}")

    async def dependency(request: Request) -> Principal | None:
        if permission is Permission.PUBLIC:
            # A public route never needs a credential; a broken one is ignored, not an error.
            try:
                return await current_principal(request)
            except HTTPException:
                return None
        principal = await current_principal(request)
        if principal is None:
            raise _unauthorised("sign in or send an API token")
        if not allowed(principal.role, permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value!r} lacks permission {permission.value!r}",
            )
        await _check_csrf(request, principal)
        return principal

    dependency.__name__ = f"requires_{permission.name.lower()}"
    setattr(dependency, _MARK, permission)
    return dependency


def _declared(dependant: Any, found: set[Permission]) -> None:
    for sub in getattr(dependant, "dependencies", ()):
        mark = getattr(sub.call, _MARK, None)
        if isinstance(mark, Permission):
            found.add(mark)
        _declared(sub, found)


def route_permission(route: object) -> Permission | None:
    """The permission a route declared with ``requires`` (None: it declared none).

    ``route``: an :class:`APIRoute` or an entry of ``fastapi.routing.iter_route_contexts``
    (which sees the dependencies a router was included with).  A route that declares two
    different permissions is a mistake: ValueError names it.
    """
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    found: set[Permission] = set()
    _declared(dependant, found)
    if len(found) > 1:
        names = ", ".join(sorted(p.value for p in found))
        raise ValueError(
            f"route {getattr(route, 'path', route)} declares several permissions: {names}"
        )
    return next(iter(found), None)


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One served path of the app, as the route-walk test sees it."""

    path: str
    methods: frozenset[str]
    permission: Permission | None
    is_endpoint: bool  # False for mounts (static files)


def app_routes(app: FastAPI) -> list[RouteEntry]:
    """Every route of the app, routers included (FastAPI nests included routers)."""
    out: list[RouteEntry] = []
    for ctx in iter_route_contexts(app.routes):
        path = ctx.path_format or ctx.path or ""
        endpoint = getattr(ctx, "dependant", None) is not None
        methods = frozenset(ctx.methods or ())
        out.append(RouteEntry(path, methods, route_permission(ctx), endpoint))
    return out
