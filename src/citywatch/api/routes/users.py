"""Users and API tokens (administrators only).  Every change and every listing is audited.

A token's secret is in the response to ``POST /tokens`` and nowhere else, ever again.  Duties
stay separated: a token may do only what its issuer may, and an account that searches or
approves waits for a second administrator (``POST /users/{id}/activate``).  Sign-in blocks
are listed and cleared here (``GET /login-blocks``, ``POST /users/{id}/unlock``,
``POST /login-blocks/unlock``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from citywatch.api.deps import get_session
from citywatch.api.security import Permission, Principal, requires
from citywatch.services import login_limits, tokens, users
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError

router = APIRouter(tags=["users"])

DbSession = Annotated[Session, Depends(get_session)]
Admin = Annotated[Principal | None, Depends(requires(Permission.USERS_MANAGE))]
Limit = Annotated[int, Query(ge=1, le=users.MAX_LIST, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
UserRole = Literal["admin", "operator", "investigator", "auditor", "supervisor"]
TokenRole = Literal["admin", "operator", "investigator", "auditor", "supervisor", "scraper"]
NAME_PATTERN = r"^[A-Za-z0-9._@-]{1,100}$"


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "Refused (the message says why)"},
    403: {"model": ErrorOut, "description": "Separation of duties (the message says why)"},
    404: {"model": ErrorOut, "description": "No such user or token"},
    409: {"model": ErrorOut, "description": "Name taken, already revoked, last administrator"},
}


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    role: UserRole
    password: str = Field(
        min_length=users.MIN_PASSWORD,
        max_length=users.MAX_PASSWORD,
        pattern=r"\S",
        description=f"At least {users.MIN_PASSWORD} characters, not all blank",
    )

    def __repr__(self) -> str:
        return f"UserIn(name={self.name!r}, role={self.role!r}, password=***)"


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    disabled: bool
    created_at: dt.datetime
    locked_until: dt.datetime | None = Field(
        description="Sign-ins of this name are refused from some address until then"
    )
    pending_activation: bool = Field(
        description="Waits for a second administrator (or the server's CLI) to activate it"
    )
    created_by: str | None
    activated_by: str | None


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    role: TokenRole
    expires_days: int = Field(ge=1, le=tokens.MAX_TOKEN_DAYS)


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    created_by: str


class NewTokenOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="Shown once: store it now, it cannot be read again")


def _user(u: users.UserInfo) -> UserOut:
    return UserOut(
        id=u.id,
        name=u.name,
        role=u.role,
        disabled=u.disabled,
        created_at=u.created_at,
        locked_until=u.locked_until,
        pending_activation=u.pending_activation,
        created_by=u.created_by,
        activated_by=u.activated_by,
    )


def _token(t: tokens.TokenInfo) -> TokenOut:
    return TokenOut(
        id=t.id,
        name=t.name,
        role=t.role,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
        created_at=t.created_at,
        created_by=t.created_by,
    )


def _who(principal: Principal | None) -> Principal:
    if principal is None:  # requires() refused already; keeps the type checker honest
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in")
    return principal


def _refused(err: ServiceError) -> HTTPException:
    code = 400
    if isinstance(err, NotFoundError):
        code = 404
    elif isinstance(err, PermissionDenied):
        code = 403
    elif isinstance(err, users.Conflict):
        code = 409
    return HTTPException(code, str(err))


@router.get("/users", response_model=list[UserOut])
def list_users(
    principal: Admin,
    session: DbSession,
    role: UserRole | None = None,
    disabled: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[UserOut]:
    """Users by name; filter by role or disabled state."""
    rows = users.list_users(
        session, _who(principal).actor(), role=role, disabled=disabled, limit=limit, offset=offset
    )
    return [_user(u) for u in rows]


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, responses=ERRORS
)
def create_user(body: UserIn, principal: Admin, session: DbSession) -> UserOut:
    """A new console user (the password is hashed with Argon2id and never returned)."""
    try:
        u = users.create_user(session, _who(principal).actor(), body.name, body.role, body.password)
    except ServiceError as err:
        raise _refused(err) from None
    return _user(u)


@router.post("/users/{user_id}/disable", response_model=UserOut, responses=ERRORS)
def disable_user(
    user_id: Id, principal: Admin, session: DbSession, body: ReasonIn | None = None
) -> UserOut:
    """Disable a user and end their sessions at once."""
    reason = body.reason if body is not None else ""
    try:
        u = users.disable_user(session, _who(principal).actor(), user_id, reason=reason)
    except ServiceError as err:
        raise _refused(err) from None
    return _user(u)


@router.post("/users/{user_id}/activate", response_model=UserOut, responses=ERRORS)
def activate_user(
    user_id: Id, principal: Admin, session: DbSession, body: ReasonIn | None = None
) -> UserOut:
    """Activate an account that waits for a second administrator (never its maker's)."""
    reason = body.reason if body is not None else ""
    try:
        u = users.activate_user(session, _who(principal).actor(), user_id, reason=reason)
    except ServiceError as err:
        raise _refused(err) from None
    return _user(u)


class BlockOut(BaseModel):
    scope: Literal["account", "address"] = Field(
        description="account: one name from one address; address: every name from it"
    )
    address: str
    user_id: int | None = Field(description="The user, when the name is an account's")
    until: dt.datetime


class UnlockOut(BaseModel):
    cleared: int = Field(description="Counters cleared")


class AddressUnlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(min_length=1, max_length=100, pattern=r"^[0-9A-Fa-f.:]+$")
    reason: str = Field(default="", max_length=1000)


@router.get("/login-blocks", response_model=list[BlockOut])
def list_blocks(principal: Admin, session: DbSession) -> list[BlockOut]:
    """Sign-ins refused now: a name from an address, or an address for every name."""
    _who(principal)
    return [
        BlockOut(scope=b.scope, address=b.address, user_id=b.user_id, until=b.until)
        for b in login_limits.blocks(session)
    ]


@router.post("/users/{user_id}/unlock", response_model=UnlockOut, responses=ERRORS)
def unlock_user(
    user_id: Id, principal: Admin, session: DbSession, body: ReasonIn | None = None
) -> UnlockOut:
    """Let a user sign in again from every address (audited ``auth.unlock``)."""
    reason = body.reason if body is not None else ""
    try:
        n = login_limits.unlock(session, _who(principal).actor(), user_id=user_id, reason=reason)
    except ServiceError as err:
        raise _refused(err) from None
    return UnlockOut(cleared=n)


@router.post("/login-blocks/unlock", response_model=UnlockOut, responses=ERRORS)
def unlock_address(body: AddressUnlockIn, principal: Admin, session: DbSession) -> UnlockOut:
    """Let a client address sign in again, every name (audited ``auth.unlock``)."""
    try:
        n = login_limits.unlock(
            session, _who(principal).actor(), address=body.address, reason=body.reason
        )
    except ServiceError as err:
        raise _refused(err) from None
    return UnlockOut(cleared=n)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    principal: Admin,
    session: DbSession,
    active: bool | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[TokenOut]:
    """API tokens, newest first (never their secrets); ``active`` filters live or dead ones."""
    rows = tokens.list_tokens(
        session, _who(principal).actor(), active=active, limit=limit, offset=offset
    )
    return [_token(t) for t in rows]


@router.post(
    "/tokens", response_model=NewTokenOut, status_code=status.HTTP_201_CREATED, responses=ERRORS
)
def create_token(body: TokenIn, principal: Admin, session: DbSession) -> NewTokenOut:
    """A new API token with a role and an expiry; the secret is in this response only."""
    try:
        new = tokens.create_token(
            session, _who(principal).actor(), body.name, body.role, expires_days=body.expires_days
        )
    except ServiceError as err:
        raise _refused(err) from None
    return NewTokenOut(token=_token(new.info), secret=new.secret)


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut, responses=ERRORS)
def revoke_token(
    token_id: Id, principal: Admin, session: DbSession, body: ReasonIn | None = None
) -> TokenOut:
    """Revoke a token at once."""
    reason = body.reason if body is not None else ""
    try:
        t = tokens.revoke_token(session, _who(principal).actor(), token_id, reason=reason)
    except ServiceError as err:
        raise _refused(err) from None
    return _token(t)
