"""Safeguards that a planted bug once slipped past (issue 21), each through the service a camera
or a user calls, with its audit entries: a match from a watchlist whose authorisation ended,
an old-period search under another case, the edges of an approved period, a self-approved
grant written behind the service's back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import Actor, entries, verify
from citywatch.services.access_requests import decide_request, request_access
from citywatch.services.common import PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.search import search_plate_reads, search_plate_reads_fuzzy
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore
from citywatch.store.models import AccessRequestRow, AlertRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    audit_actions,
    face_match,
    fake_embed_faces,
    photo,
    seed_alerts,
)

D = dt.timedelta(days=1)
LATER = NOW + 200 * D  # the seeded reads (AB123CD at NOW, ZG123XY at NOW + 1 day) are old then
CAROL = Actor("carol", "investigator")
SAM = Actor("sam", "supervisor")
CASE = "CASE-2025-77"


# --------------------------------------------------- a watchlist whose authorisation has ended


def test_a_match_from_a_watchlist_whose_authorisation_ended_is_not_stored(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    """cam-1 is covered by a live authorisation (W-LIVE), so the camera check passes; the
    watchlist was held under W-OLD, which ended yesterday: its match must not be stored."""
    add_camera(session, "cam-1")
    add_authorisation(session, "W-OLD", cameras=("cam-1",), ends=NOW + D)
    add_authorisation(session, "W-LIVE", cameras=("cam-1",), ends=NOW + 30 * D)
    old = create_watchlist(session, ADMIN, "old-list", "W-OLD", now=NOW)
    enrolled = enrol_subject(
        session, media, ADMIN, "old-list", "Jane Roe", [("a", photo(1, 1))],
        fake_embed_faces, "reason", "source", now=NOW,
    )  # fmt: skip
    published: list[AlertEvent] = []
    match = face_match(subject_id=enrolled.subject_id, watchlist_id=old.id)

    def recorder(at: dt.datetime) -> EventRecorder:
        return EventRecorder(
            session_factory, media, lambda _r: None, published.append, clock=lambda: at
        )

    before = len(audit_actions(session))
    with pytest.raises(PermissionDenied, match=r"watchlist 'old-list': .*sighting not stored"):
        recorder(NOW + 2 * D).record_face_match(match)
    with session_factory() as s:
        assert list(s.scalars(select(AlertRow))) == []
        assert len(audit_actions(s)) == before  # nothing stored, nothing logged as stored
    assert published == []
    assert not any(media.root.rglob("face/**/*.jpg"))
    # the same match while W-OLD was live is stored: the refusal above is the authorisation's end
    assert recorder(NOW).record_face_match(match) is not None
    with session_factory() as s:
        assert audit_actions(s)[-1] == "alert.create" and verify(s).ok


# ------------------------------------------------------------------- access to old plate reads


@pytest.fixture
def ids(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    return seed_alerts(session, session_factory, media)


def _grant(session: Session, start: dt.datetime, end: dt.datetime, case: str = CASE) -> int:
    row = request_access(
        session, CAROL, case_ref=case, reason="seen near the scene",
        reads_from=start, reads_until=end, now=LATER,
    )  # fmt: skip
    decide_request(session, SAM, row.id, True, "proportionate", now=LATER)
    return row.id


def _denied(session: Session) -> list[tuple[str, str | None]]:
    return [(e.actor, e.reason) for e in entries(session) if e.action == "plate_read.access_denied"]


def test_an_old_period_under_another_case_is_refused_and_audited(
    session: Session, ids: dict[str, int]
) -> None:
    """A grant for one case opens nothing for another: asking for the old period under another
    case reference is refused (not answered with an empty list) and the refusal audited."""
    _grant(session, NOW - 10 * D, NOW + 10 * D)
    for search in (search_plate_reads, search_plate_reads_fuzzy):
        with pytest.raises(PermissionDenied, match="'OTHER-CASE' approved by a second person"):
            search(session, CAROL, "AB123CD", case_ref="OTHER-CASE", since=NOW - D, now=LATER)
    assert _denied(session) == [("carol", "OTHER-CASE")] * 2
    # the same search under the case itself is answered
    rows = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, since=NOW - D, now=LATER)
    assert [r.plate for r in rows] == ["ZG123XY", "AB123CD"]


def test_a_read_seen_at_the_end_of_the_approved_period_is_outside_it(
    session: Session, ids: dict[str, int]
) -> None:
    """The period is [reads_from, reads_until): ZG123XY, seen at reads_until, is not in it.  With
    one result asked for, the database must not spend the limit on it."""
    request_id = _grant(session, NOW, NOW + D)  # AB123CD seen at NOW, ZG123XY at NOW + 1 day
    rows = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, limit=1, now=LATER)
    assert [r.plate for r in rows] == ["AB123CD"]  # the start is inside, the end is not
    every = search_plate_reads(session, CAROL, "*123*", case_ref=CASE, now=LATER)
    assert [r.plate for r in every] == ["AB123CD"]
    searches = [e for e in entries(session) if e.action == "plate_read.search"]
    assert [(e.details["results"], e.details["access_requests"]) for e in searches] == [
        (1, [request_id]),
        (1, [request_id]),
    ]


def test_a_grant_not_approved_by_a_second_person_opens_nothing_even_in_the_database(
    session: Session, ids: dict[str, int]
) -> None:
    """A request marked approved by its own maker (or by nobody), written behind the service's
    back, is no grant: the old period is refused and audited as if there were none."""
    for decided_by in ("carol", None):
        session.add(
            AccessRequestRow(
                case_ref=CASE, reason="r", reads_from=NOW - 10 * D, reads_until=NOW + 10 * D,
                requested_by="carol", requested_role="investigator", requested_at=LATER,
                status="approved", decided_by=decided_by, decided_at=LATER,
                expires_at=LATER + 30 * D,
            )
        )  # fmt: skip
        session.commit()
        with pytest.raises(PermissionDenied, match="approved by a second person"):
            search_plate_reads(session, CAROL, "*123*", case_ref=CASE, since=NOW - D, now=LATER)
        assert search_plate_reads(session, CAROL, "*123*", case_ref=CASE, now=LATER) == []
        session.query(AccessRequestRow).delete()
        session.commit()
    assert _denied(session) == [("carol", CASE)] * 2
    last = [e for e in entries(session) if e.action == "plate_read.search"][-1]
    assert last.details["access_requests"] == []
