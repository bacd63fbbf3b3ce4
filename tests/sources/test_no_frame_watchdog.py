"""The no-frame watchdog of live streams on a scripted demuxer and a fake clock: concealed
garbage (frames the decoder flags corrupt) is no decodable frame, and the time the consumer
holds the generator does not count.  (The real-server version is in test_rtsp.py.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from citywatch.config.camera import CameraConfig
from citywatch.sources import Backoff, CameraSource, SourceState


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@dataclass
class _Frame:
    time: float
    is_corrupt: bool

    def to_ndarray(self, format: str) -> np.ndarray:
        return np.zeros((4, 4, 3), np.uint8)


@dataclass
class _Packet:
    frame: _Frame
    pts: None = None
    time_base: None = None
    duration: None = None

    def decode(self) -> list[_Frame]:
        return [self.frame]


@dataclass
class _Codec:
    name: str = "h264"
    width: int = 4
    height: int = 4
    skip_frame: str = "DEFAULT"


@dataclass
class _Stream:
    codec_context: _Codec = field(default_factory=_Codec)
    average_rate: int = 25


class _Streams:
    def __init__(self) -> None:
        self.video = [_Stream()]


class _Container:
    """Packets at 25 fps of the fake clock: ``script`` is a string, '.' a clean frame and
    'x' one the decoder flagged corrupt."""

    duration = None

    def __init__(self, script: str, clock: Clock) -> None:
        self.streams = _Streams()
        self._script = script
        self._clock = clock

    def demux(self, stream: Any) -> Iterator[_Packet]:
        for i, c in enumerate(self._script):
            self._clock.t += 0.04
            yield _Packet(_Frame(i * 0.04, c == "x"))

    def close(self) -> None:
        pass


def _run(
    monkeypatch: pytest.MonkeyPatch, script: str, *, hold_s: float = 0.0
) -> tuple[CameraSource, list[SourceState]]:
    """One pass over ``script`` (until the first backoff); the consumer holds each frame
    ``hold_s`` seconds of the fake clock; returns the source and the state at each frame."""
    clock = Clock()
    monkeypatch.setattr("citywatch.sources.pyav.av.open", lambda *a, **k: _Container(script, clock))
    cam = CameraConfig(id="gate-1", url="rtsp://cam.local/1", analyse_fps=25, no_frame_timeout_s=2)  # type: ignore[arg-type]
    sources: list[CameraSource] = []
    source = CameraSource(
        cam,
        clock=lambda: 1000.0,  # wall time: still, so no frame is dropped as late
        monotonic=clock,
        backoff=Backoff(0.1, 0.1, rng=random.Random(1)),
        sleep=lambda _delay: sources[0].stop(),
    )
    sources.append(source)
    states = []
    for _ in source.frames():
        states.append(source.health.state)
        clock.t += hold_s
    return source, states


def test_concealed_garbage_is_no_decodable_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 s clean, then 8 s of frames the decoder made out of garbage.
    source, states = _run(monkeypatch, "." * 25 + "x" * 200)
    h = source.health
    assert h.reconnects == 1, h
    assert h.last_error.startswith("no decodable frame from rtsp://cam.local/1 for 2.0")
    assert "(50 corrupt frame(s) only)" in h.last_error
    assert set(states[:25]) == {SourceState.STREAMING}


def test_garbage_from_the_start_is_never_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    source, states = _run(monkeypatch, "x" * 200)
    assert states and set(states) == {SourceState.CONNECTING}
    assert "corrupt frame(s) only" in source.health.last_error


def test_time_the_consumer_holds_a_frame_is_not_the_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each frame held 5 s (analysis fell behind): 2.5 times the timeout, every frame.
    source, states = _run(monkeypatch, "." * 20, hold_s=5.0)
    assert len(states) == 20
    assert "no decodable frame" not in source.health.last_error
    assert source.health.last_error.startswith("stream rtsp://cam.local/1 ended")
