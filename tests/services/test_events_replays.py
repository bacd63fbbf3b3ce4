"""The event recorder's replays and races, exactly (issue 21, mutation testing).

A replayed face match or plate read returns what was stored for it, says nothing and stores
nothing new, even when the world has changed since (the subject removed, the hotlist entry
gone).  Two writers of the same sighting at once (a camera worker restarted on another node
while the first still runs): the first wins, the second returns the first's rows and leaves
no snapshot behind.  The races are made deterministic by letting the second writer run inside
the first one's hotlist lookup, which comes between its duplicate check and its own write.
Two workers counting a camera's first faces of a day at once must not clash either: a count is
one atomic upsert.  A face alert keeps the score evidence of its decision and the reason its
picture was refused.  A snapshot that cannot be moved into place after the commit leaves rows
that say why; a write the database refuses leaves no snapshot.  The repeat window is per
camera, names the newest alert it repeats, and works below one second.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import AuditEntry, entries
from citywatch.decisions.types import FaceTrackCount, HotlistHit, PlateRead, TrackScores
from citywatch.services.events import EventRecorder, event_id
from citywatch.services.hotlists import add_plate, remove_plate
from citywatch.services.watchlists import remove_subject
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AlertSightingRow, FaceCountRow, PlateReadRow
from tests.services.helpers import ADMIN, NOW, add_camera, face_match, plate_read
from tests.services.test_events import Hotlist, published, recorder, setup_subject

__all__ = ["published"]  # the fixture of test_events.py, used here too

LOGGER = "citywatch.services.events"
SIGHTINGS = "citywatch.services.sightings"


def _files(media: MediaStore) -> list[str]:
    """Every file under the media folder but the watchlists' photos, pending ones included."""
    return sorted(
        str(p.relative_to(media.root))
        for p in media.root.rglob("*")
        if p.is_file() and not str(p.relative_to(media.root)).startswith("subject/")
    )


def _pending(media: MediaStore) -> list[Path]:
    return [p for p in media.root.rglob("*") if p.is_file() and p.name.endswith(".pending")]


def _audit(sf: sessionmaker[Session]) -> list[AuditEntry]:
    with sf() as s:
        return list(entries(s))


def _nothing_kept(
    err: BaseException,
    media: MediaStore,
    session_factory: sessionmaker[Session],
    table: type[AlertRow] | type[PlateReadRow],
    published: list[AlertEvent],
) -> None:
    """A write the database refused with its own error: no file, no staged file, no row of
    ``table``, nothing published."""
    assert "IntegrityError" not in type(err).__name__
    assert _files(media) == [] and _pending(media) == []
    with session_factory() as s:
        assert s.scalars(select(table)).all() == []
    assert published == []


class FirstWriter(Hotlist):
    """A hotlist matcher that lets another writer record ``read`` first, on its first call
    only: the moment between the recorder's duplicate check and its own write."""

    def __init__(self, hotlist_id: int, plates: set[str]) -> None:
        super().__init__(hotlist_id, plates)
        self.other: EventRecorder | None = None
        self.other_result: tuple[int, int | None] | None = None

    def __call__(self, read: PlateRead) -> HotlistHit | None:
        if self.other is not None and self.other_result is None:
            self.other_result = self.other.record_plate_read(read)
        return super().__call__(read)


def test_a_replayed_face_match_returns_its_alert_and_says_nothing_when_the_subject_has_gone(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)  # grouping on (900 s)
    first = face_match(subject_id=sid, watchlist_id=wid, track_id=1)
    later = face_match(
        subject_id=sid, watchlist_id=wid, track_id=2, first_seen_s=40.0,
        frame_wall_time=NOW.timestamp() + 30,
    )  # fmt: skip
    alert_id = rec.record_face_match(first)
    assert alert_id is not None and rec.record_face_match(later) == alert_id
    remove_subject(session, media, ADMIN, "missing", "Jane Roe", reason="found")
    before, files = _audit(session_factory), _files(media)
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.set_level(logging.INFO, logger=SIGHTINGS)
    caplog.clear()  # only what follows counts, whatever logging earlier tests set up
    # the footage replayed: the alert and the sighting counted on it are found by their ids
    assert rec.record_face_match(first) == alert_id
    assert rec.record_face_match(later) == alert_id
    assert caplog.records == []  # no "match dropped" for a match that was stored
    assert _audit(session_factory) == before and _files(media) == files
    assert _pending(media) == []
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.sightings == 2
    assert len(published) == 1


