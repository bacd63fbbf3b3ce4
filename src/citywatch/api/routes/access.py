"""Access requests for plate reads older than the access window.

An investigator asks (``plates.search``) for one case and one period of reads, with a reason;
a supervisor (``access.approve``), never the requester, approves or denies.  Only then do the
investigator's plate searches for that case reach back into that period.  The rules live in
:mod:`citywatch.services.access_requests`, which audits every step and every refusal.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import AwareDatetime, Field
from sqlalchemy.orm import Session

from citywatch.api.deps import get_config, get_session
from citywatch.api.schemas import ERRORS, MAX_PAGE, In, Out, Page, actor_of
from citywatch.api.security import Permission, Principal, requires
from citywatch.config.root import CitywatchConfig
from citywatch.services import access_requests
from citywatch.store.models import AccessRequestRow

router = APIRouter(prefix="/access-requests", tags=["access requests"], responses=ERRORS)

DbSession = Annotated[Session, Depends(get_session)]
Config = Annotated[CitywatchConfig, Depends(get_config)]
Investigator = Annotated[Principal | None, Depends(requires(Permission.PLATES_SEARCH))]
Supervisor = Annotated[Principal | None, Depends(requires(Permission.ACCESS_APPROVE))]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Status = Literal["pending", "approved", "denied"]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class AccessRequestIn(In):
    case_ref: str = Field(min_length=1, max_length=200, pattern=r"\S")
    reason: str = Field(
        min_length=1, max_length=2000, pattern=r"\S", description="Why the old reads are needed"
    )
    reads_from: AwareDatetime = Field(description="Start of the period of reads asked for")
    reads_until: AwareDatetime = Field(description="End of the period (exclusive)")


class DecisionIn(In):
    reason: str = Field(
        min_length=1, max_length=1000, pattern=r"\S", description="Why (in the audit log)"
    )


class AccessRequestPublic(Out):
    id: int
    case_ref: str
    reason: str
    reads_from: dt.datetime
    reads_until: dt.datetime
    requested_by: str
    requested_at: dt.datetime
    status: Status
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    expires_at: dt.datetime | None = Field(description="An approval is usable until then")

    @classmethod
    def of(cls, row: AccessRequestRow) -> AccessRequestPublic:
        return cls(
            id=row.id,
            case_ref=row.case_ref,
            reason=row.reason,
            reads_from=row.reads_from,
            reads_until=row.reads_until,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            status=row.status,  # type: ignore[arg-type]  # the table's check constraint
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            expires_at=row.expires_at,
        )


def _page(
    rows: list[AccessRequestRow], total: int, limit: int, offset: int
) -> Page[AccessRequestPublic]:
    items = [AccessRequestPublic.of(r) for r in rows]
    return Page[AccessRequestPublic](items=items, limit=limit, offset=offset, total=total)


@router.post("", response_model=AccessRequestPublic, status_code=status.HTTP_201_CREATED)
def create_request(
    body: AccessRequestIn, session: DbSession, config: Config, principal: Investigator
) -> AccessRequestPublic:
    """Ask to view the plate reads of a period before the access window, for one case."""
    row = access_requests.request_access(
        session,
        actor_of(principal),
        case_ref=body.case_ref,
        reason=body.reason,
        reads_from=body.reads_from,
        reads_until=body.reads_until,
        window=config.retention.access_window,
    )
    return AccessRequestPublic.of(row)


@router.get("", response_model=Page[AccessRequestPublic])
def my_requests(
    session: DbSession,
    principal: Investigator,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AccessRequestPublic]:
    """The caller's own requests, newest first."""
    rows, total = access_requests.list_requests(
        session, actor_of(principal), mine=True, status=status_, limit=limit, offset=offset
    )
    return _page(rows, total, limit, offset)


@router.get("/queue", response_model=Page[AccessRequestPublic])
def queue(
    session: DbSession,
    principal: Supervisor,
    status_: Annotated[Status | None, Query(alias="status")] = "pending",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AccessRequestPublic]:
    """Everyone's requests (pending ones by default), for the supervisor who decides."""
    rows, total = access_requests.list_requests(
        session, actor_of(principal), mine=False, status=status_, limit=limit, offset=offset
    )
    return _page(rows, total, limit, offset)


@router.post("/{request_id}/approve", response_model=AccessRequestPublic)
def approve(
    request_id: RequestId,
    body: DecisionIn,
    session: DbSession,
    config: Config,
    principal: Supervisor,
) -> AccessRequestPublic:
    """Approve someone else's pending request (usable for ``retention.access_grant_days``)."""
    row = access_requests.decide_request(
        session,
        actor_of(principal),
        request_id,
        True,
        body.reason,
        validity=config.retention.access_grant_validity,
    )
    return AccessRequestPublic.of(row)


@router.post("/{request_id}/deny", response_model=AccessRequestPublic)
def deny(
    request_id: RequestId, body: DecisionIn, session: DbSession, principal: Supervisor
) -> AccessRequestPublic:
    """Deny someone else's pending request."""
    row = access_requests.decide_request(
        session, actor_of(principal), request_id, False, body.reason
    )
    return AccessRequestPublic.of(row)
