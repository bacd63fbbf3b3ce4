from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session, sessionmaker

from citywatch.decisions.types import FaceTrackCount
from citywatch.services.events import EventRecorder
from citywatch.services.stats import daily_counts
from citywatch.store.media import MediaStore
from tests.services.helpers import NOW, seed_alerts

D1 = dt.date(2025, 6, 1)
D2 = dt.date(2025, 6, 2)


def test_daily_counts(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    seed_alerts(session, session_factory, media)
    rec = EventRecorder(session_factory, media, lambda _r: None, lambda _e: None)
    rec.record_face_count(FaceTrackCount("cam-1", 5, NOW.timestamp()))
    got = {(c.camera_id, c.day): c for c in daily_counts(session)}
    assert set(got) == {("cam-1", D1), ("cam-1", D2), ("cam-2", D1)}
    c1 = got[("cam-1", D1)]
    assert (c1.faces_discarded, c1.face_alerts, c1.faces_analysed, c1.plate_reads) == (5, 1, 6, 0)
    c2 = got[("cam-2", D1)]
    assert (c2.plate_reads, c2.plate_alerts, c2.face_alerts) == (1, 1, 0)
    assert got[("cam-1", D2)].plate_reads == 1
    only_d2 = daily_counts(session, since=D2)
    assert [(c.camera_id, c.day) for c in only_d2] == [("cam-1", D2)]
    assert [c.day for c in daily_counts(session, until=D1)] == [D1, D1]
