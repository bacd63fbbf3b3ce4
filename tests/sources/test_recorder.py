"""The packet buffer behind evidence clips: bounded in seconds and bytes, starts on a
keyframe, packets on the frames' clock, cut from the last keyframe before a start."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from citywatch.config.camera import CameraConfig
from citywatch.sources.pyav import CameraSource
from citywatch.sources.recorder import BufferedPacket, PacketBuffer, StreamInfo, cut, decode
from tests.recording_fixtures import FPS, write_h264

INFO = StreamInfo("h264", 320, 240, Fraction(1, 90_000), None, Fraction(25))


def pkt(t: float, key: bool, size: int = 100) -> BufferedPacket:
    return BufferedPacket(t, b"x" * size, int(t * 90_000), int(t * 90_000), key, INFO)


def feed(buffer: PacketBuffer, seconds: float, gop_s: float = 1.0, size: int = 100) -> None:
    for i in range(int(seconds * 10)):  # 10 packets a second
        t = i / 10
        buffer.add(pkt(t, abs(t / gop_s - round(t / gop_s)) < 1e-9, size))


def test_the_buffer_keeps_the_last_seconds_whole_groups_from_a_keyframe() -> None:
    buffer = PacketBuffer("cam", seconds=3.0, max_bytes=10**9)
    feed(buffer, 10.0)
    held = buffer.snapshot()
    assert held[0].keyframe
    # 9.9 s is the newest; the group from 6.0 s is the newest one that still covers 3 s
    assert held[0].media_s == pytest.approx(6.0)
    assert buffer.stats().seconds == pytest.approx(3.9)


def test_the_byte_bound_drops_oldest_groups_first_and_counts_them() -> None:
    buffer = PacketBuffer("cam", seconds=60.0, max_bytes=2_500)
    feed(buffer, 10.0)  # 100 bytes a packet, 1,000 bytes a group
    stats = buffer.stats()
    assert stats.bytes <= 2_500
    assert buffer.snapshot()[0].keyframe
    assert buffer.snapshot()[0].media_s == pytest.approx(8.0)
    assert stats.dropped_bytes == 8_000


def test_a_buffer_never_starts_without_a_keyframe() -> None:
    buffer = PacketBuffer("cam", seconds=5.0, max_bytes=10**6)
    buffer.add(pkt(0.0, False))
    buffer.add(pkt(0.1, False))
    assert buffer.snapshot() == []
    buffer.add(pkt(0.2, True))
    assert [p.media_s for p in buffer.snapshot()] == [0.2]


def test_bad_bounds_are_refused_naming_the_camera() -> None:
    with pytest.raises(ValueError, match="camera 'cam-9'"):
        PacketBuffer("cam-9", seconds=0, max_bytes=1)


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        (3.5, 5.0, 3.0, 5.0),  # from the keyframe before the start
        (3.0, 3.3, 3.0, 3.3),  # a start on a keyframe starts there
        (-5.0, 1.0, 0.0, 1.0),  # the buffer does not reach back that far: its first keyframe
        (9.5, 20.0, 9.0, 9.9),  # the end is not there yet: what there is
    ],
)
def test_cut_starts_on_the_last_keyframe_at_or_before_the_start(
    start: float, end: float, first: float, last: float
) -> None:
    buffer = PacketBuffer("cam", seconds=60.0, max_bytes=10**9)
    feed(buffer, 10.0)
    got = cut(buffer.snapshot(), start, end)
    assert got[0].keyframe
    assert got[0].media_s == pytest.approx(first)
    assert got[-1].media_s == pytest.approx(last)


def test_cut_refuses_an_end_before_its_start() -> None:
    with pytest.raises(ValueError, match="before its start"):
        cut([], 5.0, 4.0)


def test_packets_carry_the_frames_clock_and_decode_again(tmp_path: Path) -> None:
    video = write_h264(tmp_path / "v.mp4", seconds=4.0)
    buffer = PacketBuffer("cam", seconds=60.0, max_bytes=10**8)
    ended: list[bool] = []
    buffer.on_end = lambda: ended.append(True)
    source = CameraSource(CameraConfig(id="cam", url=str(video), analyse_fps=FPS), taps=[buffer])
    frame_times = [f.pts_s for f in source.frames()]
    held = buffer.snapshot()
    assert ended == [True]
    assert len(held) == len(frame_times) == 4 * FPS
    assert sorted(p.media_s for p in held) == pytest.approx(frame_times)  # decode order
    assert [round(p.media_s, 3) for p in held if p.keyframe] == [0.0, 1.0, 2.0, 3.0]
    pictures = list(decode(cut(held, 1.5, 2.5)))
    assert [round(p.media_s, 2) for p in pictures][:2] == [1.0, 1.04]
    assert pictures[-1].media_s == pytest.approx(2.48)
    assert pictures[0].image.shape == (240, 320, 3)
