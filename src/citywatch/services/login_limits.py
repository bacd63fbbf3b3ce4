"""Sign-in limits: per client address, and per account name *and* address, in the database.

Each sign-in first takes an attempt from both counters in one short transaction (a
conditional ``UPDATE ... WHERE attempts < limit``: the database's row lock makes the count
and the check one step, on SQLite and PostgreSQL alike), and only then is the password
checked.  Fifty parallel guesses therefore get at most ``limit`` password checks; the rest are
refused unchecked.  A success gives the attempts back (the account+address counter is
cleared; the address counter is given one back, so an office behind one address can sign in).

Counting per account *and address* (not per account) means nobody can lock someone else out
from another address; the name as typed is counted whether or not it exists, so a real account
and an unknown name answer alike.  Administrators clear a block with :func:`unlock` (audited
``auth.unlock``; CLI ``citywatch users unlock``, API ``POST /users/{id}/unlock``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.services.common import NotFoundError, ServiceError, now_or, unit_of_work
from citywatch.services.names import name_key
from citywatch.store.models import LoginAttemptRow, UserRow
from citywatch.store.types import UTCDateTime

Scope = Literal["address", "account"]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many sign-ins may fail, and for how long a full counter refuses."""

    per_account: int = 5  # per account name and client address ...
    account_window: dt.timedelta = dt.timedelta(minutes=15)  # ... within this long
    per_address: int = 20  # per client address, any names ...
    address_window: dt.timedelta = dt.timedelta(minutes=5)  # ... within this long

    def __post_init__(self) -> None:
        if self.per_account < 1 or self.per_address < 1:
            raise ValueError("LoginLimits: at least one attempt per account and per address")
        if self.account_window <= dt.timedelta(0) or self.address_window <= dt.timedelta(0):
            raise ValueError("LoginLimits: the windows must be positive")

    def of(self, scope: Scope) -> tuple[int, dt.timedelta]:
        if scope == "account":
            return self.per_account, self.account_window
        return self.per_address, self.address_window


class Throttled(ServiceError):
    """Too many sign-ins: refused before the password was looked at."""

    def __init__(self, scope: Scope, until: dt.datetime) -> None:
        super().__init__("too many failed sign-ins: try again later")
        self.scope = scope
        self.until = until


@dataclass(frozen=True, slots=True)
class Ticket:
    """The attempts one sign-in took (to give back on success)."""

    account_key: str
    address_key: str
    account: str
    address: str
    attempts: int  # on the account+address counter, this one included
    address_attempts: int  # on the address counter, this one included


@dataclass(frozen=True, slots=True)
class Block:
    """A full counter (what an administrator sees and can clear)."""

    scope: Scope
    address: str
    user_id: int | None
    until: dt.datetime


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def account_hash(name: str) -> str:
    return _sha("account", name_key(name.strip()))


def _insert(session: Session, **values: object) -> None:
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = maker(LoginAttemptRow).values(**values).on_conflict_do_nothing(index_elements=["key"])
    session.execute(stmt)


def _take(
    session: Session,
    key: str,
    scope: Scope,
    limits: LoginLimits,
    at: dt.datetime,
    **ids: object,
) -> int:
    """Take one attempt from ``key``'s counter (a new window when the old one ended).

    Returns the attempts now counted; raises :class:`Throttled` when the counter is full."""
    limit, window = limits.of(scope)
    _insert(session, key=key, scope=scope, attempts=0, window_started=at, **ids)
    col = LoginAttemptRow.window_started
    ended = col <= literal(at - window, UTCDateTime())
    now = literal(at, UTCDateTime())
    result = session.execute(
        update(LoginAttemptRow)
        .where(LoginAttemptRow.key == key, or_(LoginAttemptRow.attempts < limit, ended))
        .values(
            attempts=case((ended, 1), else_=LoginAttemptRow.attempts + 1),
            window_started=case((ended, now), else_=col),
            locked_until=case((ended, None), else_=LoginAttemptRow.locked_until),
        )
        .execution_options(synchronize_session=False)
    )
    row = session.execute(
        select(LoginAttemptRow.attempts, LoginAttemptRow.window_started).where(
            LoginAttemptRow.key == key
        )
    ).one()
    if getattr(result, "rowcount", 0) != 1:
        raise Throttled(scope, row.window_started + window)
    return int(row.attempts)


