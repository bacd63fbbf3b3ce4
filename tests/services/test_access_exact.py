"""Access requests to old plate reads, exactly (issue 21, mutation testing): every field a
request and a decision store, every audit entry whole (action, target, details, reason), the
limits at their edges, and which grants :func:`live_grants` hands to a search."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, AuditEntry, entries, iso_utc
from citywatch.services import tokens
from citywatch.services.access_requests import (
    MAX_CASE_REF,
    MAX_LIST,
    MAX_REASON,
    decide_request,
    list_requests,
    live_grants,
    request_access,
)
from citywatch.services.common import NotFoundError, PermissionDenied, ServiceError
from citywatch.services.search import search_plate_reads
from citywatch.store.media import MediaStore
from citywatch.store.models import AccessRequestRow
from tests.services.helpers import NOW, seed_alerts

D = dt.timedelta(days=1)
LATER = NOW + 200 * D
CAROL = Actor("carol", "investigator")
DAVE = Actor("dave", "investigator")
SAM = Actor("sam", "supervisor")
CASE = "CASE-2025-77"
START, END = NOW - 10 * D, NOW + 10 * D


def _ask(
    session: Session,
    actor: Actor = CAROL,
    case: str = CASE,
    reason: str = "seen near the scene",
    **kw: object,
) -> AccessRequestRow:
    args: dict[str, object] = {"reads_from": START, "reads_until": END, "now": LATER} | kw
    return request_access(session, actor, case_ref=case, reason=reason, **args)  # type: ignore[arg-type]


def _last(session: Session) -> AuditEntry:
    return list(entries(session))[-1]


def _whole(e: AuditEntry) -> tuple[object, ...]:
    return (e.actor, e.role, e.action, e.target, e.details, e.reason)


def test_a_request_is_stored_and_audited_whole(session: Session) -> None:
    row = _ask(session, case=f"  {CASE} ", reason=" seen near the scene\n")
    stored = session.get(AccessRequestRow, row.id)
    assert stored is not None
    assert (stored.case_ref, stored.reason, stored.status) == (
        CASE,
        "seen near the scene",
        "pending",
    )
    assert (stored.requested_by, stored.requested_role) == ("carol", "investigator")
    assert stored.requested_at.astimezone(dt.UTC) == LATER
    assert stored.reads_from.astimezone(dt.UTC) == START
    assert stored.reads_until.astimezone(dt.UTC) == END
    assert (stored.decided_by, stored.decided_at, stored.expires_at) == (None, None, None)
    assert _whole(_last(session)) == (
        "carol",
        "investigator",
        "access_request.create",
        f"access_request:{row.id}",
        {
            "reads_from": iso_utc(START),
            "reads_until": iso_utc(END),
            "reason": "seen near the scene",
        },
        CASE,
    )


def test_the_caller_s_window_decides_whether_a_request_is_needed(session: Session) -> None:
    # 100 days back with the default 90-day window: old, a request may be made
    start, end = LATER - 100 * D, LATER - 99 * D
    assert _ask(session, reads_from=start, reads_until=end).status == "pending"
    # with a 120-day window the same period is inside it: no request needed
    with pytest.raises(ServiceError, match="within the access window: no request needed"):
        _ask(session, reads_from=start, reads_until=end, window=120 * D)
    # and a 10-day window makes a period 20 days back old enough
    row = _ask(session, reads_from=LATER - 20 * D, reads_until=LATER - 19 * D, window=10 * D)
    assert row.status == "pending"


def test_case_and_reason_lengths_at_their_limits(session: Session) -> None:
    assert _ask(session, case="C" * MAX_CASE_REF).case_ref == "C" * MAX_CASE_REF
    with pytest.raises(ServiceError) as err:
        _ask(session, case="C" * (MAX_CASE_REF + 1))
    assert str(err.value) == f"the case reference is longer than {MAX_CASE_REF} characters"
    assert _ask(session, reason="r" * MAX_REASON).reason == "r" * MAX_REASON
    with pytest.raises(ServiceError) as err:
        _ask(session, reason="r" * (MAX_REASON + 1))
    assert str(err.value) == (
        f"the reason for the access request is longer than {MAX_REASON} characters"
    )
    with pytest.raises(ServiceError) as err:
        _ask(session, reason="  ")
    assert str(err.value) == "the reason for the access request is required"
    row = _ask(session)
    with pytest.raises(ServiceError) as err:
        decide_request(session, SAM, row.id, True, "r" * (MAX_REASON + 1), now=LATER)
    assert str(err.value) == (
        f"deciding access request {row.id}: a reason is longer than {MAX_REASON} characters"
    )
    with pytest.raises(ServiceError) as err:
        decide_request(session, SAM, row.id, True, "", now=LATER)
    assert str(err.value) == f"deciding access request {row.id}: a reason is required"
    ok = decide_request(session, SAM, row.id, True, "r" * MAX_REASON, now=LATER)
    assert ok.decision_reason == "r" * MAX_REASON


def test_a_role_that_may_not_search_is_refused_and_audited_whole(session: Session) -> None:
    before = len(list(entries(session)))
    with pytest.raises(PermissionDenied) as err:
        _ask(session, actor=Actor("op", "operator"))
    message = "role 'operator' may not search plate reads, so may not ask to see old ones"
    assert str(err.value) == message
    assert session.query(AccessRequestRow).count() == 0
    assert len(list(entries(session))) == before + 1
    assert _whole(_last(session)) == (
        "op",
        "operator",
        "access_request.refused",
        "access_requests",
        {"reads_from": iso_utc(START), "reads_until": iso_utc(END), "refused": message},
        CASE,
    )


def test_an_approval_is_stored_and_audited_whole_for_the_validity_asked(
    session: Session,
) -> None:
    row = _ask(session)
    at = LATER + dt.timedelta(hours=1)
    decided = decide_request(session, SAM, row.id, True, " proportionate ", validity=7 * D, now=at)
    stored = session.get(AccessRequestRow, row.id)
    assert stored is decided
    assert (stored.status, stored.decided_by, stored.decided_role) == (
        "approved",
        "sam",
        "supervisor",
    )
    assert stored.decision_reason == "proportionate"
    assert stored.decided_at is not None and stored.decided_at.astimezone(dt.UTC) == at
    assert stored.expires_at is not None and stored.expires_at.astimezone(dt.UTC) == at + 7 * D
    assert _whole(_last(session)) == (
        "sam",
        "supervisor",
        "access_request.approve",
        f"access_request:{row.id}",
        {"requested_by": "carol", "expires_at": iso_utc(at + 7 * D)},
        "proportionate",
    )


def test_a_denial_is_stored_and_audited_whole(session: Session) -> None:
    row = _ask(session)
    decided = decide_request(session, SAM, row.id, False, "not proportionate", now=LATER)
    assert (decided.status, decided.decided_by, decided.expires_at) == ("denied", "sam", None)
    assert _whole(_last(session)) == (
        "sam",
        "supervisor",
        "access_request.deny",
        f"access_request:{row.id}",
        {"requested_by": "carol", "expires_at": None},
        "not proportionate",
    )


def test_a_refused_decision_is_audited_whole_and_changes_nothing(session: Session) -> None:
    row = _ask(session)
    with pytest.raises(PermissionDenied) as err:
        decide_request(session, DAVE, row.id, False, "colleague", now=LATER)
    message = "role 'investigator' may not approve access requests"
    assert str(err.value) == message
    assert _whole(_last(session)) == (
        "dave",
        "investigator",
        "access_request.refused",
        f"access_request:{row.id}",
        {"decision": "deny", "refused": message},
        "colleague",
    )
    session.expire_all()
    stored = session.get(AccessRequestRow, row.id)
    assert stored is not None and (stored.status, stored.decided_by) == ("pending", None)
    with pytest.raises(NotFoundError) as missing:
        decide_request(session, SAM, row.id + 99, True, "r", now=LATER)
    assert str(missing.value) == f"access request {row.id + 99} does not exist"


def test_a_request_filed_with_a_token_is_not_decided_by_its_issuer(session: Session) -> None:
    token = tokens.create_token(
        session, SAM, "sams-bot", "investigator", expires_days=30, on_server=True, now=LATER
    )
    row = _ask(session, actor=Actor(f"token:{token.info.name}", "investigator"))
    with pytest.raises(PermissionDenied) as err:
        decide_request(session, SAM, row.id, True, "mine after all", now=LATER)
    assert str(err.value) == (
        f"access request {row.id}: a request must be decided by a second person, not by whoever "
        "issued the token that filed it (or the filer of a token's issuer)"
    )
    assert _last(session).action == "access_request.refused"
    # another supervisor may
    other = decide_request(session, Actor("sue", "supervisor"), row.id, True, "ok", now=LATER)
    assert other.status == "approved"


def test_listing_checks_its_limits_filters_pages_and_is_audited(session: Session) -> None:
    first = _ask(session).id
    second = _ask(session, actor=DAVE, case="CASE-DAVE").id
    third = _ask(session).id
    decide_request(session, SAM, second, False, "no", now=LATER)
    with pytest.raises(ServiceError) as err:
        list_requests(session, SAM, mine=False, status="gone")
    assert str(err.value) == "status 'gone': expected one of pending, approved, denied"
    for kw in ({"limit": 0}, {"limit": MAX_LIST + 1}, {"offset": -1}):
        with pytest.raises(ServiceError) as err:
            list_requests(session, SAM, mine=False, **kw)  # type: ignore[arg-type]
        assert str(err.value) == f"limit must be 1..{MAX_LIST} and offset >= 0"
    with pytest.raises(PermissionDenied) as denied:
        list_requests(session, CAROL, mine=False)
    assert str(denied.value) == "role 'investigator' may list only its own access requests"
    rows, total = list_requests(session, SAM, mine=False, limit=MAX_LIST)
    assert ([r.id for r in rows], total) == ([third, second, first], 3)
    rows, total = list_requests(session, SAM, mine=False, limit=1, offset=1)
    assert ([r.id for r in rows], total) == ([second], 3)
    rows, total = list_requests(session, CAROL, mine=True, status="pending", offset=0)
    assert ([r.id for r in rows], total) == ([third, first], 2)
    rows, total = list_requests(session, SAM, mine=False, status="denied")
    assert ([r.id for r in rows], total) == ([second], 1)
    rows, total = list_requests(session, DAVE, mine=True)
    assert ([r.id for r in rows], total) == ([second], 1)
    assert _whole(_last(session)) == (
        "dave",
        "investigator",
        "access_request.list",
        "access_requests",
        {"mine": True, "status": None, "returned": [second]},
        None,
    )
    list_requests(session, SAM, mine=False, status="denied")
    assert _last(session).details == {"mine": False, "status": "denied", "returned": [second]}


def test_live_grants_are_the_actor_s_approved_unexpired_ones_for_the_case(
    session: Session,
) -> None:
    mine = _ask(session).id
    _ask(session, case="OTHER-CASE")  # approved below, another case
    other_case = session.query(AccessRequestRow).order_by(AccessRequestRow.id.desc()).first()
    assert other_case is not None
    daves = _ask(session, actor=DAVE).id
    pending = _ask(session).id
    denied = _ask(session).id
    later = _ask(session).id
    for rid in (mine, other_case.id, daves):
        decide_request(session, SAM, rid, True, "ok", validity=30 * D, now=LATER)
    decide_request(session, SAM, denied, False, "no", now=LATER)
    decide_request(session, SAM, later, True, "ok", validity=40 * D, now=LATER)
    assert pending not in (mine, later)
    grants = live_grants(session, CAROL, CASE, LATER + D)
    assert [g.request_id for g in grants] == [mine, later]
    g = grants[0]
    assert (g.requested_by, g.case_ref, g.status, g.decided_by) == (
        "carol",
        CASE,
        "approved",
        "sam",
    )
    assert g.reads_from.astimezone(dt.UTC) == START
    assert g.reads_until.astimezone(dt.UTC) == END
    assert g.expires_at is not None and g.expires_at.astimezone(dt.UTC) == LATER + 30 * D
    # an approval ends at its expiry: a second before it is live, at it not
    edge = LATER + 30 * D
    before = live_grants(session, CAROL, CASE, edge - dt.timedelta(seconds=1))
    assert [g.request_id for g in before] == [mine, later]
    assert [g.request_id for g in live_grants(session, CAROL, CASE, edge)] == [later]
    assert [g.request_id for g in live_grants(session, DAVE, CASE, LATER)] == [daves]


def test_naive_times_and_a_self_approval_are_refused_with_their_own_words(
    session: Session,
) -> None:
    naive = dt.datetime(2025, 1, 1)
    with pytest.raises(ServiceError) as err:
        _ask(session, reads_from=naive)
    assert str(err.value) == "reads_from must be a timezone-aware time, got 2025-01-01T00:00:00"
    with pytest.raises(ServiceError) as err:
        _ask(session, reads_until=naive)
    assert str(err.value) == "reads_until must be a timezone-aware time, got 2025-01-01T00:00:00"
    row = _ask(session)
    with pytest.raises(PermissionDenied) as denied:
        decide_request(session, Actor("carol", "supervisor"), row.id, True, "mine", now=LATER)
    assert str(denied.value) == (
        f"access request {row.id}: a request must be decided by a second person, not its maker"
    )


def test_an_empty_list_counts_none_and_a_default_page_is_a_hundred(session: Session) -> None:
    assert list_requests(session, SAM, mine=False, status="approved") == ([], 0)
    session.add_all(
        AccessRequestRow(
            case_ref=CASE, reason="r", reads_from=START, reads_until=END, requested_by="carol",
            requested_role="investigator", requested_at=LATER, status="pending",
        )
        for _ in range(101)
    )  # fmt: skip
    session.commit()
    rows, total = list_requests(session, SAM, mine=False)
    assert (len(rows), total) == (100, 101)


@pytest.fixture
def seeded(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    """AB123CD seen at NOW, ZG123XY at NOW + 1 day (tests/services/helpers.py)."""
    return seed_alerts(session, session_factory, media)


def _granted(session: Session, start: dt.datetime, end: dt.datetime, at: dt.datetime) -> int:
    row = _ask(session, reads_from=start, reads_until=end, now=at)
    decide_request(session, SAM, row.id, True, "proportionate", now=at)
    return row.id


def _plates(session: Session, at: dt.datetime, **kw: object) -> list[str]:
    rows = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, now=at, **kw)  # type: ignore[arg-type]
    return [r.plate for r in rows]


def test_a_grant_adds_its_period_to_the_window_from_its_first_instant(
    session: Session, seeded: dict[str, int]
) -> None:
    """91 days after NOW the window starts at NOW + 1 day, where ZG123XY was seen: inside.
    AB123CD, seen at NOW, is old; a grant for its period adds it to the window."""
    at = NOW + 91 * D
    assert _plates(session, at) == ["ZG123XY"]
    _granted(session, NOW - 10 * D, NOW + dt.timedelta(hours=1), at)
    assert _plates(session, at) == ["ZG123XY", "AB123CD"]


def test_a_read_between_two_grants_takes_no_place_in_the_results(
    session: Session, seeded: dict[str, int]
) -> None:
    """Two grants, [NOW - 1 day, NOW + 1 hour) and [NOW + 2 days, NOW + 3 days): ZG123XY (NOW +
    1 day) lies between them.  Asked for one result, the database must return AB123CD, not
    spend the one on ZG123XY (which the second guard would then drop)."""
    _granted(session, NOW - D, NOW + dt.timedelta(hours=1), LATER)
    _granted(session, NOW + 2 * D, NOW + 3 * D, LATER)
    assert _plates(session, LATER, limit=1) == ["AB123CD"]
    assert _plates(session, LATER) == ["AB123CD"]
