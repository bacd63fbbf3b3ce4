"""The event recorder, exactly (issue 21, mutation testing): the id formula replays depend on,
the whole ``alert.create`` entry of a face and a plate alert, every refusal's words (an
unregistered camera, a watchlist held under an authorisation that does not cover the camera
or has ended), the edges of the repeat window and of the minimum confidence, and what a failed
sink or clip request leaves (the alert, and one log line)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import AuditEntry, entries
from citywatch.decisions.types import FaceTrackCount
from citywatch.services.common import NotFoundError, PermissionDenied
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder, event_id
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow
from tests.services.helpers import (
    ADMIN,
    NOW,
    add_authorisation,
    add_camera,
    face_match,
    fake_embed_faces,
    photo,
    plate_read,
)
from tests.services.test_events import Hotlist, published, recorder, setup_subject

__all__ = ["published"]  # the fixture of test_events.py, used here too


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _alert_entries(sf: sessionmaker[Session]) -> list[AuditEntry]:
    with sf() as s:
        return [e for e in entries(s) if e.action == "alert.create"]


def test_the_event_id_formula_is_fixed() -> None:
    """Stored ids are compared with ids made later (a replay): the key must never drift."""
    assert event_id("face", "cam-1", 7, 1.5, "run") == _sha("face|cam-1|7|1.500000|run")
    with_content = event_id("plate", "cam-1", 7, 1.5, "run", content="plate:AB1")
    assert with_content == _sha("plate|cam-1|1.500000|run|plate:AB1")
    assert with_content == event_id("plate", "cam-1", 8, 1.5, "run", content="plate:AB1")


def test_a_face_alert_is_stored_and_audited_whole(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, replayable=True)
    alert_id = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None
        assert row.event_id == event_id("face", "cam-1", 7, 1.5, content=f"subject:{sid}")
        assert (row.kind, row.camera_id, row.subject_id, row.watchlist_id) == (
            "face",
            "cam-1",
            sid,
            wid,
        )
        assert (row.subject_name, row.list_name, row.status, row.track_id) == (
            "Jane Roe",
            "missing",
            "pending",
            7,
        )
        assert (row.score, row.threshold) == (pytest.approx(0.95), pytest.approx(0.93))
        assert (row.first_seen_s, row.last_seen_s) == (1.5, 3.0)
        assert row.seen_at.replace(tzinfo=dt.UTC) == NOW
    (entry,) = _alert_entries(session_factory)
    assert (entry.actor, entry.role, entry.target, entry.reason) == (
        "system:recorder",
        "system",
        f"alert:{alert_id}",
        None,
    )
    assert entry.details == {
        "kind": "face",
        "camera_id": "cam-1",
        "subject_id": sid,
        "plate": None,
        "read": None,
        "score": pytest.approx(0.95),
    }


def test_a_plate_alert_is_stored_and_audited_whole(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}), replayable=True
    )
    read_id, alert_id = rec.record_plate_read(plate_read(confidence=0.875, last_seen_s=1.0))
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        alert = s.get(AlertRow, alert_id)
        assert read is not None and alert is not None
        assert read.event_id == event_id("plate", "cam-1", 3, 2.0, content="plate:AB123CD")
        assert alert.event_id == event_id("hotlist", "cam-1", 3, 2.0, content="plate:AB123CD")
        # last seen before first seen (a clock step): no negative span
        assert read.first_seen_at == read.last_seen_at
        assert (read.vehicle_kind, read.vehicle_colour, read.vehicle_score) == (None, None, None)
        assert (read.plate_format, read.votes, read.reads) == ("HR", 4, 5)
        assert (alert.list_name, alert.plate, alert.read, alert.distance) == (
            "stolen",
            "AB123CD",
            "AB123CD",
            0,
        )
        assert (alert.track_id, alert.first_seen_s, alert.last_seen_s) == (3, 2.0, 1.0)
        assert alert.score == pytest.approx(0.875)
    (logged,) = _alert_entries(session_factory)
    assert (logged.target, logged.details) == (
        f"alert:{alert_id}",
        {
            "kind": "plate",
            "camera_id": "cam-1",
            "subject_id": None,
            "plate": "AB123CD",
            "read": "AB123CD",
            "score": pytest.approx(0.875),
        },
    )


def test_refusals_say_why_and_store_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)  # cam-1, covered by W-1
    rec = recorder(session_factory, media, published)
    for record in (
        lambda: rec.record_face_match(face_match(camera_id="cam-9", subject_id=sid)),
        lambda: rec.record_plate_read(plate_read(camera_id="cam-9")),
    ):
        with pytest.raises(NotFoundError) as err:
            record()
        assert str(err.value) == "camera 'cam-9' is not registered; sighting not stored"
    # a watchlist held under W-2, which covers cam-2 only
    add_camera(session, "cam-2", zone="south")
    add_authorisation(session, "W-2", cameras=("cam-2",))
    other = create_watchlist(session, ADMIN, "other", "W-2", now=NOW)
    bob = enrol_subject(
        session, media, ADMIN, "other", "Bob", [("b", photo(1, 2))], fake_embed_faces,
        "reason", "source", now=NOW,
    )  # fmt: skip
    with pytest.raises(PermissionDenied) as denied:
        rec.record_face_match(face_match(subject_id=bob.subject_id, watchlist_id=other.id))
    assert str(denied.value) == (
        "camera 'cam-1': watchlist 'other' is held under authorisation 'W-2', which does not "
        "cover this camera; sighting not stored"
    )
    # once W-1 has ended, its own watchlist is refused by name, even with W-3 covering cam-1
    add_authorisation(session, "W-3", cameras=("cam-1",), ends=NOW + 90 * dt.timedelta(days=1))
    late = recorder(session_factory, media, published, clock=lambda: NOW + 60 * dt.timedelta(1))
    with pytest.raises(PermissionDenied) as ended:
        late.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    assert str(ended.value).startswith("watchlist 'missing': authorisation 'W-1' ")
    assert str(ended.value).endswith("; sighting not stored")
    with session_factory() as s:
        assert s.scalars(select(AlertRow)).all() == []
    assert published == []


def test_a_watchlist_covering_the_camera_s_zone_is_enough(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-2", zone="south")
    add_authorisation(session, "W-Z", cameras=(), zones=("south",))
    wl = create_watchlist(session, ADMIN, "zone-list", "W-Z", now=NOW)
    bob = enrol_subject(
        session, media, ADMIN, "zone-list", "Bob", [("b", photo(1, 2))], fake_embed_faces,
        "reason", "source", now=NOW,
    )  # fmt: skip
    rec = recorder(session_factory, media, published)
    match = face_match(camera_id="cam-2", subject_id=bob.subject_id, watchlist_id=wl.id)
    assert rec.record_face_match(match) is not None


def test_the_repeat_window_ends_at_its_length_and_looks_back_only(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, repeat_window_s=120, group_window_s=0)
    t0 = NOW.timestamp()

    def track(n: int, at: float) -> int | None:
        m = face_match(subject_id=sid, watchlist_id=wid, track_id=n, frame_wall_time=at)
        return rec.record_face_match(m)

    first = track(1, t0 + 60)
    assert first is not None
    assert track(2, t0) is not None  # earlier than the alert: not a repeat of it
    assert track(3, t0 + 180) is None  # exactly 120 s after the first: still a repeat
    assert track(4, t0 + 300.5) is not None  # 120.5 s after the last alert (t0 + 180 was none)
    every = recorder(session_factory, media, published, repeat_window_s=0, group_window_s=0)
    m = face_match(subject_id=sid, watchlist_id=wid, track_id=5, frame_wall_time=t0 + 301)
    assert every.record_face_match(m) is not None


def test_a_hit_alerts_from_the_minimum_confidence_up(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory,
        media,
        published,
        Hotlist(entry.hotlist_id, {"AB123CD"}),
        plate_min_confidence=0.8,
        group_window_s=0,
        repeat_window_s=0,
    )
    caplog.set_level(logging.INFO, logger="citywatch.services.events")
    low_read, low_alert = rec.record_plate_read(plate_read(track_id=1, confidence=0.79))
    assert low_alert is None
    assert [r.getMessage() for r in caplog.records] == [
        "camera cam-1 track 1: read AB123CD hits hotlist entry AB123CD at confidence 0.79, "
        "under the minimum 0.80: stored, no alert"
    ]
    _, at_min = rec.record_plate_read(plate_read(track_id=2, confidence=0.8, first_seen_s=9.0))
    assert at_min is not None
    with session_factory() as s:
        low = s.get(PlateReadRow, low_read)
        assert low is not None and not low.evidence_hold and low.snapshot_path is None
    assert (rec.plate_min_confidence, rec.repeat_window_s, rec.group_window_s) == (0.8, 0, 0)
    assert (rec.run_id, rec.replayable) == ("", False)


def test_a_failed_sink_or_clip_request_leaves_the_alert_and_one_log_line(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    told: list[tuple[int, object]] = []

    def broken(_: AlertEvent) -> None:
        raise RuntimeError("sink down")

    def clip(row: AlertRow, box: object) -> None:
        told.append((row.id, box))
        raise RuntimeError("recorder gone")

    rec = EventRecorder(
        session_factory, media, Hotlist(entry.hotlist_id, {"AB123CD"}), broken,
        clock=lambda: NOW, on_alert=clip,
    )  # fmt: skip
    caplog.set_level(logging.ERROR, logger="citywatch.services.events")
    _, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is not None and told == [(alert_id, None)]
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        (f"alert {alert_id} (camera cam-1): publishing failed", True),
        (f"alert {alert_id}: clip request failed", True),
    ]


def test_an_evidence_source_gives_the_stored_picture_and_nothing_else(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    asked: list[object] = []

    def main_stream(s: object) -> object:
        asked.append(s)
        return photo(1, 9)[:60, :64]

    rec = recorder(
        session_factory, media, published, evidence=main_stream, group_window_s=0,
        repeat_window_s=0,
    )  # fmt: skip
    alert_id = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.snapshot_path is not None
    assert media.load(row.snapshot_path).shape == (60, 64, 3) and len(asked) == 1
    none = face_match(
        subject_id=sid, watchlist_id=wid, track_id=8, first_seen_s=50.0, evidence=None
    )
    second = rec.record_face_match(none)
    assert len(asked) == 1  # no picture of its own: the source is not asked
    with session_factory() as s:
        bare = s.get(AlertRow, second)
        assert bare is not None and bare.snapshot_path is None


def test_no_tracks_count_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    rec = recorder(session_factory, media, published)
    rec.record_face_count(FaceTrackCount("cam-1", 0, NOW.timestamp()))
    rec.record_face_count(FaceTrackCount("cam-1", -2, NOW.timestamp()))
    with session_factory() as s:
        assert s.scalars(select(FaceCountRow)).all() == []


def test_one_track_counts(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    recorder(session_factory, media, published).record_face_count(
        FaceTrackCount("cam-1", 1, NOW.timestamp())
    )
    with session_factory() as s:
        assert [(r.camera_id, r.tracks) for r in s.scalars(select(FaceCountRow))] == [("cam-1", 1)]


def test_a_later_track_is_counted_on_the_pending_alert(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)  # grouping on (900 s)
    first = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=1))
    second = face_match(
        subject_id=sid, watchlist_id=wid, track_id=2, first_seen_s=40.0,
        frame_wall_time=NOW.timestamp() + 30,
    )  # fmt: skip
    assert rec.record_face_match(second) == first
    # a concurrent writer counted the same track first: its count wins, no second one
    import citywatch.services.events as events

    real, calls = events.counted, {"n": 0}

    def racy(s: Session, eid: str) -> int | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real(s, eid)

    monkeypatch.setattr(events, "counted", racy)
    assert rec.record_face_match(second) == first
    with session_factory() as s:
        alert = s.get(AlertRow, first)
        assert alert is not None and alert.sightings == 2
        actions = [e.action for e in entries(s)]
    assert actions.count("alert.sighting") == 1 and len(published) == 1


def _rerun_world(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    **kw: object,
) -> tuple[EventRecorder, Hotlist, int]:
    add_camera(session, "cam-1")
    other = add_plate(session, ADMIN, "stolen", "ZZ999ZZ", "reported stolen")
    matcher = Hotlist(other.hotlist_id, {"ZZ999ZZ"})
    rec = recorder(session_factory, media, published, matcher, **kw)  # recorded footage
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is None
    add_plate(session, ADMIN, "stolen", "AB123CD", "reported later")
    matcher.plates.add("AB123CD")
    return rec, matcher, read_id


def test_a_rerun_checks_the_stored_read_at_its_stored_confidence_and_says_so(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec, _, read_id = _rerun_world(
        session, session_factory, media, published, plate_min_confidence=0.8,
        keep_read_snapshots=True,
    )  # fmt: skip
    with session_factory() as s:
        kept = s.get(PlateReadRow, read_id)
        assert kept is not None and kept.snapshot_path is not None
        first_snapshot = kept.snapshot_path
    caplog.set_level(logging.INFO, logger="citywatch.services.events")
    # the re-run read another text, less sure of it: the stored read (0.9) is what is checked
    _, alert_id = rec.record_plate_read(plate_read(text="AB128CD", confidence=0.5))
    assert alert_id is not None
    assert [r.getMessage() for r in caplog.records] == [
        f"camera cam-1: read {read_id} matches hotlist entry AB123CD added since it was stored"
    ]
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and (alert.plate, alert.read) == ("AB123CD", "AB123CD")
        assert alert.snapshot_path == first_snapshot  # the kept picture, not a new one
        before = len(list(entries(s)))
    # replayed again: the alert is found; nothing is counted, audited or published anew
    assert rec.record_plate_read(plate_read()) == (read_id, alert_id)
    with session_factory() as s:
        again = s.get(AlertRow, alert_id)
        assert again is not None and again.sightings == 1
        assert len(list(entries(s))) == before
    assert len(published) == 1


def test_a_rerun_whose_picture_is_refused_stores_the_alert_and_says_why(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    rec, _, read_id = _rerun_world(
        session, session_factory, media, published, evidence=lambda _s: np.zeros((4, 4), np.uint8)
    )
    _, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is not None
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        assert read is not None and read.snapshot_path is None
        assert read.snapshot_error is not None
        assert read.snapshot_error.startswith("snapshot could not be written: ")
        assert read.snapshot_error.endswith("expected HxWx3 uint8 BGR, got (4, 4)")


def test_a_later_hit_of_the_same_plate_is_counted_and_keeps_its_picture(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    other = add_plate(session, ADMIN, "stolen", "ZZ999ZZ", "reported stolen")
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD", "ZZ999ZZ"})
    )
    assert other.hotlist_id == entry.hotlist_id
    t0 = NOW.timestamp()
    _, first = rec.record_plate_read(plate_read(track_id=1))
    later = plate_read(track_id=2, first_seen_s=40.0, last_seen_s=41.0, frame_wall_time=t0 + 30)
    read_id, counted_on = rec.record_plate_read(later)
    assert counted_on == first
    # another plate on the same camera is its own alert
    _, own = rec.record_plate_read(
        plate_read(track_id=3, text="ZZ999ZZ", first_seen_s=50.0, frame_wall_time=t0 + 40)
    )
    assert own not in (None, first)
    with session_factory() as s:
        alert = s.get(AlertRow, first)
        read = s.get(PlateReadRow, read_id)
        assert alert is not None and alert.sightings == 2
        assert read is not None and read.evidence_hold and read.snapshot_path is not None
        assert media.path(read.snapshot_path).is_file()
        (sighting,) = [e for e in entries(s) if e.action == "alert.sighting"]
    assert (sighting.target, sighting.details) == (
        f"alert:{first}",
        {
            "kind": "plate",
            "camera_id": "cam-1",
            "track_id": 2,
            "sightings": 2,
            "plate_read_id": read_id,
        },
    )
    assert len(published) == 2


def test_a_kept_read_picture_is_moved_into_place(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    rec = recorder(session_factory, media, published, keep_read_snapshots=True)
    read_id, _ = rec.record_plate_read(plate_read())
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        assert read is not None and read.snapshot_path is not None
    assert media.path(read.snapshot_path).is_file()


def test_a_hit_whose_picture_is_refused_tells_the_alert_why_too(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}),
        evidence=lambda _s: np.zeros((4, 4), np.uint8),
    )  # fmt: skip
    read_id, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        read, alert = s.get(PlateReadRow, read_id), s.get(AlertRow, alert_id)
        assert read is not None and alert is not None
        assert read.snapshot_error is not None and alert.snapshot_error == read.snapshot_error
        assert alert.snapshot_path is None


def test_a_plate_alert_carries_the_vehicle_seen_and_the_vehicle_expected(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(
        session, ADMIN, "stolen", "AB123CD", "r", vehicle_kind="truck", vehicle_colour="blue"
    )
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}), run_id="live-7"
    )
    read_id, alert_id = rec.record_plate_read(
        plate_read(vehicle_kind="car", vehicle_colour="red", vehicle_score=0.75)
    )
    with session_factory() as s:
        read, alert = s.get(PlateReadRow, read_id), s.get(AlertRow, alert_id)
        assert read is not None and alert is not None
        assert read.event_id == event_id("plate", "cam-1", 3, 2.0, "live-7")
        assert alert.event_id == event_id("hotlist", "cam-1", 3, 2.0, "live-7")
        assert (read.vehicle_kind, read.vehicle_colour, read.vehicle_score) == ("car", "red", 0.75)
        assert (alert.vehicle_kind, alert.vehicle_colour) == ("car", "red")
        assert (alert.expected_vehicle_kind, alert.expected_vehicle_colour) == ("truck", "blue")
        assert (alert.hotlist_entry_id, alert.list_name) == (entry.id, "stolen")
        box = (alert.box_x0, alert.box_y0, alert.box_x1, alert.box_y1)
        assert box == (read.box_x0, read.box_y0, read.box_x1, read.box_y1) == (100, 100, 200, 140)


def test_a_hit_on_an_entry_no_longer_listed_alerts_without_a_list(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    rec = recorder(session_factory, media, published, Hotlist(999, {"AB123CD"}))
    _, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None
        assert (alert.hotlist_entry_id, alert.list_name) == (None, None)
        assert (alert.expected_vehicle_kind, alert.expected_vehicle_colour) == (None, None)


def test_a_face_alert_keeps_its_box_and_tells_the_clip_request_where(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid, wid = setup_subject(session, media)
    told: list[object] = []
    rec = recorder(
        session_factory, media, published, run_id="live-3", group_window_s=0,
        on_alert=lambda _row, box: told.append(box),
    )  # fmt: skip
    alert_id = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    assert told == [(10.0, 10.0, 50.0, 60.0)]
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None
        assert row.event_id == event_id("face", "cam-1", 7, 1.5, "live-3")
        assert (row.box_x0, row.box_y0, row.box_x1, row.box_y1) == (10, 10, 50, 60)
        assert (row.snapshot_error, row.face_evidence) == (None, None)
    caplog.set_level(logging.INFO, logger="citywatch.services.events")
    again = face_match(subject_id=sid, watchlist_id=wid, track_id=2, first_seen_s=9.0)
    assert rec.record_face_match(again) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"camera cam-1 track 2: repeat of alert {alert_id}"
    ]
    caplog.clear()
    moved = face_match(subject_id=sid, watchlist_id=wid + 5, track_id=9, first_seen_s=20.0)
    assert rec.record_face_match(moved) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"camera cam-1 track 9: subject {sid} is no longer on watchlist {wid + 5}; match dropped"
    ]
