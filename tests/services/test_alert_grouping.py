"""Repeats of one subject (or plate) on one camera are counted on the pending alert instead of
raising a new alert every loop of the footage; plate alerts need a minimum confidence; alerts
and reads keep the evidence box (issue 16 item 8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import Actor, verify
from citywatch.services.alerts import review_alert
from citywatch.services.hotlists import add_plate
from citywatch.services.sightings import box_columns
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AlertSightingRow, PlateReadRow
from tests.services.helpers import ADMIN, NOW, add_camera, audit_actions, face_match, plate_read
from tests.services.test_events import Hotlist, recorder, setup_subject

LOOP_S = 130.0  # the looped clip comes round every ~2 minutes: past the 120 s repeat window
OPERATOR = Actor("operator", "operator")


@pytest.fixture
def published() -> list[AlertEvent]:
    return []


def alerts(sf: sessionmaker[Session]) -> list[AlertRow]:
    with sf() as s:
        return list(s.scalars(select(AlertRow).order_by(AlertRow.id)))


def sightings(sf: sessionmaker[Session]) -> list[tuple[int, int, int | None]]:
    with sf() as s:
        rows = s.execute(
            select(
                AlertSightingRow.alert_id, AlertSightingRow.track_id, AlertSightingRow.plate_read_id
            ).order_by(AlertSightingRow.id)
        ).all()
    return [(a, t, r) for a, t, r in rows]


def test_looped_footage_is_one_pending_alert_with_its_sightings_counted(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, repeat_window_s=120, group_window_s=300)
    t0 = NOW.timestamp()
    ids = [
        rec.record_face_match(
            face_match(
                subject_id=sid, watchlist_id=wid, track_id=k, frame_wall_time=t0 + k * LOOP_S
            )
        )
        for k in range(5)
    ]
    assert ids == [ids[0]] * 5  # every loop is counted on the first alert, none is new
    assert len(published) == 1  # the control room is alerted once
    (row,) = alerts(session_factory)
    assert row.status == "pending" and row.sightings == 5
    assert row.seen_at == NOW
    assert row.last_sighting_at == NOW + dt.timedelta(seconds=4 * LOOP_S)
    assert sightings(session_factory) == [(row.id, k, None) for k in range(1, 5)]
    with session_factory() as s:
        assert audit_actions(s).count("alert.sighting") == 4
        assert verify(s).ok


def test_a_replayed_sighting_is_counted_once(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, group_window_s=300)
    t0 = NOW.timestamp()
    first = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=1))
    again = face_match(subject_id=sid, watchlist_id=wid, track_id=2, frame_wall_time=t0 + 60)
    assert rec.record_face_match(again) == first
    assert rec.record_face_match(again) == first  # the batch retried after an outage
    (row,) = alerts(session_factory)
    assert row.sightings == 2 and len(sightings(session_factory)) == 1


def test_the_window_slides_with_each_sighting_and_closes_after_a_gap(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, repeat_window_s=0, group_window_s=300)
    t0 = NOW.timestamp()
    times = [0, 250, 500, 750, 750 + 301]  # each within 300 s of the last; then a longer gap
    ids = [
        rec.record_face_match(
            face_match(subject_id=sid, watchlist_id=wid, track_id=k, frame_wall_time=t0 + t)
        )
        for k, t in enumerate(times)
    ]
    assert ids[:4] == [ids[0]] * 4 and ids[4] not in (None, ids[0])
    assert [a.sightings for a in alerts(session_factory)] == [4, 1]


def test_a_reviewed_alert_gathers_no_more_sightings(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published, repeat_window_s=120, group_window_s=900)
    t0 = NOW.timestamp()
    first = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=1))
    assert first is not None
    with session_factory() as s:
        review_alert(s, OPERATOR, first, "confirm", "same person as the watchlist photo")
    within = face_match(subject_id=sid, watchlist_id=wid, track_id=2, frame_wall_time=t0 + 60)
    assert rec.record_face_match(within) is None  # reviewed, and within the repeat window
    later = face_match(subject_id=sid, watchlist_id=wid, track_id=3, frame_wall_time=t0 + 200)
    new = rec.record_face_match(later)
    assert new not in (None, first)  # seen again after the review: a new pending alert
    assert [(a.status, a.sightings) for a in alerts(session_factory)] == [
        ("confirmed", 1),
        ("pending", 1),
    ]


def test_grouping_is_per_camera_and_per_kind(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    add_camera(session, "cam-9")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}), repeat_window_s=0
    )
    t0 = NOW.timestamp()
    _, a1 = rec.record_plate_read(plate_read(camera_id="cam-1", track_id=1))
    _, a2 = rec.record_plate_read(plate_read(camera_id="cam-9", track_id=2, frame_wall_time=t0 + 5))
    face = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=3))
    assert len({a1, a2, face}) == 3 and None not in (a1, a2, face)


def test_a_hotlisted_plate_seen_again_is_counted_on_its_pending_alert(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}))
    t0 = NOW.timestamp()
    r1, a1 = rec.record_plate_read(plate_read(track_id=1))
    second = plate_read(track_id=2, frame_wall_time=t0 + LOOP_S)
    r2, a2 = rec.record_plate_read(second)
    assert a1 is not None and a2 == a1 and r2 != r1
    assert rec.record_plate_read(second) == (r2, a1)  # replayed: the same, counted once
    (row,) = alerts(session_factory)
    assert row.sightings == 2 and row.last_sighting_at == NOW + dt.timedelta(seconds=LOOP_S)
    assert sightings(session_factory) == [(a1, 2, r2)]
    with session_factory() as s:
        held = s.scalars(select(PlateReadRow.evidence_hold).order_by(PlateReadRow.id)).all()
    assert held == [True, True]  # both reads stay evidence of the hit
    assert len(published) == 1


@pytest.mark.parametrize(("confidence", "alerted"), [(0.55, False), (0.6, True), (0.9, True)])
def test_plate_alerts_need_the_minimum_confidence(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    confidence: float,
    alerted: bool,
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory,
        media,
        published,
        Hotlist(entry.hotlist_id, {"AB123CD"}),
        plate_min_confidence=0.6,
    )
    read_id, alert_id = rec.record_plate_read(plate_read(confidence=confidence))
    assert (alert_id is not None) == alerted
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        assert read is not None and read.plate == "AB123CD"  # stored either way (searchable)
        assert read.evidence_hold == alerted
        assert (read.snapshot_path is not None) == alerted
    assert len(published) == int(alerted)


def test_a_rerun_below_the_minimum_raises_nothing_for_a_plate_added_since(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    matcher = Hotlist(0, set())
    rec = recorder(session_factory, media, published, matcher, plate_min_confidence=0.6)
    low = plate_read(confidence=0.55)
    read_id, _ = rec.record_plate_read(low)
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    matcher.hotlist_id, matcher.plates = entry.hotlist_id, {"AB123CD"}
    assert rec.record_plate_read(low) == (read_id, None)
    assert published == []


def test_alerts_and_reads_keep_the_evidence_box(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}))
    face_id = rec.record_face_match(
        face_match(subject_id=sid, watchlist_id=wid, box=(12.0, 8.0, 40.0, 44.0))
    )
    read_id, plate_id = rec.record_plate_read(plate_read(box=(30.0, 20.0, 70.0, 32.0)))
    unknown_id, _ = rec.record_plate_read(
        plate_read(track_id=8, text="ZZ999ZZ", box=(0.0, 0.0, 0.0, 0.0))
    )
    with session_factory() as s:
        face = s.get(AlertRow, face_id)
        plate = s.get(AlertRow, plate_id)
        read = s.get(PlateReadRow, read_id)
        unknown = s.get(PlateReadRow, unknown_id)
        assert face is not None and plate is not None and read is not None and unknown
        box = ("box_x0", "box_y0", "box_x1", "box_y1")
        assert [getattr(face, k) for k in box] == [12.0, 8.0, 40.0, 44.0]
        assert [getattr(read, k) for k in box] == [30.0, 20.0, 70.0, 32.0]
        assert [getattr(plate, k) for k in box] == [30.0, 20.0, 70.0, 32.0]
        assert [getattr(unknown, k) for k in box] == [None] * 4  # no box is no box


@pytest.mark.parametrize(
    "box",
    [None, (0.0, 0.0, 0.0, 0.0), (5.0, 5.0, 4.0, 9.0), (1.0, 2.0, float("nan"), 4.0), (1.0, 2.0)],
)
def test_a_box_that_is_not_one_is_stored_as_unknown(box: Any) -> None:
    assert box_columns(box) == dict.fromkeys(("box_x0", "box_y0", "box_x1", "box_y1"))