def test_a_replayed_hit_returns_its_alert_and_says_nothing_even_when_the_entry_has_gone(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    matcher = Hotlist(entry.hotlist_id, {"AB123CD"})
    rec = recorder(session_factory, media, published, matcher)  # recorded footage: rechecks
    first = plate_read(track_id=1)
    later = plate_read(track_id=2, first_seen_s=40.0, frame_wall_time=NOW.timestamp() + 30)
    first_read, alert_id = rec.record_plate_read(first)
    later_read, counted_on = rec.record_plate_read(later)
    assert alert_id is not None and counted_on == alert_id
    before, files = _audit(session_factory), _files(media)
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.set_level(logging.INFO, logger=SIGHTINGS)
    caplog.clear()  # only what follows counts, whatever logging earlier tests set up
    # replayed while the entry is still listed: found, not "added since it was stored"
    assert rec.record_plate_read(first) == (first_read, alert_id)
    assert rec.record_plate_read(later) == (later_read, alert_id)
    assert caplog.records == []
    # and after the entry was taken off the hotlist: still the alert each read led to
    remove_plate(session, ADMIN, "stolen", "AB123CD", "found")
    matcher.plates.clear()
    assert rec.record_plate_read(first) == (first_read, alert_id)
    assert rec.record_plate_read(later) == (later_read, alert_id)
    assert caplog.records == []
    assert [e for e in _audit(session_factory) if e.action.startswith("alert.")] == [
        e for e in before if e.action.startswith("alert.")
    ]
    assert _files(media) == files and _pending(media) == []
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.sightings == 2
    assert len(published) == 1


def test_a_read_stored_by_another_writer_first_returns_that_writer_s_read_and_alert(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    racing = FirstWriter(entry.hotlist_id, {"AB123CD"})
    mine = recorder(session_factory, media, published, racing)
    racing.other = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, racing.plates)
    )
    read_id, alert_id = mine.record_plate_read(plate_read())
    assert racing.other_result is not None
    theirs_read, theirs_alert = racing.other_result
    assert theirs_alert is not None
    assert (read_id, alert_id) == (theirs_read, theirs_alert)
    with session_factory() as s:
        reads = s.scalars(select(PlateReadRow)).all()
        alerts = s.scalars(select(AlertRow)).all()
        assert [r.id for r in reads] == [read_id] and [a.id for a in alerts] == [alert_id]
        snapshot = reads[0].snapshot_path
        assert snapshot is not None and alerts[0].snapshot_path == snapshot
    # one snapshot, the first writer's; the second's staged copy is gone
    assert _files(media) == [snapshot] and _pending(media) == []
    assert [e.action for e in _audit(session_factory)].count("alert.create") == 1
    assert len(published) == 1


def test_a_read_the_database_refuses_leaves_no_snapshot_behind(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}))
    with pytest.raises(Exception) as err:  # the driver's own error
        rec.record_plate_read(plate_read(votes=2**70))  # no database column holds that
    _nothing_kept(err.value, media, session_factory, PlateReadRow, published)


