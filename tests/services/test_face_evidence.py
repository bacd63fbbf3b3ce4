"""A face alert keeps the scalar evidence it rests on, for the reviewing operator (issue 14)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.api.schemas import AlertPublic
from citywatch.decisions.types import TrackScores
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow
from tests.services.helpers import face_match
from tests.services.test_events import recorder, setup_subject


def test_the_alert_stores_frames_scores_margin_and_threshold(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    published: list[AlertEvent] = []
    sid, wid = setup_subject(session, media)
    scores = TrackScores(
        "cam-1", 7, sid, "Jane Roe", wid, 0.812, 9, "John Doe", 0.64,
        (0.83, 0.801, 0.7), (0.86, 0.85, 0.6), 87.0, 0.77, True, 1.5, 3.0,
    )  # fmt: skip
    rec = recorder(session_factory, media, published)
    assert rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, scores=scores))
    with session_factory() as s:
        row = s.scalars(select(AlertRow)).one()
        stored = json.loads(row.face_evidence or "")
        shown = AlertPublic.of(row).evidence
    assert stored == shown
    assert stored["frames_used"] == 3 and stored["frame_scores"] == [0.83, 0.801, 0.7]
    assert stored["margin"] == 0.172 and stored["runner_up"] == "John Doe"
    assert stored["threshold"] == 0.77 and stored["face_px"] == 87.0
    assert not any(isinstance(v, list) and len(v) > 20 for v in stored.values())  # no vectors


def test_an_alert_without_scores_shows_no_evidence(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, [])
    assert rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    with session_factory() as s:
        row = s.scalars(select(AlertRow)).one()
        assert row.face_evidence is None and AlertPublic.of(row).evidence is None


def test_photos_of_another_face_model_are_left_out_with_the_reason(
    session: Session, media: MediaStore
) -> None:
    """A camera that runs the fused embedder (256 values) next to photos enrolled with dlib
    (128): those photos are not searched, and the reason says to re-enrol them (it raised and
    stopped the camera before)."""
    from citywatch.services.watchlists import load_gallery
    from tests.services.helpers import NOW

    setup_subject(session, media)
    assert load_gallery(session, "cam-1", NOW, dim=128).size == 1
    other = load_gallery(session, "cam-1", NOW, dim=256)
    assert other.size == 0
    assert "1 enrolled photo(s) were embedded by another face model (1 of 128 values" in (
        other.reason
    )
    assert "re-enrol" in other.reason
