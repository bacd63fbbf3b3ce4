"""Faults of continuous recording: a kill -9 mid-write leaves no partial segment marked
complete (and the restart finishes it); a folder that refuses files stops the recording,
never the camera's frames."""

from __future__ import annotations

import datetime as dt
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.camera import CameraConfig
from citywatch.services import recordings as rec
from citywatch.services import segment_recorder as sr
from citywatch.services.segment_recorder import SegmentRecorder, partial_path
from citywatch.sources import segments
from citywatch.sources.pyav import CameraSource
from citywatch.store.media import MediaStore
from tests.recording.helpers import T0, decoded_pictures, sha256_of
from tests.recording_fixtures import FPS, write_h264
from tests.services.helpers import add_camera

REPO = Path(__file__).resolve().parents[2]
HOUR = dt.timedelta(hours=1)

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from citywatch.services.segment_recorder import SegmentRecorder
    from citywatch.store.db import make_engine, make_session_factory
    from citywatch.store.media import MediaStore
    from tests.recording.helpers import feed, footage

    url, media_dir, tmp = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    sessions = make_session_factory(make_engine(url))
    r = SegmentRecorder("cam-1", sessions, MediaStore(media_dir), segment_s=600.0)
    packets = footage(tmp, seconds=6.0)
    feed(r, packets[:120])  # 4.8 s: four whole groups of pictures and part of the fifth
    r.drain()
    print("ready", flush=True)
    time.sleep(600)  # killed here, mid-segment
    """
)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_factory() as s:
        add_camera(s, "cam-1")
    return session_factory


def test_kill_9_mid_write_leaves_no_complete_partial_and_restart_finishes_it(
    db: sessionmaker[Session], db_url: str, media: MediaStore, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, db_url, str(media.root), str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with db() as s:
        assert rec.segments_in_range(s, "cam-1", T0 - HOUR, T0 + HOUR) == []  # none served
        (partial,) = rec.incomplete_segments(s, "cam-1")
    final = media.path(partial.path)
    assert partial_path(final).is_file() and not final.exists()

    report = sr.recover_partials(db, media, "cam-1")  # what the next start does
    assert (report.salvaged, report.discarded) == (1, 0)
    with db() as s:
        (done,) = rec.segments_in_range(s, "cam-1", T0 - HOUR, T0 + HOUR)
        assert rec.incomplete_segments(s) == []
    assert done.id == partial.id and done.sha256 == sha256_of(final) and done.complete
    pictures = decoded_pictures(final)
    assert 4 * FPS <= pictures <= 120  # the whole groups flushed before the kill
    assert done.ended_at is not None
    assert abs((done.ended_at - done.started_at).total_seconds() - pictures / FPS) < 0.05
    assert not partial_path(final).exists()


class _Camera:
    """Frames from a generated file through a real CameraSource with the recorder as a tap."""

    @staticmethod
    def run(path: Path, recorder: SegmentRecorder) -> int:
        cfg = CameraConfig(id="cam-1", url=str(path), analyse_fps=25)
        source = CameraSource(cfg, taps=[recorder])
        return sum(1 for _ in source.frames())


@pytest.mark.parametrize("how", ["read-only", "not-a-folder"])
def test_a_folder_that_refuses_segments_keeps_the_frames_coming(
    db: sessionmaker[Session],
    media: MediaStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    clip = write_h264(tmp_path / "cam.mp4", seconds=4.0)
    if how == "read-only":

        def refusing(path: Path, info: object) -> object:
            raise OSError(errno.EROFS, "Read-only file system", str(path))

        monkeypatch.setattr(segments, "_open", refusing)
    else:  # a file where the recording folder should be: mkdir fails for real
        media.root.mkdir(parents=True)
        (media.root / "recording").write_bytes(b"")
    recorder = SegmentRecorder("cam-1", db, media, segment_s=1.0)
    frames = _Camera.run(clip, recorder)
    health = recorder.close()
    assert frames == 4 * FPS  # every picture reached the analysis
    assert health.state == sr.FAILED and health.segments == 0
    assert ("EROFS" if how == "read-only" else "media folder") in health.error
    assert sum("recording stopped" in m for m in caplog.messages) == 1
    with db() as s:
        assert rec.incomplete_segments(s) == []
        assert rec.segments_in_range(s, "cam-1", T0 - HOUR * 10**5, T0 + HOUR * 10**5) == []