def test_a_hit_counted_by_another_writer_first_is_returned_and_counted_once(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    other = add_plate(session, ADMIN, "stolen", "ZZ999ZZ", "reported stolen")
    racing = FirstWriter(other.hotlist_id, {"ZZ999ZZ"})
    mine = recorder(session_factory, media, published, racing)  # recorded footage: rechecks
    early = plate_read(track_id=1)
    early_read, none = mine.record_plate_read(early)  # no hit then: stored, no picture
    assert none is None
    add_plate(session, ADMIN, "stolen", "AB123CD", "reported later")
    racing.plates.add("AB123CD")
    later = plate_read(track_id=2, first_seen_s=40.0, frame_wall_time=NOW.timestamp() + 30)
    _, alert_id = mine.record_plate_read(later)  # the entry's first alert, pending
    assert alert_id is not None
    # the footage replayed by two writers at once: the other counts the early read's hit on
    # the pending alert between this writer's duplicate check and its own count
    racing.other = recorder(
        session_factory, media, published, Hotlist(other.hotlist_id, racing.plates)
    )
    assert mine.record_plate_read(early) == (early_read, alert_id)
    assert racing.other_result == (early_read, alert_id)
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.sightings == 2
        counts = s.scalars(select(AlertSightingRow)).all()
        assert [(c.alert_id, c.plate_read_id) for c in counts] == [(alert_id, early_read)]
        read = s.get(PlateReadRow, early_read)
        assert read is not None and read.evidence_hold and read.snapshot_path is not None
    assert [e.action for e in _audit(session_factory)].count("alert.sighting") == 1
    # the other writer's snapshot of the read is in place; this writer's staged copy is gone
    assert read.snapshot_path in _files(media) and _pending(media) == []
    assert len(published) == 1


def test_a_face_alert_keeps_the_evidence_of_its_decision(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    scores = TrackScores(
        "cam-1", 7, sid, "Jane Roe", wid, 0.95, None, None, None,
        (0.951, 0.9), (0.8, 0.7), 64.0, 0.93, True, 1.5, 3.0,
    )  # fmt: skip
    rec = recorder(session_factory, media, published, group_window_s=0, repeat_window_s=0)
    with_scores = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, scores=scores))
    without = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=8))
    with session_factory() as s:
        kept, bare = s.get(AlertRow, with_scores), s.get(AlertRow, without)
        assert kept is not None and bare is not None
        assert kept.face_evidence is not None
        assert json.loads(kept.face_evidence) == scores.evidence()
        assert bare.face_evidence is None


def test_a_face_alert_whose_picture_is_refused_says_why_in_the_row_and_the_audit_entry(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)
    refused = face_match(subject_id=sid, watchlist_id=wid, evidence=np.zeros((4, 4), np.uint8))
    alert_id = rec.record_face_match(refused)
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None
        why = (
            f"snapshot could not be written: snapshot face/{row.event_id}: expected HxWx3 uint8 "
            "BGR, got (4, 4)"
        )
        assert (row.snapshot_path, row.snapshot_error) == (None, why)
    (entry,) = [e for e in _audit(session_factory) if e.action == "alert.create"]
    assert entry.details is not None and entry.details["snapshot_error"] == why
    assert _files(media) == [] and _pending(media) == []
    assert published[0].id == alert_id


