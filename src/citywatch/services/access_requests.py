"""Access to plate reads older than the access window: an investigator asks, a second person
approves, and only then do searches for that case reach back.

* :func:`request_access`: an investigator (``plates.search``) asks for the reads of one
  period, for one case, with a reason;
* :func:`decide_request`: a supervisor (``access.approve``) approves or denies it; never their
  own request, nor one a token they issued filed, nor (deciding with a token) one its issuer
  filed (a second person), and an approval is usable for a limited time;
* :func:`live_grants` / :func:`grant_clause`: what :mod:`citywatch.services.search` uses to
  widen a search past the window, for the requester and the case only.

Every step is audited, refusals included (in their own transaction, then raised).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.policy.access import Permission, allowed
from citywatch.policy.decision import Decision
from citywatch.policy.duties import same_person
from citywatch.policy.retention import (
    ACCESS_STATUSES,
    DEFAULT_ACCESS_WINDOW,
    DEFAULT_GRANT_VALIDITY,
    AccessGrant,
    grant_is_live,
    may_decide_request,
    may_request_access,
)
from citywatch.services.common import (
    NotFoundError,
    PermissionDenied,
    ServiceError,
    aware,
    now_or,
    require_text,
    unit_of_work,
)
from citywatch.services.users import identities
from citywatch.store.models import AccessRequestRow, PlateReadRow

MAX_LIST = 500
MAX_CASE_REF = 200
MAX_REASON = 2000


def refuse(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    reason: str | None = None,
) -> PermissionDenied:
    """Audit a refused attempt (committed on its own) and return the error to raise."""
    session.rollback()
    with unit_of_work(session):
        append(
            session,
            actor,
            action,
            target,
            details={**(details or {}), "refused": message},
            reason=reason,
        )
    return PermissionDenied(message)


def grant_of(row: AccessRequestRow) -> AccessGrant:
    return AccessGrant(
        request_id=row.id,
        requested_by=row.requested_by,
        case_ref=row.case_ref,
        reads_from=row.reads_from,
        reads_until=row.reads_until,
        status=row.status,
        decided_by=row.decided_by,
        expires_at=row.expires_at,
    )


def _case(case_ref: str | None) -> str:
    ref = require_text(case_ref, "a case reference")
    if len(ref) > MAX_CASE_REF:
        raise ServiceError(f"the case reference is longer than {MAX_CASE_REF} characters")
    return ref


def _reason(reason: str | None, what: str) -> str:
    why = require_text(reason, what)
    if len(why) > MAX_REASON:
        raise ServiceError(f"{what} is longer than {MAX_REASON} characters")
    return why


def request_access(
    session: Session,
    actor: Actor,
    *,
    case_ref: str,
    reason: str,
    reads_from: dt.datetime,
    reads_until: dt.datetime,
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
    now: dt.datetime | None = None,
) -> AccessRequestRow:
    """An investigator asks to view the plate reads of ``[reads_from, reads_until)``."""
    ref = _case(case_ref)
    why = _reason(reason, "the reason for the access request")
    start, end = aware(reads_from, "reads_from"), aware(reads_until, "reads_until")
    at = now_or(now)
    period = {"reads_from": start, "reads_until": end}
    if not allowed(actor.role, Permission.PLATES_SEARCH):
        raise refuse(
            session,
            actor,
            "access_request.refused",
            "access_requests",
            f"role {actor.role!r} may not search plate reads, so may not ask to see old ones",
            details=period,
            reason=ref,
        )
    ok = may_request_access(start, end, at, window)
    if not ok:
        raise ServiceError(ok.reason)
    with unit_of_work(session):
        row = AccessRequestRow(
            case_ref=ref,
            reason=why,
            reads_from=start,
            reads_until=end,
            requested_by=actor.name,
            requested_role=actor.role,
            requested_at=at,
            status="pending",
        )
        session.add(row)
        session.flush()
        append(
            session,
            actor,
            "access_request.create",
            f"access_request:{row.id}",
            details={**period, "reason": why},
            reason=ref,
        )
    return row


def _get(session: Session, request_id: int) -> AccessRequestRow:
    row = session.get(AccessRequestRow, request_id)
    if row is None:
        raise NotFoundError(f"access request {request_id} does not exist")
    return row


def decide_request(
    session: Session,
    actor: Actor,
    request_id: int,
    approve: bool,
    reason: str,
    *,
    validity: dt.timedelta = DEFAULT_GRANT_VALIDITY,
    now: dt.datetime | None = None,
) -> AccessRequestRow:
    """A second person approves (usable for ``validity``) or denies a pending request."""
    why = _reason(reason, f"deciding access request {request_id}: a reason")
    at = now_or(now)
    verb = "approve" if approve else "deny"
    with unit_of_work(session):
        row = _get(session, request_id)
        ok = may_decide_request(grant_of(row), actor.name, actor.role, at)
        if ok and same_person(
            identities(session, row.requested_by), identities(session, actor.name)
        ):
            ok = Decision.deny(
                f"access request {request_id}: a request must be decided by a second person, "
                "not by whoever issued the token that filed it (or the filer of a token's issuer)"
            )
        if ok:
            row.status = "approved" if approve else "denied"
            row.decided_by = actor.name
            row.decided_role = actor.role
            row.decided_at = at
            row.decision_reason = why
            row.expires_at = at + validity if approve else None
            append(
                session,
                actor,
                f"access_request.{verb}",
                f"access_request:{row.id}",
                details={"requested_by": row.requested_by, "expires_at": row.expires_at},
                reason=why,
            )
    if not ok:
        raise refuse(
            session,
            actor,
            "access_request.refused",
            f"access_request:{request_id}",
            ok.reason,
            details={"decision": verb},
            reason=why,
        )
    return row


def list_requests(
    session: Session,
    actor: Actor,
    *,
    mine: bool,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AccessRequestRow], int]:
    """``mine``: the actor's own requests; otherwise all (needs ``access.approve``).

    Returns ``(page, total)``, newest first; audited."""
    if status is not None and status not in ACCESS_STATUSES:
        raise ServiceError(f"status {status!r}: expected one of {', '.join(ACCESS_STATUSES)}")
    if not 1 <= limit <= MAX_LIST or offset < 0:
        raise ServiceError(f"limit must be 1..{MAX_LIST} and offset >= 0")
    if not mine and not allowed(actor.role, Permission.ACCESS_APPROVE):
        raise PermissionDenied(f"role {actor.role!r} may list only its own access requests")
    stmt = select(AccessRequestRow)
    if mine:
        stmt = stmt.where(AccessRequestRow.requested_by == actor.name)
    if status is not None:
        stmt = stmt.where(AccessRequestRow.status == status)
    with unit_of_work(session):
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(
            session.scalars(stmt.order_by(AccessRequestRow.id.desc()).limit(limit).offset(offset))
        )
        append(
            session,
            actor,
            "access_request.list",
            "access_requests",
            details={"mine": mine, "status": status, "returned": [r.id for r in rows]},
        )
    return rows, total


def live_grants(
    session: Session, actor: Actor, case_ref: str, now: dt.datetime
) -> list[AccessGrant]:
    """The actor's approved, unexpired requests for ``case_ref`` (second person checked)."""
    rows = session.scalars(
        select(AccessRequestRow)
        .where(AccessRequestRow.requested_by == actor.name)
        .where(AccessRequestRow.case_ref == case_ref)
        .where(AccessRequestRow.status == "approved")
        .where(AccessRequestRow.expires_at > now)
        .order_by(AccessRequestRow.id)
    )
    return [g for g in map(grant_of, rows) if grant_is_live(g, now)]


def grant_clause(cutoff: dt.datetime, grants: list[AccessGrant]) -> ColumnElement[bool]:
    """Reads inside the window, or inside the period of one of ``grants``."""
    seen = PlateReadRow.last_seen_at
    covered = [and_(seen >= g.reads_from, seen < g.reads_until) for g in grants]
    return or_(seen >= cutoff, *covered)
