"""Issue 13 items 3 and 7: the evidence folder is full or read-only; a transaction that never
commits leaves no snapshot behind."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.audit.chain import verify
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.services import events as events_module
from citywatch.services.enrolment import enrol_subject
from citywatch.services.events import EventRecorder
from citywatch.services.hotlists import add_plate
from citywatch.services.watchlists import create_watchlist
from citywatch.store.media import MediaStore, MediaWriteError, StagedFile
from citywatch.store.models import AlertRow, PlateReadRow
from tests.conftest import require
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


class FailingMedia(MediaStore):
    """A media folder whose writes fail with ``code`` while ``failing`` is set."""

    def __init__(self, root: Path, code: int) -> None:
        super().__init__(root)
        self.code, self.failing = code, True

    def _write(self, path: Path, data: bytes) -> None:
        if self.failing:
            raise OSError(self.code, os.strerror(self.code), str(path))
        super()._write(path, data)


class Hit:
    def __init__(self, hotlist_id: int, plates: set[str]) -> None:
        self.hotlist_id, self.plates = hotlist_id, plates

    def __call__(self, read: PlateRead) -> HotlistHit | None:
        if read.text in self.plates:
            return HotlistHit(read=read, hotlist_id=self.hotlist_id, entry=read.text, distance=0)
        return None


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def snapshot_files(root: Path) -> list[str]:
    """Files the recorder wrote (plate and face snapshots), not the enrolment photos."""
    return [f for f in files_under(root) if f.startswith(("plate/", "face/"))]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "No space left on device (ENOSPC)"),
        (errno.EROFS, "Read-only file system (EROFS)"),
    ],
)
def test_a_full_or_read_only_media_folder_stores_the_alert_without_its_snapshot(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path, code: int, reason: str
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "reported stolen")
    media = FailingMedia(tmp_path / "media", code)
    published: list[AlertEvent] = []
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), published.append,
        clock=lambda: NOW, group_window_s=0,  # the later hit below is an alert of its own
    )  # fmt: skip
    read_id, alert_id = rec.record_plate_read(plate_read())
    assert alert_id is not None  # before the fix: OSError, nothing stored, no alert
    expected = f"snapshot could not be written: {reason}"
    with session_factory() as s:
        alert, read = s.get(AlertRow, alert_id), s.get(PlateReadRow, read_id)
        assert alert is not None and read is not None
        assert (alert.snapshot_path, alert.snapshot_error) == (None, expected)
        assert (read.snapshot_path, read.snapshot_error) == (None, expected)
        assert read.evidence_hold and verify(s).ok
    assert [e.snapshot_error for e in published] == [expected]
    assert published[0].to_json()["snapshot_error"] == expected
    health = rec.media_health()
    assert health.failed == 1 and reason in health.error and str(media.root) in health.error
    assert snapshot_files(media.root) == []  # no temporary file left either

    media.failing = False  # space freed: the next snapshot is written, the error clears
    _, again = rec.record_plate_read(plate_read(track_id=9, frame_wall_time=NOW.timestamp() + 600))
    with session_factory() as s:
        later = s.get(AlertRow, again)
        assert later is not None and later.snapshot_error is None
        assert later.snapshot_path is not None and media.path(later.snapshot_path).is_file()
    health = rec.media_health()
    assert (health.failed, health.written, health.error) == (1, 1, "")


def test_a_face_alert_is_stored_without_its_snapshot_when_the_folder_is_full(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ok = MediaStore(tmp_path / "media")
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    wl = create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    res = enrol_subject(
        session, ok, ADMIN, "missing", "Jane Roe", [("a", photo(1, 1))], fake_embed_faces,
        "reason", "source", now=NOW,
    )  # fmt: skip
    full = FailingMedia(tmp_path / "media", errno.ENOSPC)
    published: list[AlertEvent] = []
    rec = EventRecorder(session_factory, full, Hit(0, set()), published.append, clock=lambda: NOW)
    alert_id = rec.record_face_match(face_match(subject_id=res.subject_id, watchlist_id=wl.id))
    assert alert_id is not None
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.snapshot_path is None
        assert alert.snapshot_error == (
            "snapshot could not be written: No space left on device (ENOSPC)"
        )
    assert len(published) == 1 and published[0].snapshot_error == alert.snapshot_error


def test_a_snapshot_that_cannot_be_moved_into_place_after_the_commit_is_reported(
    session: Session, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    class NoRename(MediaStore):
        def publish(self, staged: StagedFile) -> str:
            raise MediaWriteError(self.root, staged.rel, OSError(errno.EROFS, "Read-only"))

    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    media = NoRename(tmp_path / "media")
    published: list[AlertEvent] = []
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), published.append,
        clock=lambda: NOW,
    )  # fmt: skip
    read_id, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        alert, read = s.get(AlertRow, alert_id), s.get(PlateReadRow, read_id)
        assert alert is not None and read is not None
        assert alert.snapshot_path is None and read.snapshot_path is None
        assert (
            alert.snapshot_error
            == read.snapshot_error
            == ("snapshot could not be written: Read-only (EROFS)")
        )
    assert published[0].snapshot_path is None and published[0].snapshot_error
    assert snapshot_files(media.root) == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A real read-only folder: a read-only tmpfs as root (root ignores permissions), a
    folder without write permission otherwise."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a read-only tmpfs: {done.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_real_read_only_media_folder(
    session: Session, session_factory: sessionmaker[Session], read_only_dir: Path
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    media = MediaStore(read_only_dir)
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), lambda _e: None,
        clock=lambda: NOW,
    )  # fmt: skip
    _, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.snapshot_path is None
        assert alert.snapshot_error is not None
        assert alert.snapshot_error.startswith("snapshot could not be written: ")
        assert "(EROFS)" in alert.snapshot_error or "(EACCES)" in alert.snapshot_error
    assert rec.media_health().error


def test_a_transaction_that_never_commits_leaves_no_snapshot(
    session: Session,
    session_factory: sessionmaker[Session],
    media: MediaStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_camera(session, "cam-1")
    add_authorisation(session, "W-1", cameras=("cam-1",))
    wl = create_watchlist(session, ADMIN, "missing", "W-1", now=NOW)
    res = enrol_subject(
        session, media, ADMIN, "missing", "Jane Roe", [("a", photo(1, 1))], fake_embed_faces,
        "reason", "source", now=NOW,
    )  # fmt: skip
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    rec = EventRecorder(
        session_factory, media, Hit(entry.hotlist_id, {"AB123CD"}), lambda _e: None,
        clock=lambda: NOW, keep_read_snapshots=True,
    )  # fmt: skip
    real_append = events_module.append

    def broken_audit(*args: Any, **kw: Any) -> None:
        raise RuntimeError("audit log unavailable: rolled back")

    monkeypatch.setattr(events_module, "append", broken_audit)
    with pytest.raises(RuntimeError, match="rolled back"):
        rec.record_plate_read(plate_read())  # a hit: read + alert in one transaction
    with pytest.raises(RuntimeError, match="rolled back"):
        rec.record_face_match(face_match(subject_id=res.subject_id, watchlist_id=wl.id))
    with session_factory() as s:
        assert s.scalars(select(PlateReadRow)).all() == []
        assert s.scalars(select(AlertRow)).all() == []
    assert snapshot_files(media.root) == []  # before the fix: plate/xx/<event>.jpg stayed

    monkeypatch.setattr(events_module, "append", real_append)
    read_id, alert_id = rec.record_plate_read(plate_read())  # the retry stores it, with its file
    assert alert_id is not None
    with session_factory() as s:
        read = s.get(PlateReadRow, read_id)
        assert read is not None and read.snapshot_path is not None
    assert snapshot_files(media.root) == [read.snapshot_path]


@pytest.fixture
def full_dir(tmp_path: Path) -> Iterator[Path]:
    """A real, full 64 KB tmpfs (needs root to mount)."""
    folder = tmp_path / "full"
    folder.mkdir()
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    require(done.returncode == 0, f"cannot mount a tmpfs: {done.stderr!r}")
    try:
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_real_full_media_folder(
    session: Session, session_factory: sessionmaker[Session], full_dir: Path
) -> None:
    add_camera(session, "cam-1")
    entry = add_plate(session, ADMIN, "stolen", "AB123CD", "r")
    rec = EventRecorder(
        session_factory, MediaStore(full_dir), Hit(entry.hotlist_id, {"AB123CD"}),
        lambda _e: None, clock=lambda: NOW,
    )  # fmt: skip
    _, alert_id = rec.record_plate_read(plate_read())
    with session_factory() as s:
        alert = s.get(AlertRow, alert_id)
        assert alert is not None and alert.snapshot_path is None
        assert alert.snapshot_error == (
            "snapshot could not be written: No space left on device (ENOSPC)"
        )
    assert files_under(full_dir) == ["filler"]
