"""Small builders and fakes for the services tests (no real models)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.decisions.types import FaceMatch, PlateRead
from citywatch.services.authorisations import create_authorisation
from citywatch.services.cameras import register_camera
from citywatch.store.models import AuditLogRow

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
ADMIN = Actor("admin", "admin")


def camera_cfg(cam_id: str = "cam-1", **kw: Any) -> CameraConfig:
    base: dict[str, Any] = {
        "id": cam_id,
        "name": f"Camera {cam_id}",
        "url": f"rtsp://viewer:hunter2@10.0.0.9/{cam_id}",
        "purposes": ["face", "plate"],
        "zone": "north",
        "legal_basis": "Municipal Act 12 s.3",
        "impact_assessment": "DPIA-2025-07",
        "approved_on": "2025-01-15",
        "operator": "City of Example",
        "location": {"lat": 52.1, "lon": 5.1},
    }
    base.update(kw)
    return CameraConfig.model_validate(base)


def add_camera(session: Session, cam_id: str = "cam-1", **kw: Any) -> None:
    register_camera(session, camera_cfg(cam_id, **kw), ADMIN, now=NOW)


def add_authorisation(
    session: Session,
    reference: str = "W-1",
    *,
    cameras: tuple[str, ...] = ("cam-1",),
    zones: tuple[str, ...] = (),
    starts: dt.datetime | None = None,
    ends: dt.datetime | None = None,
    urgent: bool = False,
) -> None:
    create_authorisation(
        session,
        ADMIN,
        reference,
        "District Court",
        "search for a missing person",
        starts or NOW - dt.timedelta(days=1),
        ends or NOW + dt.timedelta(days=30),
        list(cameras),
        list(zones),
        urgent=urgent,
    )


def photo(faces: int = 1, seed: int = 0) -> np.ndarray:
    """A fake photo: the fake embedder reads the face count and seed from its first pixel."""
    img = np.full((64, 64, 3), 120, np.uint8)
    img[0, 0, 0] = faces
    img[0, 0, 1] = seed
    return img


def fake_embed_faces(image: np.ndarray) -> np.ndarray:
    faces, seed = int(image[0, 0, 0]), int(image[0, 0, 1])
    rng = np.random.default_rng(seed)
    return rng.normal(size=(faces, 128)).astype(np.float32)


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.seq)))


def audit_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditLogRow)) or 0)


def face_match(**kw: Any) -> FaceMatch:
    base: dict[str, Any] = {
        "camera_id": "cam-1",
        "track_id": 7,
        "subject_id": 1,
        "subject_name": "Jane Roe",
        "watchlist_id": 1,
        "score": 0.95,
        "threshold": 0.93,
        "first_seen_s": 1.5,
        "last_seen_s": 3.0,
        "frame_wall_time": NOW.timestamp(),
        "decided_wall_time": NOW.timestamp() + 0.2,
        "box": (10.0, 10.0, 50.0, 60.0),
        "evidence": np.full((60, 80, 3), 90, np.uint8),
        "frames_used": 3,
    }
    base.update(kw)
    return FaceMatch(**base)


def plate_read(**kw: Any) -> PlateRead:
    base: dict[str, Any] = {
        "camera_id": "cam-1",
        "track_id": 3,
        "text": "AB123CD",
        "confidence": 0.9,
        "plate_format": "HR",
        "votes": 4,
        "reads": 5,
        "first_seen_s": 2.0,
        "last_seen_s": 4.0,
        "frame_wall_time": NOW.timestamp(),
        "decided_wall_time": NOW.timestamp() + 0.1,
        "box": (100.0, 100.0, 200.0, 140.0),
        "evidence": np.full((60, 80, 3), 40, np.uint8),
    }
    base.update(kw)
    return PlateRead(**base)


def seed_alerts(session: Session, session_factory: Any, media: Any) -> dict[str, int]:
    """cam-1 (zone north) and cam-2 (zone south); one face alert, one plate hit, two reads."""
    from citywatch.decisions.types import HotlistHit
    from citywatch.services.enrolment import enrol_subject
    from citywatch.services.events import EventRecorder
    from citywatch.services.hotlists import add_plate
    from citywatch.services.watchlists import create_watchlist

    add_camera(session, "cam-1")
    add_camera(session, "cam-2", zone="south")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    wl = create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    subject = enrol_subject(
        session,
        media,
        ADMIN,
        "missing",
        "Jane Roe",
        [("a", photo(1, 1))],
        fake_embed_faces,
        "reason",
        "source",
        now=NOW,
    )
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")

    def match(read: PlateRead) -> HotlistHit | None:
        if read.text == "AB123CD":
            return HotlistHit(read=read, hotlist_id=entry.hotlist_id, entry="AB123CD", distance=0)
        return None

    rec = EventRecorder(session_factory, media, match, lambda _e: None, clock=lambda: NOW)
    face = rec.record_face_match(face_match(subject_id=subject.subject_id, watchlist_id=wl.id))
    hit_read, plate = rec.record_plate_read(plate_read(camera_id="cam-2"))
    other_read, _ = rec.record_plate_read(
        plate_read(
            track_id=4, text="ZG123XY", frame_wall_time=(NOW + dt.timedelta(days=1)).timestamp()
        )
    )
    assert face is not None and plate is not None
    return {"face": face, "plate": plate, "hit_read": hit_read, "other_read": other_read}
