from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import verify
from citywatch.decisions.types import FaceTrackCount, HotlistHit, PlateRead
from citywatch.services.common import NotFoundError, PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder, event_id
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist, remove_subject
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    audit_actions,
    face_match,
    fake_embed_faces,
    photo,
    plate_read,
)


class Hotlist:
    """A fake matcher: exact match against a set of plates in hotlist ``hotlist_id``."""

    def __init__(self, hotlist_id: int, plates: set[str]) -> None:
        self.hotlist_id, self.plates, self.calls = hotlist_id, plates, 0

    def __call__(self, read: PlateRead) -> HotlistHit | None:
        self.calls += 1
        if read.text in self.plates:
            return HotlistHit(read=read, hotlist_id=self.hotlist_id, entry=read.text, distance=0)
        return None


@pytest.fixture
def published() -> list[AlertEvent]:
    return []


def recorder(
    sf: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    match: Hotlist | None = None,
    **kw: Any,
) -> EventRecorder:
    kw.setdefault("clock", lambda: NOW)
    return EventRecorder(sf, media, match or Hotlist(0, set()), published.append, **kw)


def setup_subject(session: Session, media: MediaStore) -> tuple[int, int]:
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    wl = create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    res = enrol_subject(
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
    return res.subject_id, wl.id


def test_event_id_is_deterministic() -> None:
    a = event_id("face", "cam-1", 7, 1.5)
    assert a == event_id("face", "cam-1", 7, 1.5000000001) and len(a) == 64
    assert a != event_id("plate", "cam-1", 7, 1.5)
    assert a != event_id("face", "cam-1", 8, 1.5)
    assert a != event_id("face", "cam-1", 7, 1.5, run_id="restart-2")


def test_face_match_becomes_a_pending_alert_once(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)
    match = face_match(subject_id=sid, watchlist_id=wid)
    alert_id = rec.record_face_match(match)
    assert alert_id is not None
    assert rec.record_face_match(match) == alert_id  # replay: a no-op
    assert len(published) == 1
    event = published[0]
    assert (event.id, event.kind, event.status, event.subject_name, event.watchlist) == (
        alert_id,
        "face",
        "pending",
        "Jane Roe",
        "missing",
    )
    assert event.seen_at == NOW and event.snapshot_path is not None
    assert media.load(event.snapshot_path).shape == (60, 80, 3)
    payload = event.to_json()
    assert payload["label"] == "possible match"
    assert "identif" not in str(payload).lower()
    with session_factory() as s:
        rows = list(s.scalars(select(AlertRow)))
        assert len(rows) == 1 and rows[0].threshold == pytest.approx(0.93)
        assert audit_actions(s)[-1] == "alert.create"
        assert verify(s).ok


def test_face_match_for_a_removed_subject_is_dropped(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="found")
    rec = recorder(session_factory, media, published)
    assert rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid)) is None
    assert published == []
    assert not any(media.root.rglob("face/**/*.jpg"))