def test_a_face_count_is_one_atomic_upsert_so_two_workers_never_clash(
    engine: Engine,
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    """An update that finds no row followed by an insert would let two workers both insert
    the day's first count (one of them failing on the key): the count must be the database's
    own ``INSERT ... ON CONFLICT (camera_id, day) DO UPDATE``, one statement per count."""
    add_camera(session, "cam-1")
    rec = recorder(session_factory, media, published)
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        text = " ".join(statement.split())
        if "face_counts" in text and not text.upper().startswith("SELECT"):
            writes.append(text)

    t = NOW.timestamp()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        rec.record_face_count(FaceTrackCount("cam-1", 3, t))  # the day's first: inserted
        rec.record_face_count(FaceTrackCount("cam-1", 4, t + 60))  # the same day: added
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(writes) == 2
    for text in writes:
        assert text.startswith("INSERT INTO face_counts ")
        assert "ON CONFLICT (camera_id, day) DO UPDATE SET tracks = " in text
    with session_factory() as s:
        assert [(r.camera_id, r.day, r.tracks) for r in s.scalars(select(FaceCountRow))] == [
            ("cam-1", NOW.date(), 7)
        ]


def test_a_snapshot_that_cannot_be_moved_into_place_leaves_rows_that_say_why(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    rec = recorder(
        session_factory, media, published, Hotlist(entry.hotlist_id, {"AB123CD"}),
        keep_read_snapshots=True,
    )  # fmt: skip
    other_id, _ = rec.record_plate_read(plate_read(track_id=1, text="XY999ZZ", first_seen_s=1.0))
    eid = event_id("plate", "cam-1", 3, 2.0)
    blocked = media.root / "plate" / eid[:2] / f"{eid}.jpg"
    blocked.mkdir(parents=True)  # a folder where the snapshot goes: the rename fails
    read_id, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        read, alert = s.get(PlateReadRow, read_id), s.get(AlertRow, alert_id)
        other = s.get(PlateReadRow, other_id)
        assert read is not None and alert is not None and other is not None
        # the other read's snapshot is untouched
        assert other.snapshot_error is None and other.snapshot_path is not None
        assert media.path(other.snapshot_path).is_file()
        assert (read.snapshot_path, alert.snapshot_path) == (None, None)
        why = read.snapshot_error
        assert why is not None and why.startswith("snapshot could not be written: ")
        assert alert.snapshot_error == why and read.evidence_hold
    assert (published[0].id, published[0].snapshot_path) == (alert_id, None)
    assert _pending(media) == [] and blocked.is_dir()
    health = rec.media_health()
    assert (health.written, health.failed) == (1, 1)


def test_a_face_snapshot_that_cannot_be_moved_into_place_leaves_the_alert_saying_why(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)
    eid = event_id("face", "cam-1", 7, 1.5)
    (media.root / "face" / eid[:2] / f"{eid}.jpg").mkdir(parents=True)  # the rename fails
    alert_id = rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid))
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.snapshot_path is None
        assert (row.snapshot_error or "").startswith("snapshot could not be written: ")
    assert (published[0].id, published[0].snapshot_path) == (alert_id, None)


class RefusedCommit(Session):
    """A session whose commit fails (the database went away at that moment)."""

    def commit(self) -> None:
        raise OperationalError("COMMIT", {}, Exception("database went away"))


