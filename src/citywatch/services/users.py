"""Users and console sessions: who may sign in, and with what (API tokens:
:mod:`citywatch.services.tokens`, which shares the name, role and hashing rules here).

Passwords are kept only as Argon2id hashes; session cookies only as SHA-256 hashes of their
random secrets.  Sign-ins are limited per client address and per account name and address
(:mod:`citywatch.services.login_limits`: each attempt is counted before its password is
checked).  Duties stay separated (:mod:`citywatch.policy.duties`): an account that searches or
approves, made through the API, waits until a second administrator activates it.  Every auth
event is audited (``auth.login``, ``auth.login_failed``, ``auth.lockout``, ``auth.unlock``,
``auth.logout``, ``user.create``, ``user.activate``, ``user.disable``), in the same transaction
as the change it describes.  Nothing here logs, returns or audits a password or a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.access import Role
from citywatch.policy.duties import may_activate, needs_second_admin
from citywatch.services import login_limits
from citywatch.services.common import (
    NotFoundError,
    PermissionDenied,
    ServiceError,
    now_or,
    unit_of_work,
)
from citywatch.services.login_limits import LoginLimits, Throttled
from citywatch.services.names import clean_name, name_key
from citywatch.store.models import ApiTokenRow, UserRow, WebSessionRow

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte of "password" is a denial of service
MAX_LIST = 1000
USER_ROLES = frozenset(
    {Role.ADMIN, Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR, Role.SUPERVISOR}
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
#: Sliding expiry is written at most this often, not on every request.
TOUCH_EVERY = dt.timedelta(seconds=30)


class Conflict(ServiceError):
    """The change clashes with the current state (a name taken, a token already revoked)."""


class AuthError(ServiceError):
    """Sign-in refused.  The message never says whether the name exists."""


class LockedOut(AuthError):
    """Too many sign-ins from this address (for this name, or for any): refused until
    ``until`` without looking at the password.  Known and unknown names answer alike."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("too many failed sign-ins: try again later")
        self.until = until


class AwaitingActivation(AuthError):
    """The password was right, but a second administrator has not activated the account."""

    def __init__(self) -> None:
        super().__init__("this account waits for a second administrator to activate it")


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: dt.datetime
    locked_until: dt.datetime | None = None  # sign-ins of this name refused from some address
    pending_activation: bool = False
    created_by: str | None = None
    activated_by: str | None = None


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A resolved console session."""

    user: UserInfo
    csrf: str = field(repr=False)
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened; ``cookie`` is the secret the browser keeps."""

    cookie: str = field(repr=False)
    live: LiveSession


def _hasher() -> PasswordHasher:
    return PasswordHasher()  # Argon2id with the library's (RFC 9106 low-memory) parameters


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _user_info(row: UserRow, locked_until: dt.datetime | None = None) -> UserInfo:
    return UserInfo(
        row.id,
        row.name,
        row.role,
        row.disabled,
        row.created_at,
        locked_until,
        row.pending_activation,
        row.created_by,
        row.activated_by,
    )


def check_name(name: str, what: str) -> str:
    clean = clean_name(name, what, max_length=100)
    if not set(clean) <= _NAME_CHARS:
        raise ServiceError(f"{what} {clean[:100]!r}: 1-100 letters, digits and . _ - @ only")
    return clean


def _user_named(session: Session, name: str) -> UserRow | None:
    """The user whose name equals ``name`` apart from case (names are ASCII: SQL lower())."""
    key = name_key(name)
    return session.scalar(select(UserRow).where(func.lower(UserRow.name) == key))


def identities(session: Session, name: str, *, depth: int = 5) -> frozenset[str]:
    """``name`` and, for a token (``token:<name>``), whoever issued it, up the chain."""
    found = {name}
    current = name
    for _ in range(depth):
        if not current.startswith("token:"):
            break
        issuer = session.scalar(
            select(ApiTokenRow.created_by).where(ApiTokenRow.name == current[len("token:") :])
        )
        if issuer is None or issuer in found:
            break
        found.add(issuer)
        current = issuer
    return frozenset(found)


def check_password(password: str) -> None:
    """The password policy (length only: NIST 800-63B; no composition rules)."""
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"password too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ServiceError(f"password too long: at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise ServiceError("password must not be blank")


def parse_role(role: str | Role, allowed: frozenset[Role], what: str) -> Role:
    try:
        r = Role(role)
    except ValueError:
        r = None
    if r is None or r not in allowed:
        names = ", ".join(sorted(x.value for x in allowed))
        raise ServiceError(f"{what} role {str(role)!r}: expected one of {names}")
    return r


# --- users ------------------------------------------------------------------------------------


