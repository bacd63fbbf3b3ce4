"""Builders for the accountability tests: cameras, authorisations, watchlists, matches.

Everything goes through the service layer, as an administrator would; the tests then try to
get around the controls from an entry point.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.decisions.types import FaceMatch
from citywatch.services.authorisations import create_authorisation
from citywatch.services.cameras import register_camera
from citywatch.services.enrolment import enrol_subject
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AuditLogRow, SubjectRow
from citywatch.vision.record import ImageBGR

ADMIN = Actor("test-admin", "admin")
REGISTERED: dict[str, Any] = {
    "legal_basis": "Test Act s.1",
    "impact_assessment": "DPIA-T-1",
    "approved_on": "2025-01-01",
}
#: A run of 8+ numbers with decimals, as a float array prints (repr, str, JSON).
FLOAT_RUN = re.compile(r"(-?\d+\.\d{3,}(e-?\d+)?[,\s\]]+\s*){8,}")


def camera(cam_id: str, purposes: tuple[str, ...] = ("face", "plate"), **kw: Any) -> CameraConfig:
    return CameraConfig.model_validate(
        {"id": cam_id, "url": f"{cam_id}.mp4", "purposes": list(purposes), **REGISTERED, **kw}
    )


def register(session: Session, cam_id: str, *purposes: str, **kw: Any) -> None:
    register_camera(session, camera(cam_id, purposes or ("face", "plate"), **kw), ADMIN)


def authorise(
    session: Session,
    reference: str,
    now: dt.datetime,
    *,
    cameras: tuple[str, ...] = (),
    zones: tuple[str, ...] = (),
    starts: dt.timedelta = dt.timedelta(hours=-1),
    ends: dt.timedelta = dt.timedelta(days=7),
    urgent: bool = False,
) -> None:
    """An authorisation from ``now + starts`` to ``now + ends``."""
    create_authorisation(
        session,
        ADMIN,
        reference,
        "District Court",
        "missing person",
        now + starts,
        now + ends,
        list(cameras),
        list(zones),
        urgent=urgent,
    )


def fake_embed(image: ImageBGR) -> np.ndarray:
    """Enrolment stand-in: one face per photo, its embedding seeded by the photo's pixels."""
    rng = np.random.default_rng(int(image.sum()) % 10_000)
    return rng.normal(size=(1, 128)).astype(np.float32)


def watchlist(
    session: Session, media: MediaStore, name: str, reference: str, *people: str
) -> dict[str, tuple[int, int]]:
    """A watchlist under ``reference`` with ``people`` enrolled: ``{name: (subject, list)}``."""
    create_watchlist(session, ADMIN, name, reference)
    out = {}
    for i, person in enumerate(people):
        photo = np.full((64, 64, 3), 40 + 9 * i, np.uint8)
        r = enrol_subject(
            session, media, ADMIN, name, person, [("p.jpg", photo)], fake_embed, "test", "test"
        )
        out[person] = (r.subject_id, r.watchlist_id)
    return out


def face_match(
    camera_id: str, subject: tuple[int, int], *, track: int = 1, name: str = "x"
) -> FaceMatch:
    """What a face decider reports for a matched track (with an evidence frame)."""
    t = dt.datetime.now(dt.UTC).timestamp()
    return FaceMatch(
        camera_id=camera_id,
        track_id=track,
        subject_id=subject[0],
        subject_name=name,
        watchlist_id=subject[1],
        score=0.97,
        threshold=0.92,
        first_seen_s=1.0,
        last_seen_s=2.0,
        frame_wall_time=t,
        decided_wall_time=t,
        box=(10.0, 10.0, 50.0, 50.0),
        evidence=np.full((120, 160, 3), 77, np.uint8),
    )


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def alerts(session: Session) -> list[AlertRow]:
    return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLogRow.action).order_by(AuditLogRow.seq)))


def subject_ids(session: Session) -> list[int]:
    return list(session.scalars(select(SubjectRow.id).order_by(SubjectRow.id)))


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
