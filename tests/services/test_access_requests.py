"""Plate reads past the access window: refused without a second person's approval, from the
service layer itself (so every entry point is bound); every step and refusal audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, entries, verify
from citywatch.services.access_requests import decide_request, list_requests, request_access
from citywatch.services.common import PermissionDenied, ServiceError
from citywatch.services.search import (
    get_plate_read,
    search_plate_reads,
    search_plate_reads_fuzzy,
)
from citywatch.store.media import MediaStore
from tests.services.helpers import NOW, audit_actions, seed_alerts

D = dt.timedelta(days=1)
LATER = NOW + 200 * D  # the seeded reads (NOW, NOW + 1 day) are then past the 90-day window
CAROL = Actor("carol", "investigator")
DAVE = Actor("dave", "investigator")
SAM = Actor("sam", "supervisor")
CASE = "CASE-2025-77"


@pytest.fixture
def ids(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    return seed_alerts(session, session_factory, media)


def _found(session: Session, actor: Actor = CAROL, case: str = CASE, **kw: object) -> list[str]:
    rows = search_plate_reads(session, actor, "*123*", case_ref=case, now=LATER, **kw)  # type: ignore[arg-type]
    return [r.plate for r in rows]


def _ask(session: Session, actor: Actor = CAROL, case: str = CASE) -> int:
    row = request_access(
        session,
        actor,
        case_ref=case,
        reason="the car was seen near the scene in June",
        reads_from=NOW - 10 * D,
        reads_until=NOW + 10 * D,
        now=LATER,
    )
    return row.id


def test_old_reads_are_withheld_and_an_explicit_old_period_refused(
    session: Session, ids: dict[str, int]
) -> None:
    assert _found(session) == []  # searched at LATER, both reads are older than 90 days
    with pytest.raises(PermissionDenied, match="access window"):
        _found(session, since=NOW - D)
    with pytest.raises(PermissionDenied, match="approved by a second person"):
        search_plate_reads_fuzzy(
            session, CAROL, "AB123CD", case_ref=CASE, until=NOW + 2 * D, now=LATER
        )
    with pytest.raises(PermissionDenied, match="approved access request"):
        get_plate_read(session, CAROL, ids["hit_read"], case_ref=CASE, now=LATER)
    denied = [e for e in entries(session) if e.action == "plate_read.access_denied"]
    assert len(denied) == 3 and all(e.reason == CASE and e.actor == "carol" for e in denied)
    assert "refused" in denied[0].details
    # within the window (searched "at" NOW) the case reference alone is enough, as before
    rows = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, now=NOW)
    assert {r.plate for r in rows} == {"AB123CD", "ZG123XY"}


def test_a_second_person_s_approval_opens_the_period_for_that_case_only(
    session: Session, ids: dict[str, int]
) -> None:
    request_id = _ask(session)
    with pytest.raises(PermissionDenied):  # pending: not yet
        _found(session, since=NOW - 30 * D)
    approved = decide_request(session, SAM, request_id, True, "proportionate", now=LATER)
    assert approved.status == "approved" and approved.expires_at == LATER + 30 * D
    assert _found(session, since=NOW - 30 * D) == ["ZG123XY", "AB123CD"]
    assert _found(session) == ["ZG123XY", "AB123CD"]  # no since: the grant widens it too
    fuzzy = search_plate_reads_fuzzy(session, CAROL, "AB128CD", case_ref=CASE, now=LATER)
    assert [(r.plate, d) for r, d in fuzzy] == [("AB123CD", 1)]
    row = get_plate_read(session, CAROL, ids["hit_read"], case_ref=CASE, now=LATER)
    assert row.plate == "AB123CD"
    # the grant is the investigator's, for this case, for this period, for a limited time
    assert _found(session, actor=DAVE) == []
    assert _found(session, case="OTHER-CASE") == []
    with pytest.raises(PermissionDenied):
        get_plate_read(session, DAVE, ids["hit_read"], case_ref=CASE, now=LATER)
    expired = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, now=LATER + 31 * D)
    assert expired == []
    searches = [e for e in entries(session) if e.action == "plate_read.search"]
    assert searches[-1].details["access_requests"] == []  # the expired one
    assert any(e.details["access_requests"] == [request_id] for e in searches)
    views = [e for e in entries(session) if e.action == "plate_read.view"]
    assert views[-1].details == {"access_requests": [request_id]}


def test_self_approval_and_approval_without_the_role_are_refused_and_audited(
    session: Session, ids: dict[str, int]
) -> None:
    request_id = _ask(session)
    same_person = Actor("carol", "supervisor")  # a second account of the requester
    with pytest.raises(PermissionDenied, match="second person"):
        decide_request(session, same_person, request_id, True, "mine", now=LATER)
    with pytest.raises(PermissionDenied, match="may not approve"):
        decide_request(session, DAVE, request_id, True, "colleague", now=LATER)
    with pytest.raises(PermissionDenied, match="may not approve"):
        decide_request(session, Actor("root", "admin"), request_id, True, "admin", now=LATER)
    refused = [e for e in entries(session) if e.action == "access_request.refused"]
    assert [e.actor for e in refused] == ["carol", "dave", "root"]
    with pytest.raises(PermissionDenied):
        _found(session, since=NOW - D)  # still no access
    denied = decide_request(session, SAM, request_id, False, "not proportionate", now=LATER)
    assert denied.status == "denied" and denied.expires_at is None
    with pytest.raises(PermissionDenied, match="already denied"):
        decide_request(session, Actor("sue", "supervisor"), request_id, True, "x", now=LATER)
    with pytest.raises(PermissionDenied):
        _found(session, since=NOW - D)
    assert verify(session).ok


def test_requests_are_checked_listed_and_audited(session: Session, ids: dict[str, int]) -> None:
    with pytest.raises(ServiceError, match="no request needed"):
        request_access(
            session,
            CAROL,
            case_ref=CASE,
            reason="r",
            reads_from=LATER - D,
            reads_until=LATER,
            now=LATER,
        )
    with pytest.raises(ServiceError, match="case reference is required"):
        request_access(
            session, CAROL, case_ref=" ", reason="r", reads_from=NOW, reads_until=LATER, now=LATER
        )
    with pytest.raises(PermissionDenied, match="may not search"):
        request_access(
            session,
            Actor("op", "operator"),
            case_ref=CASE,
            reason="r",
            reads_from=NOW,
            reads_until=NOW + D,
            now=LATER,
        )
    mine = _ask(session)
    _ask(session, DAVE, "CASE-DAVE")
    rows, total = list_requests(session, CAROL, mine=True)
    assert ([r.id for r in rows], total) == ([mine], 1)
    with pytest.raises(PermissionDenied):
        list_requests(session, CAROL, mine=False)
    queue, total = list_requests(session, SAM, mine=False, status="pending")
    assert total == 2 and {r.requested_by for r in queue} == {"carol", "dave"}
    actions = audit_actions(session)
    assert actions.count("access_request.create") == 2
    assert actions.count("access_request.list") == 2
    assert actions.count("access_request.refused") == 1  # the operator's attempt
    created = next(e for e in entries(session) if e.action == "access_request.create")
    assert created.reason == CASE and created.details["reason"].startswith("the car")