def take(
    session: Session,
    limits: LoginLimits,
    name: str,
    address: str,
    *,
    user_id: int | None = None,
    now: dt.datetime | None = None,
) -> Ticket:
    """Count one sign-in of ``name`` from ``address`` before its password is checked.

    One transaction: either both counters took the attempt or neither did."""
    at = now_or(now)
    address = address[:100]
    account = account_hash(name)
    account_key = _sha("account", account, address)
    address_key = _sha("address", address)
    with unit_of_work(session):
        attempts = _take(
            session,
            account_key,
            "account",
            limits,
            at,
            account=account,
            address=address,
            user_id=user_id,
        )
        on_address = _take(session, address_key, "address", limits, at, address=address)
    return Ticket(account_key, address_key, account, address, attempts, on_address)


def succeeded(session: Session, ticket: Ticket) -> None:
    """The password was right: the account+address counter is cleared, the address given one
    back.  In the caller's transaction."""
    session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.key == ticket.account_key))
    session.execute(
        update(LoginAttemptRow)
        .where(LoginAttemptRow.key == ticket.address_key, LoginAttemptRow.attempts > 0)
        .values(attempts=LoginAttemptRow.attempts - 1)
        .execution_options(synchronize_session=False)
    )


def failed(
    session: Session, limits: LoginLimits, ticket: Ticket, *, now: dt.datetime | None = None
) -> dt.datetime | None:
    """The sign-in failed (it was counted already).  A counter that this filled is marked
    locked; returns until when the account+address counter refuses (None: it does not).
    In the caller's transaction."""
    at = now_or(now)
    until: dt.datetime | None = None
    for key, scope, attempts in (
        (ticket.account_key, "account", ticket.attempts),
        (ticket.address_key, "address", ticket.address_attempts),
    ):
        limit, window = limits.of("account" if scope == "account" else "address")
        row = session.get(LoginAttemptRow, key) if attempts >= limit else None
        if row is None:
            continue
        row.locked_until = max(row.window_started + window, at)
        if scope == "account":
            until = row.locked_until
    return until


def blocks(session: Session, *, now: dt.datetime | None = None) -> list[Block]:
    """Counters that refuse sign-ins now: account+address locks, newest first."""
    at = now_or(now)
    rows = session.scalars(
        select(LoginAttemptRow)
        .where(LoginAttemptRow.locked_until > at)
        .order_by(LoginAttemptRow.locked_until.desc())
    )
    out: list[Block] = []
    for r in rows:
        scope: Scope = "account" if r.scope == "account" else "address"
        if r.locked_until is not None:
            out.append(Block(scope, r.address, r.user_id, r.locked_until))
    return out


def locked_until(session: Session, user_ids: list[int], now: dt.datetime) -> dict[int, dt.datetime]:
    """The latest live lock of each user (from any address)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(LoginAttemptRow.user_id, func.max(LoginAttemptRow.locked_until))
        .where(LoginAttemptRow.user_id.in_(user_ids), LoginAttemptRow.locked_until > now)
        .group_by(LoginAttemptRow.user_id)
    )
    return {int(uid): until for uid, until in rows if uid is not None and until is not None}


def unlock(
    session: Session,
    actor: Actor,
    *,
    user_id: int | None = None,
    address: str | None = None,
    reason: str = "",
) -> int:
    """Clear the sign-in counters of a user (from every address) and/or of an address
    (audited ``auth.unlock``).  Returns how many counters were cleared."""
    if user_id is None and not address:
        raise ServiceError("unlock: name a user or an address")
    with unit_of_work(session):
        conditions = []
        details: dict[str, object] = {}
        if user_id is not None:
            user = session.get(UserRow, user_id)
            if user is None:
                raise NotFoundError(f"user {user_id} does not exist")
            conditions.append(LoginAttemptRow.account == account_hash(user.name))
            conditions.append(LoginAttemptRow.user_id == user_id)
            details["name"] = user.name
        if address:
            conditions.append(LoginAttemptRow.address == address.strip()[:100])
            details["address"] = address.strip()[:100]
        result = session.execute(
            delete(LoginAttemptRow)
            .where(or_(*conditions))
            .execution_options(synchronize_session=False)
        )
        cleared = int(getattr(result, "rowcount", 0) or 0)
        target = f"user:{user_id}" if user_id is not None else f"address:{details['address']}"
        append(
            session,
            actor,
            "auth.unlock",
            target,
            details={**details, "cleared": cleared},
            reason=reason.strip() or None,
        )
    return cleared


def sweep(session: Session, limits: LoginLimits, *, now: dt.datetime | None = None) -> int:
    """Forget counters whose window and lock are over (in the caller's transaction)."""
    at = now_or(now)
    longest = max(limits.account_window, limits.address_window)
    result = session.execute(
        delete(LoginAttemptRow)
        .where(
            LoginAttemptRow.window_started <= at - longest,
            or_(LoginAttemptRow.locked_until.is_(None), LoginAttemptRow.locked_until <= at),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
