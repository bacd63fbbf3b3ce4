"""API tokens: bearer secrets for scripts and scrapers, each with a role, an expiry and its
issuer.  Only a SHA-256 hash of a token's secret is kept; the secret is handed out once, when
the token is created.  Through the API a token may do only what its issuer may
(:func:`citywatch.policy.duties.may_issue_token`); the server's CLI issues any role.  Every
change and listing is audited (``token.create``, ``token.create_refused``, ``token.list``,
``token.revoke``) in the same transaction.  Nothing here logs, returns or audits a secret.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.access import Role
from citywatch.policy.duties import may_issue_token
from citywatch.services.common import (
    NotFoundError,
    PermissionDenied,
    ServiceError,
    now_or,
    unit_of_work,
)
from citywatch.services.names import name_key
from citywatch.services.users import Conflict, check_name, check_page, parse_role, sha256_hex
from citywatch.store.models import ApiTokenRow

MAX_TOKEN_DAYS = 365
TOKEN_PREFIX = "cwt_"  # noqa: S105  (a marker, not a secret)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class NewToken:
    """A created token; ``secret`` exists only here and is never shown again."""

    info: TokenInfo
    secret: str = field(repr=False)


def token_info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.role,
        row.expires_at,
        row.revoked_at,
        row.created_at,
        row.created_by,
    )


def create_token(
    session: Session,
    actor: Actor,
    name: str,
    role: str | Role,
    *,
    expires_days: int,
    on_server: bool = False,
    now: dt.datetime | None = None,
) -> NewToken:
    """A new bearer token (audited ``token.create``).  The secret is returned once only.

    Through the API a token may do only what its issuer may (:func:`may_issue_token`); the
    server's CLI (``on_server``) issues any role.  Token names are unique apart from case."""
    name = check_name(name, "token name")
    r = parse_role(role, frozenset(Role), "token")
    if not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise ServiceError(f"token expiry: 1..{MAX_TOKEN_DAYS} days, got {expires_days}")
    if not on_server:
        ok = may_issue_token(actor.role, r)
        if not ok:
            with unit_of_work(session):
                details = {"name": name, "role": r, "refused": ok.reason}
                append(session, actor, "token.create_refused", "tokens", details=details)
            raise PermissionDenied(ok.reason)
    at = now_or(now)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(session):
        taken = session.scalar(
            select(ApiTokenRow.name).where(func.lower(ApiTokenRow.name) == name_key(name))
        )
        if taken is not None:
            raise Conflict(f"token {name!r} already exists (as {taken!r})")
        row = ApiTokenRow(
            name=name,
            role=r.value,
            token_hash=sha256_hex(secret),
            expires_at=at + dt.timedelta(days=expires_days),
            created_at=at,
            created_by=actor.name,
        )
        session.add(row)
        session.flush()
        append(
            session,
            actor,
            "token.create",
            f"token:{row.id}",
            details={"name": name, "role": r, "expires_at": row.expires_at},
        )
    return NewToken(token_info(row), secret)


def resolve_token(
    session: Session, secret: str, *, now: dt.datetime | None = None
) -> TokenInfo | None:
    """The live token with this secret, or None (unknown, expired or revoked)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == sha256_hex(secret)))
    if row is None or row.revoked_at is not None or row.expires_at <= now_or(now):
        return None
    return token_info(row)


def list_tokens(
    session: Session,
    actor: Actor,
    *,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> list[TokenInfo]:
    """Tokens, newest first, filtered and paged (audited ``token.list``); never the secrets.

    ``active``: True for live tokens only, False for expired or revoked ones only."""
    check_page(limit, offset)
    at = now_or(now)
    stmt = select(ApiTokenRow)
    live = ApiTokenRow.revoked_at.is_(None) & (ApiTokenRow.expires_at > at)
    if active is True:
        stmt = stmt.where(live)
    elif active is False:
        stmt = stmt.where(~live)
    stmt = stmt.order_by(ApiTokenRow.id.desc()).limit(limit).offset(offset)
    with unit_of_work(session):
        rows = session.scalars(stmt).all()
        filters = {"active": active, "limit": limit, "offset": offset}
        append(session, actor, "token.list", "tokens", details={**filters, "count": len(rows)})
    return [token_info(r) for r in rows]


def revoke_token(
    session: Session,
    actor: Actor,
    token_id: int,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
) -> TokenInfo:
    """Revoke a token at once (audited ``token.revoke``); revoking twice is refused."""
    with unit_of_work(session):
        row = session.get(ApiTokenRow, token_id)
        if row is None:
            raise NotFoundError(f"token {token_id} does not exist")
        if row.revoked_at is not None:
            raise Conflict(f"token {row.name!r} is already revoked")
        row.revoked_at = now_or(now)
        append(
            session,
            actor,
            "token.revoke",
            f"token:{row.id}",
            details={"name": row.name},
            reason=reason.strip() or None,
        )
    return token_info(row)
