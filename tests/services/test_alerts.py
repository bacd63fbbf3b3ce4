from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, entries, verify
from citywatch.services.alerts import (
    alert_event,
    get_alert,
    list_alerts,
    pending_count,
    review_alert,
)
from citywatch.services.common import NotFoundError, ServiceError
from citywatch.services.watchlists import remove_subject
from citywatch.store.media import MediaStore
from citywatch.store.models import PlateReadRow
from tests.services.helpers import ADMIN, NOW, audit_actions, seed_alerts

REVIEWER = Actor("bob", "reviewer")


@pytest.fixture
def ids(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    return seed_alerts(session, session_factory, media)


def test_list_alerts_filters_and_audits(session: Session, ids: dict[str, int]) -> None:
    rows = list_alerts(session, REVIEWER)
    assert [r.id for r in rows] == [ids["plate"], ids["face"]]  # newest first
    last = list(entries(session))[-1]
    assert (last.action, last.actor, last.role) == ("alert.list", "bob", "reviewer")
    assert last.details["returned"] == [ids["plate"], ids["face"]]
    assert [r.id for r in list_alerts(session, REVIEWER, kind="face")] == [ids["face"]]
    assert [r.id for r in list_alerts(session, REVIEWER, camera_id="cam-2")] == [ids["plate"]]
    assert list_alerts(session, REVIEWER, since=NOW.replace(hour=13)) == []
    assert [r.id for r in list_alerts(session, REVIEWER, before_id=ids["plate"])] == [ids["face"]]
    lists = [e for e in entries(session) if e.action == "alert.list"]
    assert [e.details["kind"] for e in lists] == [None, "face", None, None, None]
    assert lists[2].details["camera_id"] == "cam-2"
    with pytest.raises(ServiceError, match="alert kind 'car'"):
        list_alerts(session, REVIEWER, kind="car")
    with pytest.raises(ServiceError, match="limit"):
        list_alerts(session, REVIEWER, limit=0)


def test_get_alert_is_audited(session: Session, ids: dict[str, int]) -> None:
    row = get_alert(session, REVIEWER, ids["face"])
    assert row.subject_name == "Jane Roe"
    last = list(entries(session))[-1]
    assert (last.action, last.target) == ("alert.view", f"alert:{ids['face']}")
    with pytest.raises(NotFoundError, match="alert 999"):
        get_alert(session, REVIEWER, 999)


def test_review(session: Session, ids: dict[str, int]) -> None:
    assert pending_count(session) == 2
    with pytest.raises(ServiceError, match="a reason is required"):
        review_alert(session, REVIEWER, ids["face"], "confirm", " ")
    with pytest.raises(ServiceError, match="expected 'confirm' or 'reject'"):
        review_alert(session, REVIEWER, ids["face"], "maybe", "r")
    row = review_alert(
        session, REVIEWER, ids["face"], "confirm", "same person, checked ID", now=NOW
    )
    assert (row.status, row.reviewed_by, row.reviewed_at) == ("confirmed", "bob", NOW)
    assert alert_event(row).to_json()["label"] == "match confirmed by a reviewer"
    with pytest.raises(ServiceError, match="already confirmed by bob"):
        review_alert(session, REVIEWER, ids["face"], "reject", "r")
    review_alert(session, REVIEWER, ids["plate"], "reject", "misread: AB128CD")
    read = session.get(PlateReadRow, ids["hit_read"])
    assert read is not None and read.evidence_hold is False  # a rejected hit releases the hold
    assert pending_count(session) == 0
    reviews = [e for e in entries(session) if e.action == "alert.review"]
    assert [(e.details["decision"], e.reason) for e in reviews] == [
        ("confirm", "same person, checked ID"),
        ("reject", "misread: AB128CD"),
    ]
    assert audit_actions(session).count("alert.review") == 2
    assert verify(session).ok


def test_alert_json_never_claims_identification(session: Session, ids: dict[str, int]) -> None:
    for kind in ("face", "plate"):
        row = get_alert(session, REVIEWER, ids[kind])
        text = str(alert_event(row).to_json()).lower()
        assert "identified" not in text and "possible" in text


def test_alerts_outlive_a_removed_subject(
    session: Session, media: MediaStore, ids: dict[str, int]
) -> None:
    remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="found safe")
    session.expire_all()
    row = get_alert(session, REVIEWER, ids["face"])
    assert row.subject_id is None and row.subject_name == "Jane Roe"
