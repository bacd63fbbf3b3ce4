"""A database with personal data in every place it can be (subject names, plates, reasons,
snapshots, a camera password), for the public register and oversight report tests.

Two months of activity with known counts (UTC):

========  ===============  ===========  ==========  =========  ========  ========  =======
month     faces analysed   face alerts  hotlist     confirmed  rejected  pending   plate
                                        hits                                       reads
========  ===============  ===========  ==========  =========  ========  ========  =======
2025-05   40 + 2 = 42      2            1           1          2         0         3
2025-06   7 + 1 = 8        1            1           0          1         1         2
========  ===============  ===========  ==========  =========  ========  ========  =======
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from citywatch.services.alerts import review_alert
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow
from tests.services.helpers import ADMIN, NOW, add_authorisation, add_camera, seed_alerts

MAY = dt.datetime(2025, 5, 10, 9, 30, tzinfo=dt.UTC)
HIDDEN_LAT, HIDDEN_LON = 52.37771, 4.89991
HIDDEN_NAME = "Refuge back door camera"
HIDDEN_REASON = "protects the entrance of a refuge"
#: Strings that must never reach the register or the report.
PERSONAL = (
    "Jane Roe",  # the enrolled subject (seed_alerts)
    "John Doe",  # a subject name kept on older alerts
    "AB123CD",  # the hotlisted plate
    "ZG123XY",  # a plate read that hit nothing
    "XY987ZZ",  # another hotlist hit
    "QQ555QQ",  # a plain read
    "hunter2",  # the camera password
    "10.0.0.9",  # the camera address
    "rtsp://",
    "snapshots/",
    ".jpg",
    "looked like",  # review reasons
    "W-1",  # authorisation references are not published (a case may be traced by them)
    HIDDEN_NAME,
    str(HIDDEN_LAT),
    str(HIDDEN_LON),
)
EXPECTED = {
    "2025-05": {
        "faces_analysed": 42,
        "face_alerts": 2,
        "hotlist_hits": 1,
        "alerts": 3,
        "confirmed": 1,
        "rejected": 2,
        "pending": 0,
        "plate_reads": 3,
    },
    "2025-06": {
        "faces_analysed": 8,
        "face_alerts": 1,
        "hotlist_hits": 1,
        "alerts": 2,
        "confirmed": 0,
        "rejected": 1,
        "pending": 1,
        "plate_reads": 2,
    },
}


@dataclass(frozen=True)
class Seeded:
    ids: dict[str, int]


def _alert(n: int, kind: str, camera: str, status: str, at: dt.datetime, **kw: Any) -> AlertRow:
    base: dict[str, Any] = {
        "event_id": f"seed-alert-{n}",
        "kind": kind,
        "camera_id": camera,
        "score": 0.95,
        "track_id": n,
        "first_seen_s": 1.0,
        "last_seen_s": 2.0,
        "seen_at": at,
        "status": status,
        "snapshot_path": f"snapshots/{kind}/seed-{n}.jpg",
        "created_at": at,
    }
    if status != "pending":
        base.update(
            reviewed_by="operator-anna",
            reviewed_at=at + dt.timedelta(minutes=4),
            review_reason="looked like the photo"
            if status == "confirmed"
            else "looked like no one",
        )
    base.update(kw)
    return AlertRow(**base)


def _read(n: int, camera: str, plate: str, at: dt.datetime) -> PlateReadRow:
    return PlateReadRow(
        event_id=f"seed-read-{n}",
        camera_id=camera,
        track_id=n,
        plate=plate,
        confidence=0.9,
        first_seen_s=1.0,
        last_seen_s=2.0,
        first_seen_at=at,
        last_seen_at=at,
        snapshot_path=f"snapshots/plate/seed-{n}.jpg",
    )


def seed_register(
    session: Session, factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    """cam-1 (north), cam-2 (south), cam-hidden (east, location withheld); the counts above."""
    ids = seed_alerts(session, factory, media)  # June: a face alert, a hit, two reads
    add_camera(
        session,
        "cam-hidden",
        name=HIDDEN_NAME,
        zone="east",
        withhold_location=HIDDEN_REASON,
        location={"lat": HIDDEN_LAT, "lon": HIDDEN_LON},
        purposes=["plate"],
    )
    add_authorisation(
        session,
        "W-2",
        cameras=(),
        zones=("north",),
        urgent=True,
        starts=NOW - dt.timedelta(hours=2),
    )
    review_alert(
        session, ADMIN, ids["face"], "reject", "looked like Jane Roe, but was not", now=NOW
    )
    n = itertools.count(100)
    session.add_all(
        [
            _alert(
                next(n), "face", "cam-1", "confirmed", MAY, subject_name="John Doe", list_name="old"
            ),
            _alert(
                next(n), "face", "cam-1", "rejected", MAY, subject_name="John Doe", list_name="old"
            ),
            _alert(
                next(n),
                "plate",
                "cam-hidden",
                "rejected",
                MAY,
                plate="XY987ZZ",
                read="XY987Z2",
                distance=1,
            ),
            _read(next(n), "cam-hidden", "XY987Z2", MAY),
            _read(next(n), "cam-1", "QQ555QQ", MAY),
            _read(next(n), "cam-1", "QQ555QQ", MAY + dt.timedelta(days=3)),
            FaceCountRow(camera_id="cam-1", day=MAY.date(), tracks=30),
            FaceCountRow(camera_id="cam-2", day=MAY.date(), tracks=10),
            FaceCountRow(camera_id="cam-1", day=NOW.date(), tracks=7),
        ]
    )
    session.commit()
    return ids
