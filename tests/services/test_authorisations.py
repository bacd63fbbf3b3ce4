from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from citywatch.audit.chain import entries
from citywatch.services.authorisations import (
    confirm_authorisation,
    create_authorisation,
    face_recognition_decision,
    live_authorisations,
    revoke_authorisation,
)
from citywatch.services.common import PermissionDenied, ServiceError
from tests.services.helpers import ADMIN, NOW, add_authorisation, add_camera, audit_actions

DAY = dt.timedelta(days=1)


def test_create_is_audited(session: Session) -> None:
    add_authorisation(session, "W-1", cameras=("cam-1", " cam-1 "), zones=("north",))
    (entry,) = list(entries(session))
    assert entry.action == "authorisation.create" and entry.target == "authorisation:W-1"
    assert entry.details["scope_cameras"] == ["cam-1"]
    assert entry.details["authority"] == "District Court"
    assert [a.reference for a in live_authorisations(session, NOW)] == ["W-1"]


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"reference": " "}, "authorisation reference is required"),
        ({"authority": ""}, "authority is required"),
        ({"ends_at": NOW - 2 * DAY}, "ends_at must be after starts_at"),
        ({"scope_cameras": [], "scope_zones": [" "]}, "names no camera and no zone"),
        ({"starts_at": dt.datetime(2025, 1, 1)}, "timezone-aware"),
    ],
)
def test_create_refuses(session: Session, kw: dict[str, object], says: str) -> None:
    args: dict[str, object] = {
        "reference": "W-9",
        "authority": "Court",
        "purpose": "p",
        "starts_at": NOW - DAY,
        "ends_at": NOW + DAY,
        "scope_cameras": ["cam-1"],
        "scope_zones": [],
    }
    args.update(kw)
    with pytest.raises(ServiceError, match=says):
        create_authorisation(session, ADMIN, **args)  # type: ignore[arg-type]
    assert audit_actions(session) == []


def test_duplicate_reference_refused(session: Session) -> None:
    add_authorisation(session, "W-1")
    with pytest.raises(ServiceError, match="already exists"):
        add_authorisation(session, "W-1")


def test_live_window_revoke_and_urgent(session: Session) -> None:
    add_authorisation(session, "W-past", starts=NOW - 10 * DAY, ends=NOW - DAY)
    add_authorisation(session, "W-future", starts=NOW + DAY, ends=NOW + 2 * DAY)
    add_authorisation(session, "W-now")
    add_authorisation(session, "W-late", urgent=True, starts=NOW - 3 * DAY)
    add_authorisation(session, "W-urgent", urgent=True, starts=NOW - DAY / 2)
    assert [a.reference for a in live_authorisations(session, NOW)] == ["W-now", "W-urgent"]
    with pytest.raises(PermissionDenied, match=r"deadline .* has passed"):
        confirm_authorisation(session, ADMIN, "W-late", now=NOW)
    confirm_authorisation(session, ADMIN, "W-urgent", now=NOW)
    live = [a.reference for a in live_authorisations(session, NOW + 2 * DAY)]
    assert live == ["W-now", "W-urgent"]
    with pytest.raises(ServiceError, match="already confirmed"):
        confirm_authorisation(session, ADMIN, "W-urgent", now=NOW)
    with pytest.raises(ServiceError, match="not urgent"):
        confirm_authorisation(session, ADMIN, "W-now", now=NOW)
    with pytest.raises(ServiceError, match="reason"):
        revoke_authorisation(session, ADMIN, "W-now", reason=" ")
    revoke_authorisation(session, ADMIN, "W-now", reason="case closed")
    assert [a.reference for a in live_authorisations(session, NOW)] == ["W-urgent"]
    assert audit_actions(session)[-2:] == ["authorisation.confirm", "authorisation.revoke"]


def test_face_recognition_decision(session: Session) -> None:
    assert not face_recognition_decision(session, "cam-1", NOW).allowed
    add_camera(session, "cam-1")
    add_camera(session, "cam-2", zone="south")
    add_camera(session, "cam-p", purposes=["plate"])
    add_authorisation(session, "W-1", cameras=("cam-1", "cam-p"))
    assert face_recognition_decision(session, "cam-1", NOW).allowed
    refused = face_recognition_decision(session, "cam-2", NOW)
    assert not refused.allowed and "no authorisation covers it" in refused.reason
    assert "purpose 'face'" in face_recognition_decision(session, "cam-p", NOW).reason
    ended = face_recognition_decision(session, "cam-1", NOW + 60 * DAY)
    assert not ended.allowed and "ended" in ended.reason
