"""CameraSource on small generated files and unreachable network URLs (no server needed)."""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from citywatch.config.camera import CameraConfig
from citywatch.sources import Backoff, CameraSource, SourceError, SourceState
from citywatch.vision.record import Frame
from tests.sources.conftest import make_clip
from tests.sources.test_backoff import FixedDraw

PASSWORD = "hunter2-Zq9"


class TickClock:
    """Each call advances by ``step`` seconds."""

    def __init__(self, start: float = 1_700_000_000.0, step: float = 0.001) -> None:
        self.t, self.step = start, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def camera(url: str | Path, **kwargs: object) -> CameraConfig:
    return CameraConfig(id="gate-1", url=str(url), **kwargs)  # type: ignore[arg-type]


def closed_port() -> int:
    """A local port nobody listens on (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read(source: CameraSource, limit: int = 10_000) -> list[Frame]:
    out: list[Frame] = []
    for frame in source.frames():
        out.append(frame)
        if len(out) >= limit:
            source.stop()
    return out


def test_samples_a_25fps_file_to_5fps(clip: Path) -> None:
    clock = TickClock()
    source = CameraSource(camera(clip, analyse_fps=5), clock=clock)
    assert source.health.state is SourceState.STARTING
    frames = read(source)
    assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert [f.pts_s for f in frames] == pytest.approx([i * 0.2 for i in range(10)])
    first = frames[0]
    assert first.camera_id == "gate-1"
    assert first.image.shape == (120, 160, 3) and first.image.dtype == np.uint8
    assert all(b.wall_time > a.wall_time for a, b in itertools.pairwise(frames))
    assert frames[-1].wall_time <= clock.t
    h = source.health
    assert h.state is SourceState.ENDED
    assert (h.frames_decoded, h.frames_analysed, h.frames_dropped) == (50, 10, 0)
    assert h.last_error == ""
    assert h.reconnects == 0


def test_frames_are_bgr_and_match_their_index(clip: Path) -> None:
    # make_clip paints green = 4*i everywhere and a white bar at column 3*i.
    for frame in read(CameraSource(camera(clip, analyse_fps=5))):
        i = frame.index
        green = float(np.median(frame.image[..., 1]))
        red = float(np.median(frame.image[..., 2]))
        assert abs(green - (4 * i) % 256) < 8, (i, green)
        assert red < 10
        column = frame.image[:, (3 * i) % 160]
        assert column[..., 0].mean() > 150  # the bar is white: blue is high there


def test_analyse_fps_above_stream_rate_passes_every_frame(clip: Path) -> None:
    frames = read(CameraSource(camera(clip, analyse_fps=60)))
    assert [f.index for f in frames] == list(range(50))


def test_keyframes_only_decodes_fewer_frames(clip: Path) -> None:
    source = CameraSource(camera(clip, analyse_fps=60, keyframes_only=True))
    frames = read(source)
    # A keyframe every 10 frames: 5 of 50 decoded, at 0.4 s steps.
    assert len(frames) == 5
    assert [f.pts_s for f in frames] == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6])
    assert source.health.frames_decoded == 5


def test_loop_rewinds_with_pts_still_increasing(clip: Path) -> None:
    source = CameraSource(camera(clip, analyse_fps=5, loop=True))
    frames = read(source, limit=25)  # 2.5 passes over a 2 s file
    assert len(frames) == 25
    pts = [f.pts_s for f in frames]
    assert pts == pytest.approx([i * 0.2 for i in range(25)])
    assert [f.index for f in frames] == [i * 5 for i in range(25)]
    assert source.health.state is SourceState.STOPPED


def test_loop_over_a_file_without_frames_ends_instead_of_spinning(tmp_path: Path) -> None:
    full = make_clip(tmp_path / "clip.mkv")
    headers_only = tmp_path / "headers_only.mkv"
    headers_only.write_bytes(full.read_bytes()[:700])  # opens, but holds no whole frame
    source = CameraSource(camera(headers_only, loop=True))
    got: list[Frame] = []
    t = threading.Thread(target=lambda: got.extend(read(source)))
    t.start()
    t.join(timeout=10)
    source.stop()
    assert not t.is_alive()
    assert got == []
    assert source.health.state is SourceState.ENDED
    assert "no frame decoded" in source.health.last_error


def test_file_without_video_fails(tmp_path: Path) -> None:
    import av

    wav = tmp_path / "audio.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16")
        samples.sample_rate = 8000
        for packet in [*stream.encode(samples), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(SourceError, match=r"gate-1.*audio\.wav.*no video stream"):
        read(CameraSource(camera(wav)))


@pytest.mark.parametrize(
    ("name", "options", "error"),
    [
        ("clip.mp4", {"movflags": "faststart"}, "decode failed"),
        ("clip.mkv", None, "cut short"),
    ],
)
def test_truncated_file_yields_what_decodes_then_ends(
    tmp_path: Path, name: str, options: dict[str, str] | None, error: str
) -> None:
    full = make_clip(tmp_path / name, options=options)
    cut = tmp_path / f"cut_{name}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    source = CameraSource(camera(cut, analyse_fps=5))
    frames = read(source)
    assert 0 < len(frames) < 10
    h = source.health
    assert h.state is SourceState.ENDED
    assert error in h.last_error


def test_missing_file_is_a_permanent_error_naming_the_camera(tmp_path: Path) -> None:
    sleeps: list[float] = []
    source = CameraSource(camera(tmp_path / "nope.mp4"), sleep=sleeps.append)
    with pytest.raises(SourceError) as info:
        read(source)
    msg = str(info.value)
    assert "gate-1" in msg and "nope.mp4" in msg and "No such file" in msg
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert source.health.state is SourceState.FAILED
    assert sleeps == []  # no retry


def test_garbage_file_fails_with_source_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    source = CameraSource(camera(junk))
    with pytest.raises(SourceError, match=r"gate-1.*junk\.mp4.*Invalid data"):
        read(source)
    assert source.health.state is SourceState.FAILED


def test_missing_env_reference_names_the_variable_not_a_value() -> None:
    with pytest.raises(SourceError, match="CW_NOPE_PASSWORD"):
        CameraSource(camera("rtsp://admin:${CW_NOPE_PASSWORD}@h/x"), env={})


def test_network_failure_backs_off_and_never_leaks_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    cfg = camera(f"rtsp://admin:${{CAM_PW}}@127.0.0.1:{port}/live?token=tok-{PASSWORD}")
    sleeps: list[float] = []

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 4:
            source.stop()

    source = CameraSource(
        cfg,
        env={"CAM_PW": PASSWORD},
        sleep=sleep,
        backoff=Backoff(0.5, 30, rng=FixedDraw(1.0)),
        open_timeout_s=2,
        read_timeout_s=2,
    )
    assert read(source) == []
    assert sleeps == pytest.approx([0.5, 1.0, 2.0, 4.0])
    h = source.health
    assert h.state is SourceState.STOPPED
    assert h.reconnects == 4
    assert f"rtsp://***@127.0.0.1:{port}/live?token=***" in h.last_error
    assert "Connection refused" in h.last_error
    for text in (caplog.text, repr(source), str(h), source.display_url):
        assert PASSWORD not in text
        assert "admin" not in text


def test_stop_while_in_backoff_returns_at_once() -> None:
    source = CameraSource(
        camera(f"rtsp://127.0.0.1:{closed_port()}/x"),
        backoff=Backoff(30, 30, rng=FixedDraw(1.0)),  # the next try would be 30 s away
        open_timeout_s=2,
    )
    t = threading.Thread(target=read, args=(source,))
    t.start()
    deadline = time.monotonic() + 10
    while source.health.state is not SourceState.BACKOFF and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.health.state is SourceState.BACKOFF
    source.stop()
    t.join(timeout=20)  # the backoff is 30 s: only stop() can end the wait within the guard
    assert not t.is_alive()
    assert source.health.state is SourceState.STOPPED


def test_stop_before_start_yields_nothing(clip: Path) -> None:
    source = CameraSource(camera(clip))
    source.stop()
    assert read(source) == []
    assert source.health.state is SourceState.STOPPED


def test_consumer_closing_the_iterator_stops_the_source(clip: Path) -> None:
    source = CameraSource(camera(clip, loop=True))
    it = source.frames()
    next(it)
    it.close()  # type: ignore[attr-defined]
    assert source.health.state is SourceState.STOPPED


def test_default_rng_gives_independent_jitter() -> None:
    a = CameraSource(camera("rtsp://h/x"), rng=random.Random(1))
    assert "rtsp://h/x" in repr(a)
    assert a.is_live
    assert not CameraSource(camera("/srv/a.mp4")).is_live


def test_unexpected_error_fails_with_a_redacted_message(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import av

    def broken_open(url: str, **kwargs: object) -> None:
        raise RuntimeError(f"boom while opening {url}")

    monkeypatch.setattr(av, "open", broken_open)
    source = CameraSource(camera(f"rtsp://admin:{PASSWORD}@127.0.0.1:1/x"))
    with pytest.raises(SourceError) as info:
        read(source)
    assert "boom while opening rtsp://***@127.0.0.1:1/x" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert info.value.__context__ is None
    assert source.health.state is SourceState.FAILED
