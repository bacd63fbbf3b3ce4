"""Evidence clips (issue 17): cut from the packet buffer when the seconds after the alert
arrived, every face blurred but the matched person's (a plate alert: every face), stored
with the alert after its commit and audited; a full folder leaves the reason on the alert."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import verify
from citywatch.config.camera import CameraConfig
from citywatch.config.recording import ClipConfig
from citywatch.services.clips import ClipMaker
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist
from citywatch.sources.pyav import CameraSource
from citywatch.sources.recorder import PacketBuffer
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, AuditLogRow
from tests.recording_fixtures import (
    FACE_A,
    FACE_B,
    FPS,
    FixedFaces,
    detail,
    read_frames,
    write_h264,
)
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
from tests.services.test_evidence_faults import FailingMedia, Hit

CFG = ClipConfig(before_s=1.0, after_s=1.0)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def maker(
    session_factory: sessionmaker[Session], media: MediaStore, detector: FixedFaces, clock: Clock
) -> ClipMaker:
    buffer = PacketBuffer("cam-1", seconds=30, max_bytes=10**8)
    return ClipMaker(
        "cam-1", buffer, session_factory, media, lambda: detector, config=CFG, min_score=0.3,
        run=lambda job: job(), monotonic=clock,
    )  # fmt: skip


def play(clips: ClipMaker, video: Path, until_s: float | None = None) -> CameraSource:
    """Feed the buffer from the file (up to ``until_s`` of media time, or to its end)."""
    source = CameraSource(
        CameraConfig(id="cam-1", url=str(video), analyse_fps=FPS), taps=[clips.buffer]
    )
    for frame in source.frames():
        if until_s is not None and frame.pts_s >= until_s:
            source.stop()
    return source


def test_a_plate_alert_gets_a_clip_with_every_face_blurred_once_its_seconds_arrived(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    media, detector, clock = MediaStore(tmp_path / "media"), FixedFaces(), Clock()
    clips = maker(session_factory, media, detector, clock)
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), lambda e: None,
        clock=lambda: NOW, on_alert=clips.alert_stored,
    )  # fmt: skip
    video = write_h264(tmp_path / "v.mp4", seconds=8.0)
    # the buffer holds up to 3 s when the read (2.0-4.0 s) is stored: the clip waits
    source = CameraSource(
        CameraConfig(id="cam-1", url=str(video), analyse_fps=FPS), taps=[clips.buffer]
    )
    frames = source.frames()
    for frame in frames:
        if frame.pts_s >= 3.0:
            break
    _, alert_id = rec.record_plate_read(plate_read(first_seen_s=2.0, last_seen_s=4.0))
    assert alert_id is not None
    with session_factory() as s:
        assert s.get(AlertRow, alert_id).clip_path is None  # type: ignore[union-attr]
    for frame in frames:
        if frame.pts_s >= 5.1:  # 4.0 s + after_s has arrived
            break
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.clip_path == f"clip/{row.event_id[:2]}/{row.event_id}.mp4"
        assert row.clip_error is None
        entry_ = s.scalars(select(AuditLogRow).where(AuditLogRow.action == "alert.clip")).one()
        assert entry_.target == f"alert:{alert_id}" and verify(s).ok
    source.stop()
    codec, pictures, seconds = read_frames(media.path(row.clip_path))
    assert codec == "h264"
    # from the keyframe at 1.0 s (2.0 - before_s) to 5.0 s (4.0 + after_s): 4 s, 101 pictures
    assert len(pictures) == 4 * FPS + 1
    assert seconds == pytest.approx(4.04, abs=0.05)
    for img in pictures[::10]:
        assert detail(img, FACE_A) < 10 and detail(img, FACE_B) < 10  # both blurred
    assert clips.stats.made == 1 and clips.stats.failed == 0


def test_a_face_alert_clip_leaves_only_the_matched_face_unblurred(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    media, detector, clock = MediaStore(tmp_path / "media"), FixedFaces(), Clock()
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    wl = create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    res = enrol_subject(
        session, media, ADMIN, "missing", "Jane Roe", [("a", photo(1, 1))], fake_embed_faces,
        "reason", "source", now=NOW,
    )  # fmt: skip
    clips = maker(session_factory, media, detector, clock)
    rec = EventRecorder(
        session_factory, media, Hit(0, set()), lambda e: None, clock=lambda: NOW,
        on_alert=clips.alert_stored,
    )  # fmt: skip
    play(clips, write_h264(tmp_path / "v.mp4", seconds=6.0))  # the source ended
    # the matched face, as the decider saw it (a few pixels off)
    box = (FACE_A[0] + 3, FACE_A[1] - 2, FACE_A[2] + 2, FACE_A[3] + 1)
    alert_id = rec.record_face_match(
        face_match(
            subject_id=res.subject_id, watchlist_id=wl.id, first_seen_s=2.0, last_seen_s=3.0,
            box=box,
        )
    )  # fmt: skip
    assert alert_id is not None
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.clip_path is not None
    _, pictures, _ = read_frames(media.path(row.clip_path))
    assert len(pictures) == 3 * FPS + 1  # 1.0 .. 4.0 s
    for img in pictures[::10]:
        assert detail(img, FACE_A) > 60  # the matched person: as in the snapshot
        assert detail(img, FACE_B) < 10  # anyone else: blurred


def test_a_face_alert_whose_face_is_not_found_in_the_clip_blurs_everyone(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from citywatch.sources.recorder import cut, decode
    from citywatch.vision.clips import ClipPicture, Keep, redact_clip

    media, detector, clock = MediaStore(tmp_path / "media"), FixedFaces(), Clock()
    clips = maker(session_factory, media, detector, clock)
    play(clips, write_h264(tmp_path / "v.mp4", seconds=3.0))
    pictures = [ClipPicture(d.media_s, d.image) for d in decode(cut(clips.buffer.snapshot(), 0, 2))]
    clip = redact_clip(
        pictures, detector, min_score=0.3, keep=Keep((150.0, 150.0, 190.0, 200.0), 0.0, 2.0)
    )
    assert clip.kept == 0 and clip.faces_blurred == 2 * len(pictures)


class _Counted:
    """A decoded picture that counts how many of its kind are alive."""

    alive = 0
    most = 0

    def __init__(self, media_s: float, image: np.ndarray) -> None:
        self.media_s, self.image = media_s, image
        _Counted.alive += 1
        _Counted.most = max(_Counted.most, _Counted.alive)

    def __del__(self) -> None:
        _Counted.alive -= 1


def test_a_clip_decoded_twice_holds_one_picture_at_a_time_and_blurs_as_from_a_list(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from citywatch.sources.recorder import cut, decode
    from citywatch.vision.clips import Keep, redact_clip

    media, detector, clock = MediaStore(tmp_path / "media"), FixedFaces(), Clock()
    clips = maker(session_factory, media, detector, clock)
    play(clips, write_h264(tmp_path / "v.mp4", seconds=3.0))
    packets = cut(clips.buffer.snapshot(), 0, 2)
    keep = Keep(FACE_A, 0.0, 2.0)
    listed = redact_clip(
        [_Counted(d.media_s, d.image) for d in decode(packets)],
        detector, min_score=0.3, keep=keep,
    )  # fmt: skip
    assert _Counted.most == listed.pictures > 10  # a list holds the whole clip
    _Counted.most = _Counted.alive = 0
    passes: list[int] = []

    def again() -> Iterator[_Counted]:
        passes.append(1)
        return (_Counted(d.media_s, d.image) for d in decode(packets))

    streamed = redact_clip(again, detector, min_score=0.3, keep=keep)
    assert len(passes) == 2 and _Counted.most <= 2  # the one in hand and the next
    assert (streamed.pictures, streamed.kept, streamed.faces_blurred) == (
        listed.pictures, listed.kept, listed.faces_blurred,
    )  # fmt: skip
    assert streamed.kept > 0 and streamed.faces_blurred > 0
    (tmp_path / "streamed.mp4").write_bytes(streamed.data)
    _, pictures, _ = read_frames(tmp_path / "streamed.mp4")
    assert len(pictures) == listed.pictures
    assert detail(pictures[5], FACE_A) > 60 and detail(pictures[5], FACE_B) < 10

    shrinking = iter([list(decode(packets)), list(decode(packets))[:-1]])
    with pytest.raises(ValueError, match="second pass gave"):
        redact_clip(lambda: next(shrinking), detector, min_score=0.3, keep=keep)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_clip_that_cannot_be_written_leaves_its_reason_on_the_alert_and_no_file(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path, code: int
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    ok = MediaStore(tmp_path / "media")
    full = FailingMedia(tmp_path / "media", code)
    full.failing = False
    detector, clock = FixedFaces(), Clock()
    clips = maker(session_factory, full, detector, clock)
    rec = EventRecorder(
        session_factory, ok, Hit(entry.hotlist_id, {"AB123CD"}), lambda e: None,
        clock=lambda: NOW, on_alert=clips.alert_stored,
    )  # fmt: skip
    play(clips, write_h264(tmp_path / "v.mp4", seconds=5.0))
    full.failing = True
    _, alert_id = rec.record_plate_read(plate_read(first_seen_s=2.0, last_seen_s=3.0))
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.clip_path is None
        assert row.clip_error is not None
        assert row.clip_error.startswith("clip could not be made: ")
        assert errno.errorcode[code] in row.clip_error
        assert row.snapshot_path is not None  # the alert and its snapshot are whole
    assert [p for p in (tmp_path / "media").rglob("*") if "clip" in p.parts and p.is_file()] == []
    assert clips.stats.failed == 1


def test_a_clip_waits_no_longer_than_wait_s_for_its_last_seconds(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    media, detector, clock = MediaStore(tmp_path / "media"), FixedFaces(), Clock()
    clips = maker(session_factory, media, detector, clock)
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), lambda e: None,
        clock=lambda: NOW, on_alert=clips.alert_stored,
    )  # fmt: skip
    video = write_h264(tmp_path / "v.mp4", seconds=8.0)
    source = CameraSource(
        CameraConfig(id="cam-1", url=str(video), analyse_fps=FPS), taps=[clips.buffer]
    )
    frames = source.frames()
    for frame in frames:
        if frame.pts_s >= 3.0:
            break
    _, alert_id = rec.record_plate_read(plate_read(first_seen_s=2.0, last_seen_s=6.0))
    clock.t += CFG.wait_s  # the camera stalls: the next packet finds the clip overdue
    next(frames)
    source.stop()
    with session_factory() as s:
        row = s.get(AlertRow, alert_id)
        assert row is not None and row.clip_path is not None
    _, pictures, _ = read_frames(media.path(row.clip_path))
    assert len(pictures) < 2.5 * FPS  # cut short: 1.0 s to about 3.0 s


def test_a_clip_goes_with_its_alert_when_retention_deletes_it_and_not_before(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    import datetime as dt

    from citywatch.config.retention import RetentionConfig
    from citywatch.services.orphans import sweep_orphan_files
    from citywatch.services.retention import RetentionSweeper

    add_camera(session, "cam-1")
    media = MediaStore(tmp_path / "media")
    rows = {}
    for name, days in (("old", 400), ("young", 1)):
        staged = media.stage_clip("clip", f"{name}0000", b"mp4 bytes")
        media.publish(staged)
        row = AlertRow(
            event_id=f"{name}-event", kind="face", camera_id="cam-1", subject_name="Jane Roe",
            score=0.9, track_id=1, first_seen_s=0.0, last_seen_s=1.0,
            seen_at=NOW - dt.timedelta(days=days), status="pending", clip_path=staged.rel,
        )  # fmt: skip
        session.add(row)
        session.commit()
        rows[name] = staged.rel
    stray = media.publish(media.stage_clip("clip", "stray0000", b"no row names me"))
    sweeper = RetentionSweeper(session_factory, media, RetentionConfig(), clock=lambda: NOW)
    report = sweeper.run()
    assert not media.path(rows["old"]).exists()  # deleted with its alert
    assert media.path(rows["young"]).is_file()  # its alert is kept: so is the clip
    assert report.files_deleted == 1
    later = dt.datetime.fromtimestamp(media.path(stray).stat().st_mtime, dt.UTC)
    orphans = sweep_orphan_files(session_factory, media, now=later + dt.timedelta(hours=2))
    assert orphans.deleted == 1 and not media.path(stray).exists()
    assert media.path(rows["young"]).is_file()
