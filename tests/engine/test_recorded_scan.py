"""Retrospective scan of recordings (issue 17): each segment is analysed under the rules that
held when it was recorded (faces only under an authorisation live then, with its watchlists;
plates under the camera's registration), only by an investigator with a case, audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig
from citywatch.engine.recorded_scan import prepare_scan
from citywatch.services.authorisations import create_authorisation
from citywatch.services.common import NotFoundError, PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.services.helpers import ADMIN, add_camera, fake_embed_faces, photo
from tests.services.recorded_segments import record
from tests.store.db_fixtures import engine, session, session_factory

__all__ = ["engine", "session", "session_factory"]

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
INVESTIGATOR = Actor("ivy", "investigator")


@pytest.fixture
def recorded(session: Session, media: MediaStore) -> None:
    add_camera(session, "cam-1")
    record(session, media, "cam-1", T0, 3)  # segments at T0, T0+4 s, T0+8 s
    create_authorisation(
        session, ADMIN, "W-1", "District Court", "missing person",
        T0 + dt.timedelta(seconds=6), T0 + dt.timedelta(days=1), ["cam-1"], [],
    )  # fmt: skip
    create_watchlist(session, ADMIN, "missing", "W-1", now=T0 + dt.timedelta(seconds=7))
    enrol_subject(
        session, media, ADMIN, "missing", "Jane Roe", [("a", photo(1, 1))], fake_embed_faces,
        "reason", "source", now=T0 + dt.timedelta(seconds=7),
    )  # fmt: skip


def prepare(session: Session, media: MediaStore, actor: Actor = INVESTIGATOR, **kw: object):
    args: dict[str, object] = {
        "camera_id": "cam-1",
        "start": T0,
        "end": T0 + dt.timedelta(minutes=1),
        "case_ref": "CASE-17",
        "analyse_fps": 5.0,
        "dim": lambda: 128,
    }
    args.update(kw)
    return prepare_scan(session, actor, media, CitywatchConfig(), **args)  # type: ignore[arg-type]


def test_faces_only_in_segments_recorded_while_an_authorisation_was_live(
    session: Session, media: MediaStore, recorded: None
) -> None:
    scan = prepare(session, media)
    assert [(p.faces, p.plates) for p in scan.plans] == [(False, True), (False, True), (True, True)]
    assert scan.plans[2].watchlists == ("missing",)
    assert scan.plans[2].gallery is not None and len(scan.plans[2].gallery) == 1
    assert "faces:" in scan.plans[0].reasons[1] and "authoris" in scan.plans[0].reasons[1]
    assert scan.camera.id == "cam-1" and scan.camera.analyse_fps == 5.0
    entry = session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
    assert entry is not None
    assert (entry.action, entry.reason, entry.actor) == ("scan.start", "CASE-17", "ivy")
    details = entry.details if isinstance(entry.details, dict) else json.loads(entry.details)
    assert [s["faces"] for s in details["segments"]] == [False, False, True]
    assert details["camera_id"] == "cam-1" and details["recorded"] is True


def test_the_embedder_is_not_asked_for_when_no_segment_may_see_faces(
    session: Session, media: MediaStore, recorded: None
) -> None:
    def no_embedder() -> int:
        raise AssertionError("the face embedder was loaded")

    scan = prepare(session, media, end=T0 + dt.timedelta(seconds=6), dim=no_embedder)
    assert len(scan.plans) == 2 and not scan.needs_faces and scan.needs_plates


def test_only_an_investigator_may_scan_recordings(
    session: Session, media: MediaStore, recorded: None
) -> None:
    with pytest.raises(PermissionDenied, match="may not scan"):
        prepare(session, media, Actor("ada", "admin"))
    entry = session.scalars(select(AuditLogRow).order_by(AuditLogRow.seq.desc())).first()
    assert entry is not None and entry.action == "recording.refused"


def test_a_range_without_recording_is_named(
    session: Session, media: MediaStore, recorded: None
) -> None:
    with pytest.raises(NotFoundError, match="no recording"):
        prepare(session, media, start=T0 + dt.timedelta(hours=2), end=T0 + dt.timedelta(hours=3))


def test_a_revoked_authorisation_covers_no_recording_made_under_it(
    session: Session, media: MediaStore, recorded: None
) -> None:
    """Revocation holds back in time: footage recorded while it was live is not scanned for
    faces once it is revoked (the watchlists' rule as live: a revoked authorisation is never
    live)."""
    from citywatch.services.authorisations import revoke_authorisation

    revoke_authorisation(session, ADMIN, "W-1", reason="found unlawful")
    scan = prepare(session, media)
    assert [p.faces for p in scan.plans] == [False, False, False]
    assert all(p.plates for p in scan.plans)