def create_user(
    session: Session,
    actor: Actor,
    name: str,
    role: str | Role,
    password: str,
    *,
    on_server: bool = False,
) -> UserInfo:
    """A new user with an Argon2id password hash (audited ``user.create``).

    Through the API (``on_server`` False) an account that searches or approves starts inactive
    until a second administrator activates it (:func:`activate_user`); the server's CLI
    (``on_server``) creates it active.  Names are unique apart from case."""
    name = check_name(name, "user name")
    r = parse_role(role, USER_ROLES, "user")
    check_password(password)
    digest = _hasher().hash(password)
    pending = not on_server and needs_second_admin(r)
    with unit_of_work(session):
        taken = _user_named(session, name)
        if taken is not None:
            raise Conflict(f"user {name!r} already exists (as {taken.name!r})")
        row = UserRow(
            name=name,
            role=r.value,
            password_hash=digest,
            created_by=actor.name,
            pending_activation=pending,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"user {name!r} already exists") from None
        details = {"name": name, "role": r, "pending_activation": pending}
        append(session, actor, "user.create", f"user:{row.id}", details=details)
    return _user_info(row)


def activate_user(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    reason: str = "",
    on_server: bool = False,
    now: dt.datetime | None = None,
) -> UserInfo:
    """A second administrator (never the account's maker, nor through a token the maker
    issued) or the server's CLI activates a waiting account (audited ``user.activate``)."""
    at = now_or(now)
    with unit_of_work(session):
        row = session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"user {user_id} does not exist")
        creators = identities(session, row.created_by) if row.created_by else frozenset()
        activators = frozenset() if on_server else identities(session, actor.name)
        ok = may_activate(creators, activators, row.pending_activation)
        if ok:
            row.pending_activation = False
            row.activated_by = actor.name
            row.activated_at = at
            append(
                session,
                actor,
                "user.activate",
                f"user:{row.id}",
                details={"name": row.name, "role": row.role, "created_by": row.created_by},
                reason=reason.strip() or None,
            )
        info = _user_info(row)
    if not ok:
        with unit_of_work(session):
            append(
                session,
                actor,
                "user.activate_refused",
                f"user:{user_id}",
                details={"name": info.name, "refused": ok.reason},
            )
        error = PermissionDenied if info.pending_activation else Conflict
        raise error(f"user {info.name!r}: {ok.reason}")
    return info


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIST or offset < 0:
        raise ServiceError(f"limit must be 1..{MAX_LIST} and offset >= 0, got {limit}, {offset}")


def list_users(
    session: Session,
    actor: Actor,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[UserInfo]:
    """Users by name, filtered and paged (audited ``user.list``)."""
    check_page(limit, offset)
    stmt = select(UserRow)
    if role is not None:
        stmt = stmt.where(UserRow.role == parse_role(role, USER_ROLES, "user").value)
    if disabled is not None:
        stmt = stmt.where(UserRow.disabled.is_(disabled))
    stmt = stmt.order_by(UserRow.name).limit(limit).offset(offset)
    with unit_of_work(session):
        rows = session.scalars(stmt).all()
        locks = login_limits.locked_until(session, [r.id for r in rows], now_or(None))
        filters = {"role": role, "disabled": disabled, "limit": limit, "offset": offset}
        append(session, actor, "user.list", "users", details={**filters, "count": len(rows)})
    return [_user_info(r, locks.get(r.id)) for r in rows]


def disable_user(session: Session, actor: Actor, user_id: int, *, reason: str = "") -> UserInfo:
    """Disable a user and end their sessions (audited ``user.disable``).

    The last enabled administrator cannot be disabled: nobody could manage users any more."""
    with unit_of_work(session):
        row = session.get(UserRow, user_id)
        if row is None:
            raise NotFoundError(f"user {user_id} does not exist")
        if not row.disabled and row.role == Role.ADMIN.value:
            admins = session.scalar(
                select(func.count(UserRow.id)).where(
                    UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False)
                )
            )
            if (admins or 0) <= 1:
                raise Conflict(f"user {row.name!r} is the last enabled administrator")
        row.disabled = True
        session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == row.id))
        append(
            session,
            actor,
            "user.disable",
            f"user:{row.id}",
            details={"name": row.name},
            reason=reason.strip() or None,
        )
    return _user_info(row)


def get_user(session: Session, user_id: int) -> UserInfo:
    row = session.get(UserRow, user_id)
    if row is None:
        raise NotFoundError(f"user {user_id} does not exist")
    return _user_info(row)


def get_user_by_name(session: Session, name: str) -> UserInfo:
    row = _user_named(session, name.strip()) if name.strip() else None
    if row is None:
        raise NotFoundError(f"user {name.strip()[:100]!r} does not exist")
    return _user_info(row)


# --- signing in -------------------------------------------------------------------------------


