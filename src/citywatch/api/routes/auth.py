"""Signing in and out of the console, and "who am I".

``POST /auth/login`` takes ``{"username", "password"}`` as JSON or as a form, sets the
``cw_session`` cookie (HttpOnly, SameSite=Strict, Secure under TLS) and returns the session's
CSRF token, which the console sends back in ``X-CSRF-Token`` on every unsafe request.  A
browser's cross-site post to it is refused (``Origin`` / ``Sec-Fetch-Site``: login CSRF);
attempts are counted per address and per name and address before the password is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from citywatch.api.deps import get_session, get_settings
from citywatch.api.security import SESSION_COOKIE, Permission, Principal, requires
from citywatch.api.settings import ApiSettings
from citywatch.policy.access import GRANTS
from citywatch.services import users
from citywatch.services.login_limits import LoginLimits

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", tags=["auth"])

DbSession = Annotated[Session, Depends(get_session)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
MAX_LOGIN_BODY = 4096


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=users.MAX_PASSWORD)

    def __repr__(self) -> str:
        return f"LoginRequest(username={self.username!r}, password=***)"


class UserOut(BaseModel):
    id: int
    name: str
    role: str


class LoginResponse(BaseModel):
    user: UserOut
    csrf: str = Field(description="Send it back in the X-CSRF-Token header on unsafe requests")
    expires_at: dt.datetime = Field(description="When the session ends unless used before")


class MeResponse(BaseModel):
    id: int
    name: str
    role: str
    kind: Literal["user", "token"]
    permissions: list[str]
    csrf: str | None = Field(description="The session's CSRF token (cookie sessions only)")


class ErrorOut(BaseModel):
    detail: str


_LOGIN_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": LoginRequest.model_json_schema()},
        "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
    },
}


#: ``Sec-Fetch-Site`` values of a request our own pages (or the user, typing) started.
SAME_SITE_FETCH = frozenset({"same-origin", "none"})


def own_origin(request: Request) -> str:
    """``scheme://host[:port]`` as the browser addressed this server."""
    return f"{request.url.scheme}://{request.url.netloc}".lower()


def cross_site(request: Request) -> str | None:
    """Why a login post looks cross-site (login CSRF), or None.  Clients that send neither
    header (scripts, curl) are not browsers and cannot be tricked into posting."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in SAME_SITE_FETCH:
        return f"Sec-Fetch-Site {fetch_site[:20]!r}"
    origin = request.headers.get("origin")
    if origin is not None and origin.strip().lower().rstrip("/") != own_origin(request):
        return f"Origin {origin[:100]!r}"
    return None


def login_limits(settings: ApiSettings) -> LoginLimits:
    return LoginLimits(
        per_account=settings.max_failed_logins,
        account_window=settings.lockout,
        per_address=settings.client_max_failures,
        address_window=settings.client_window,
    )


async def _credentials(request: Request) -> LoginRequest:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            raw = await request.body()
            if len(raw) > MAX_LOGIN_BODY:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "login body too large")
            data = json.loads(raw)
        elif ctype == "application/x-www-form-urlencoded":
            form = await request.form(max_files=0, max_fields=10)
            data = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                "send the credentials as application/json or a form",
            )
        if not isinstance(data, dict):
            raise ValueError("expected an object")
        return LoginRequest.model_validate(data)
    except (ValueError, ValidationError, UnicodeDecodeError):
        # The validation message could echo the password back: say only what is expected.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "expected username (1-100 characters) and password",
        ) from None


@router.post(
    "/login",
    response_model=LoginResponse,
    openapi_extra={"requestBody": _LOGIN_BODY},
    responses={
        401: {"model": ErrorOut, "description": "Wrong user name or password"},
        403: {"model": ErrorOut, "description": "Cross-site post, or account not activated"},
        415: {"model": ErrorOut, "description": "Neither JSON nor a form"},
        422: {"model": ErrorOut, "description": "Missing or malformed credentials"},
        429: {"model": ErrorOut, "description": "Too many failures from this address"},
    },
)
async def login(
    request: Request,
    response: Response,
    _public: Annotated[Principal | None, Depends(requires(Permission.PUBLIC))],
    settings: Settings,
) -> LoginResponse:
    """Sign in; sets the ``cw_session`` cookie.  Failures and lockouts are audited."""
    why = cross_site(request)
    if why is not None:
        log.warning("sign-in refused: cross-site post (%s)", why)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "sign in from this site's login page")
    creds = await _credentials(request)
    client = request.client.host if request.client else ""
    limits = login_limits(settings)
    sessions = request.app.state.sessions

    def work() -> users.NewSession:
        with sessions() as db:
            user = users.authenticate(
                db, creds.username, creds.password, limits=limits, client=client
            )
            return users.create_session(
                db, user, idle=settings.session_idle, max_age=settings.session_max
            )

    try:
        new = await run_in_threadpool(work)
    except users.LockedOut as err:
        log.warning("sign-in refused: too many failed sign-ins")
        retry = max(1, int((err.until - dt.datetime.now(dt.UTC)).total_seconds()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(err), headers={"Retry-After": str(retry)}
        ) from None
    except users.AwaitingActivation as err:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(err)) from None
    except users.AuthError as err:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(err)) from None
    response.set_cookie(
        SESSION_COOKIE,
        new.cookie,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    u = new.live.user
    return LoginResponse(
        user=UserOut(id=u.id, name=u.name, role=u.role),
        csrf=new.live.csrf,
        expires_at=new.live.expires_at,
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.SELF))],
    session: DbSession,
    settings: Settings,
) -> Response:
    """End the console session (audited).  With an API token there is nothing to end."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if principal is not None and principal.kind == "user" and cookie:
        users.end_session(session, cookie)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=settings.secure_cookies
    )
    return response


@router.get("/me", response_model=MeResponse)
def me(principal: Annotated[Principal | None, Depends(requires(Permission.SELF))]) -> MeResponse:
    """The signed-in principal, its permissions and (for sessions) the CSRF token."""
    if principal is None:  # requires() refused already; keeps the type checker honest
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in")
    return MeResponse(
        id=principal.id,
        name=principal.name,
        role=principal.role.value,
        kind=principal.kind,
        permissions=sorted(p.value for p in GRANTS[principal.role]),
        csrf=principal.csrf,
    )