def test_sightings_of_cameras_without_a_basis_are_refused(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    add_camera(session, "cam-2", zone="elsewhere")  # no authorisation covers it
    add_camera(session, "cam-face", purposes=["face"])
    rec = recorder(session_factory, media, published)
    with pytest.raises(PermissionDenied, match="no authorisation covers it"):
        rec.record_face_match(face_match(camera_id="cam-2", subject_id=sid, watchlist_id=wid))
    with pytest.raises(PermissionDenied, match="purpose 'plate' is not registered"):
        rec.record_plate_read(plate_read(camera_id="cam-face"))
    with pytest.raises(NotFoundError, match="'ghost' is not registered"):
        rec.record_plate_read(plate_read(camera_id="ghost"))
    assert published == []


def test_plate_read_without_hit(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    matcher = Hotlist(1, set())
    rec = recorder(session_factory, media, published, matcher)
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is None
    assert rec.record_plate_read(plate_read()) == (read_id, None)
    # recorded footage: the replay is checked against the hotlist as it is now
    assert matcher.calls == 2
    with session_factory() as s:
        row = s.get(PlateReadRow, read_id)
        assert row is not None and row.plate == "AB123CD" and not row.evidence_hold
        assert row.snapshot_path is None  # no hit: no image kept by default
        assert row.last_seen_at == NOW and row.first_seen_at == NOW - dt.timedelta(seconds=2)
    kept = recorder(session_factory, media, published, matcher, keep_read_snapshots=True)
    rid, _ = kept.record_plate_read(plate_read(track_id=99))
    with session_factory() as s:
        row = s.get(PlateReadRow, rid)
        assert row is not None and row.snapshot_path is not None
    assert published == []


def test_plate_hit_alerts_once_and_holds_evidence(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB-123-CD", "reported stolen")
    rec = recorder(session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}))
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is not None
    assert rec.record_plate_read(plate_read()) == (read_id, alert_id)
    assert len(published) == 1
    event = published[0]
    assert (event.kind, event.plate, event.read, event.distance, event.watchlist) == (
        "plate",
        "AB123CD",
        "AB123CD",
        0,
        "stolen",
    )
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        read = s.get(PlateReadRow, read_id)
        assert alert is not None and read is not None
        assert alert.hotlist_entry_id == entry.id and alert.plate_read_id == read_id
        assert read.evidence_hold and read.snapshot_path == alert.snapshot_path
        assert read.snapshot_path is not None and media.path(read.snapshot_path).is_file()


def test_publish_failure_does_not_lose_the_alert(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")

    def broken(_: AlertEvent) -> None:
        raise RuntimeError("sink down")

    rec = EventRecorder(
        session_factory, media, Hotlist(entry.hotlist_id, {"AB123CD"}), broken, clock=lambda: NOW
    )
    _, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        assert alert_id is not None and s.get(AlertRow, alert_id) is not None


def test_face_counts_accumulate_per_day(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    rec = recorder(session_factory, media, published)
    t = NOW.timestamp()
    rec.record_face_count(FaceTrackCount("cam-1", 3, t))
    rec.record_face_count(FaceTrackCount("cam-1", 4, t + 60))
    rec.record_face_count(FaceTrackCount("cam-1", 0, t))
    rec.record_face_count(FaceTrackCount("cam-1", 2, t + 86400))
    with session_factory() as s:
        rows = s.execute(
            select(FaceCountRow.day, FaceCountRow.tracks).order_by(FaceCountRow.day)
        ).all()
    assert [(d.isoformat(), n) for d, n in rows] == [("2025-06-01", 7), ("2025-06-02", 2)]


def test_a_concurrent_duplicate_returns_the_winner(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)
    match = face_match(subject_id=sid, watchlist_id=wid)
    first = rec.record_face_match(match)
    # Another writer got there between our check and our insert: the unique event id decides.
    real = rec._existing_alert
    calls = {"n": 0}

    def racy(s: Session, eid: str) -> int | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real(s, eid)

    monkeypatch.setattr(rec, "_existing_alert", racy)
    assert rec.record_face_match(match) == first
    assert len(published) == 1
    with session_factory() as s:
        assert len(list(s.scalars(select(AlertRow)))) == 1
        assert verify(s).ok


def test_a_new_track_of_an_alerted_subject_is_not_alerted_again_within_the_window(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    # grouping into the pending alert off: the repeat window alone (tests/services/
    # test_alert_grouping.py has the grouping)
    rec = recorder(session_factory, media, published, repeat_window_s=120, group_window_s=0)
    t0 = NOW.timestamp()
    first = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=1))
    again = rec.record_face_match(
        face_match(subject_id=sid, watchlist_id=wid, track_id=2, frame_wall_time=t0 + 30)
    )
    later = rec.record_face_match(
        face_match(subject_id=sid, watchlist_id=wid, track_id=3, frame_wall_time=t0 + 600)
    )
    assert first is not None and again is None and later not in (None, first)
    assert len(published) == 2


def test_a_repeat_plate_sighting_is_stored_but_not_alerted_twice(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory,
        media,
        published,
        Hotlist(entry.hotlist_id, {"AB123CD"}),
        group_window_s=0,  # the repeat window alone
    )
    t0 = NOW.timestamp()
    r1, a1 = rec.record_plate_read(plate_read(track_id=1))
    r2, a2 = rec.record_plate_read(plate_read(track_id=2, frame_wall_time=t0 + 20))
    assert a1 is not None and a2 is None and r1 != r2
    with session_factory() as s:
        held = s.scalars(select(PlateReadRow.evidence_hold).order_by(PlateReadRow.id)).all()
    assert held == [True, True]  # both reads are kept as evidence of the hit
    assert len(published) == 1


def test_a_rerun_of_recorded_footage_alerts_once_on_a_plate_added_since(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    other = add_plate(session, ADMIN, "stolen", "ZZ999ZZ", "reported stolen")
    matcher = Hotlist(other.hotlist_id, {"ZZ999ZZ"})
    rec = recorder(session_factory, media, published, matcher)  # a file camera: no run id
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is None and published == []
    # the plate is put on the hotlist after the first run; the footage is run again
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported later")
    matcher.plates.add("AB123CD")
    again_read, again_alert = rec.record_plate_read(plate_read())
    assert again_read == read_id and again_alert is not None  # before the fix: None
    # a second re-run raises nothing new: the alert is found by its event id
    assert rec.record_plate_read(plate_read()) == (read_id, again_alert)
    assert len(published) == 1 and published[0].plate == "AB123CD"
    with session_factory() as s:
        alert = s.get(AlertRow, again_alert)
        read = s.get(PlateReadRow, read_id)
        assert alert is not None and read is not None
        assert alert.plate_read_id == read_id and alert.hotlist_entry_id == entry.id
        assert alert.seen_at == read.last_seen_at  # the sighting's time, not the re-run's
        assert read.evidence_hold and read.snapshot_path == alert.snapshot_path
        assert read.snapshot_path is not None and media.path(read.snapshot_path).is_file()
        assert len(s.scalars(select(AlertRow)).all()) == 1
        assert verify(s).ok


def test_a_live_read_is_checked_against_the_hotlist_of_its_time(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    other = add_plate(session, ADMIN, "stolen", "ZZ999ZZ", "reported stolen")
    matcher = Hotlist(other.hotlist_id, {"ZZ999ZZ"})
    rec = recorder(session_factory, media, published, matcher, run_id="1748779200")
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is None
    add_plate(session, ADMIN, "stolen", "AB123CD", "reported later")
    matcher.plates.add("AB123CD")
    # the same read sent again (a batch retried after a store outage): no new check
    assert rec.record_plate_read(plate_read()) == (read_id, None)
    assert matcher.calls == 1 and published == []
    # a new sighting after the entry was added is checked against the hotlist of its time
    later = plate_read(track_id=8, first_seen_s=600.0, last_seen_s=602.0)
    _, hit = rec.record_plate_read(later)
    assert hit is not None and len(published) == 1


def test_a_rerun_that_matches_nothing_new_stays_quiet_and_keeps_no_snapshot(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    matcher = Hotlist(1, set())
    rec = recorder(session_factory, media, published, matcher)
    read_id, _ = rec.record_plate_read(plate_read())
    assert rec.record_plate_read(plate_read()) == (read_id, None)
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        assert read is not None and read.snapshot_path is None and not read.evidence_hold
    assert not any(media.root.rglob("*.jpg")) and published == []