def authenticate(
    session: Session,
    name: str,
    password: str,
    *,
    limits: LoginLimits | None = None,
    client: str = "",
    now: dt.datetime | None = None,
) -> UserInfo:
    """The user, when ``password`` is right; otherwise :class:`AuthError` (audited).

    The attempt is counted first (:func:`login_limits.take`, one atomic step per counter);
    a full counter refuses with :class:`LockedOut` without checking the password, for known
    and unknown names alike.  The failure that fills the name's counter for this address is
    audited ``auth.lockout``.  An unknown name costs the same hashing time as a known one.
    """
    limits = limits or LoginLimits()
    at = now_or(now)
    hasher = _hasher()
    typed = unicodedata.normalize("NFKC", name).strip()[:100]
    found = _user_named(session, typed) if typed else None
    row = _user_info(found) if found is not None else None
    stored_hash = found.password_hash if found is not None else _DUMMY_HASH
    session.rollback()  # end the read: the counting transaction starts with its write
    # An unknown name is not recorded: people type their password into the name field,
    # and the audit log keeps everything for ever.
    details: dict[str, str | None] = {
        "name": row.name if row is not None else None,
        "client": client[:100],
    }
    actor = Actor(row.name, row.role) if row is not None else Actor.system("auth")
    target = f"user:{row.id}" if row is not None else "user:?"
    try:
        ticket = login_limits.take(
            session, limits, typed, client, user_id=row.id if row else None, now=at
        )
    except Throttled as err:
        with unit_of_work(session):
            throttled = {"why": f"throttled ({err.scope})"}
            append(session, actor, "auth.login_failed", target, details={**details, **throttled})
        raise LockedOut(err.until) from None
    ok = False
    # An unknown name is checked against a dummy hash: equal work, so timing does not reveal
    # which names exist.
    with contextlib.suppress(VerificationError, InvalidHashError):
        ok = hasher.verify(stored_hash, password[:MAX_PASSWORD]) and row is not None
    ok = ok and len(password) <= MAX_PASSWORD
    if ok and row is not None and not row.disabled and not row.pending_activation:
        with unit_of_work(session):
            login_limits.succeeded(session, ticket)
            if hasher.check_needs_rehash(stored_hash):
                fresh = session.get(UserRow, row.id)
                if fresh is not None:
                    fresh.password_hash = hasher.hash(password)
            append(session, actor, "auth.login", target, details=details)
        return row
    with unit_of_work(session):
        why = "password"
        if ok and row is not None:
            why = "disabled" if row.disabled else "awaiting activation"
        append(session, actor, "auth.login_failed", target, details={**details, "why": why})
        locked = login_limits.failed(session, limits, ticket, now=at)
        if locked is not None:
            append(
                session,
                Actor.system("auth"),
                "auth.lockout",
                target,
                details={
                    **details,
                    "until": locked,
                    "failures": limits.per_account,
                    "scope": "account and address",
                },
            )
    if locked is not None:
        raise LockedOut(locked)
    if ok and row is not None and row.pending_activation and not row.disabled:
        raise AwaitingActivation
    raise AuthError("wrong user name or password")


# A valid Argon2id hash (default parameters) of a random string nobody knows.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$Ydpm1dxenSTIUnI6PqKpkQ$"
    "NwF1ujGw+qxXD6c+bHhrsKyxXg49G5ETIEf4AWwsx74"
)


def create_session(
    session: Session,
    user: UserInfo,
    *,
    idle: dt.timedelta,
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
) -> NewSession:
    """Open a console session for an authenticated user (the sign-in itself is audited by
    :func:`authenticate`)."""
    at = now_or(now)
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = min(at + idle, at + max_age)
    with unit_of_work(session):
        # Expired sessions of anyone are swept on every sign-in: the table stays small.
        session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at <= at))
        session.add(
            WebSessionRow(
                id=sha256_hex(cookie),
                user_id=user.id,
                csrf=csrf,
                created_at=at,
                expires_at=expires,
                last_seen_at=at,
            )
        )
    return NewSession(cookie, LiveSession(user, csrf, expires))


def resolve_session(
    session: Session,
    cookie: str,
    *,
    idle: dt.timedelta,
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
) -> LiveSession | None:
    """The live session behind a cookie (its expiry slides forward), or None."""
    at = now_or(now)
    if not cookie or len(cookie) > 200:
        return None
    with unit_of_work(session):
        row = session.get(WebSessionRow, sha256_hex(cookie))
        if row is None:
            return None
        user = session.get(UserRow, row.user_id)
        if row.expires_at <= at or user is None or user.disabled:
            session.delete(row)
            return None
        if at - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = at
            row.expires_at = min(at + idle, row.created_at + max_age)
        return LiveSession(_user_info(user), row.csrf, row.expires_at)


def end_session(session: Session, cookie: str) -> bool:
    """Sign out (audited ``auth.logout``); False when the session was already gone."""
    if not cookie or len(cookie) > 200:
        return False
    with unit_of_work(session):
        row = session.get(WebSessionRow, sha256_hex(cookie))
        if row is None:
            return False
        user = session.get(UserRow, row.user_id)
        if user is not None:
            actor = Actor(user.name, user.role)
            append(session, actor, "auth.logout", f"user:{user.id}")
        session.delete(row)
    return True