def test_a_commit_the_database_refuses_leaves_no_snapshot(
    engine: Engine,
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    refusing: sessionmaker[Session] = sessionmaker(
        bind=engine, expire_on_commit=False, class_=RefusedCommit
    )
    rec = recorder(refusing, media, published, keep_read_snapshots=True)  # no hit: a read
    with pytest.raises(OperationalError):
        rec.record_plate_read(plate_read())
    assert _files(media) == [] and _pending(media) == []
    with session_factory() as s:
        assert s.scalars(select(PlateReadRow)).all() == []


def test_a_face_alert_stored_by_another_writer_first_is_returned_and_its_picture_not_kept(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    match = face_match(subject_id=sid, watchlist_id=wid)
    other = recorder(session_factory, media, published)
    theirs: list[int | None] = []

    def picture_after_the_other_writer(m: object) -> np.ndarray:
        # asked once the checks are done, just before the alert is written
        theirs.append(other.record_face_match(match))
        return np.full((60, 80, 3), 90, np.uint8)

    mine = recorder(session_factory, media, published, evidence=picture_after_the_other_writer)
    alert_id = mine.record_face_match(match)
    assert alert_id is not None and theirs == [alert_id]
    with session_factory() as s:
        (row,) = s.scalars(select(AlertRow)).all()
        assert row.id == alert_id and row.snapshot_path is not None
    assert _files(media) == [row.snapshot_path] and _pending(media) == []
    assert [e.action for e in _audit(session_factory)].count("alert.create") == 1
    assert len(published) == 1


def test_a_face_alert_the_database_refuses_leaves_no_snapshot(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    rec = recorder(session_factory, media, published)
    with pytest.raises(Exception) as err:  # the driver's own error
        rec.record_face_match(face_match(subject_id=sid, watchlist_id=wid, track_id=2**70))
    _nothing_kept(err.value, media, session_factory, AlertRow, published)


def test_the_repeat_window_is_per_camera_and_works_below_a_second(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    add_camera(session, "cam-1")
    add_camera(session, "cam-2")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    matcher = Hotlist(entry.hotlist_id, {"AB123CD"})
    rec = recorder(session_factory, media, published, matcher, group_window_s=0)  # 120 s
    t0 = NOW.timestamp()

    def seen(r: EventRecorder, track: int, at: float, camera: str = "cam-1") -> int | None:
        read = plate_read(camera_id=camera, track_id=track, first_seen_s=float(track),
                          frame_wall_time=at)  # fmt: skip
        return r.record_plate_read(read)[1]

    assert seen(rec, 1, t0) is not None
    assert seen(rec, 2, t0 + 30, "cam-2") is not None  # another camera: its own alert
    assert seen(rec, 3, t0 + 60) is None  # the same camera: a repeat
    short = recorder(
        session_factory, media, published, matcher, group_window_s=0, repeat_window_s=0.5
    )
    assert seen(short, 4, t0 + 500) is not None
    assert seen(short, 5, t0 + 500.25) is None  # 0.25 s later: a repeat
    assert seen(short, 6, t0 + 501) is not None  # 0.75 s after the last alert: a new one
    with session_factory() as s:
        alerts = s.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        assert [(a.camera_id, a.track_id) for a in alerts] == [
            ("cam-1", 1),
            ("cam-2", 2),
            ("cam-1", 4),
            ("cam-1", 6),
        ]


def test_a_repeat_names_the_newest_alert_it_repeats(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid, wid = setup_subject(session, media)
    every = recorder(session_factory, media, published, group_window_s=0, repeat_window_s=0)
    rec = recorder(session_factory, media, published, group_window_s=0)  # repeats: 120 s
    t0 = NOW.timestamp()

    def track(r: EventRecorder, n: int, at: float) -> int | None:
        m = face_match(subject_id=sid, watchlist_id=wid, track_id=n, frame_wall_time=at)
        return r.record_face_match(m)

    first = track(every, 1, t0)
    newest = track(every, 2, t0 + 60)  # no repeat window: an alert of its own
    assert first is not None and newest is not None and newest > first
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.set_level(logging.INFO, logger=SIGHTINGS)
    caplog.clear()  # only what follows counts, whatever logging earlier tests set up
    assert track(rec, 3, t0 + 100) is None  # both lie in its window: the newest is named
    assert [r.getMessage() for r in caplog.records] == [
        f"camera cam-1 track 3: repeat of alert {newest}"
    ]


def test_a_recorder_s_settings_as_given(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    plain = EventRecorder(session_factory, media, Hotlist(0, set()), published.append)
    assert (plain.repeat_window_s, plain.group_window_s, plain.run_id) == (120.0, 900.0, "")
    live = recorder(session_factory, media, published, run_id="live-1")
    assert repr(live) == f"EventRecorder(media={media!r}, run_id='live-1')"
    # recorded footage told not to recheck replays: a read stored before its entry was
    # listed stays without an alert
    add_camera(session, "cam-1")
    matcher = Hotlist(0, set())
    kept = recorder(session_factory, media, published, matcher, recheck_replays=False)
    read_id, _ = kept.record_plate_read(plate_read())
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported later")
    matcher.hotlist_id, matcher.plates = entry.hotlist_id, {"AB123CD"}
    assert kept.record_plate_read(plate_read()) == (read_id, None)
    assert published == []


def test_the_evidence_source_is_asked_with_the_sighting_itself(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    published: list[AlertEvent],
) -> None:
    sid, wid = setup_subject(session, media)
    asked: list[object] = []

    def main_stream(s: object) -> np.ndarray:
        asked.append(s)
        return np.full((60, 80, 3), 90, np.uint8)

    rec = recorder(session_factory, media, published, evidence=main_stream)
    match = face_match(subject_id=sid, watchlist_id=wid)
    assert rec.record_face_match(match) is not None
    assert asked == [match]
