"""Cutting a range out of recorded segments by stream copy: starts on the keyframe before the
range, crosses segment boundaries with increasing timestamps, copies the packets unchanged,
splits at a change of resolution, and leaves no file behind on a bad segment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import av
import pytest

from citywatch.sources.remux import RemuxError, SegmentFile, remux_range
from tests.recording_fixtures import FPS, picture

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)


def write_segment(path: Path, seconds: float = 4.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A fragmented MP4 as the recorder writes them: H.264, a keyframe every second."""
    with av.open(
        str(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"g": str(FPS), "keyint_min": str(FPS), "sc_threshold": "0", "bframes": "0"}
        for i in range(int(seconds * FPS)):
            img = picture(i)
            if size != (320, 240):
                import cv2

                img = cv2.resize(img, size)
            out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(s.encode(None))
    return path


def segments(tmp_path: Path, n: int = 3) -> list[SegmentFile]:
    return [
        SegmentFile(
            write_segment(tmp_path / f"seg{k}.mp4"),
            T0 + dt.timedelta(seconds=4 * k),
            T0 + dt.timedelta(seconds=4 * (k + 1)),
            f"segment {k}",
        )
        for k in range(n)
    ]


def frames_of(path: Path) -> list[tuple[float, int]]:
    """(seconds, blue level) of every decoded picture."""
    with av.open(str(path)) as c:
        return [
            (float(f.time or 0.0), int(f.to_ndarray(format="bgr24")[5, 5, 0]))
            for f in c.decode(c.streams.video[0])
        ]


def packet_bytes(path: Path) -> set[bytes]:
    with av.open(str(path)) as c:
        return {bytes(p) for p in c.demux(c.streams.video[0]) if p.size}


def test_a_range_across_three_segments(tmp_path: Path) -> None:
    segs = segments(tmp_path)
    parts = remux_range(
        segs,
        T0 + dt.timedelta(seconds=2.5),
        T0 + dt.timedelta(seconds=9.5),
        lambda n: tmp_path / f"out{n}.mp4",
    )
    assert len(parts) == 1
    part = parts[0]
    assert part.first_at == T0 + dt.timedelta(seconds=2)  # the keyframe before the start
    frames = frames_of(part.path)
    # whole groups of pictures: 2.0..3.96 s of segment 0, all of segment 1, 8.0..9.96 s of
    # segment 2 (up to the keyframe at 10 s, after the end)
    assert len(frames) == 50 + 100 + 50 == part.packets
    assert part.last_at == T0 + dt.timedelta(seconds=9.96)
    times = [t for t, _ in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert times[-1] - times[0] == pytest.approx(7.96, abs=0.01)
    assert abs(frames[0][1] - int(picture(50)[5, 5, 0])) <= 8  # segment 0's picture 50 first
    # stream copy: every packet is one of the segments' packets, byte for byte
    source = set().union(*(packet_bytes(s.path) for s in segs))
    assert packet_bytes(part.path) <= source


def test_a_range_outside_the_recording_gives_nothing(tmp_path: Path) -> None:
    segs = segments(tmp_path, 1)
    parts = remux_range(
        segs, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2), lambda n: tmp_path / "o.mp4"
    )
    assert parts == [] and not (tmp_path / "o.mp4").exists()


def test_a_change_of_resolution_starts_a_second_file(tmp_path: Path) -> None:
    a = SegmentFile(write_segment(tmp_path / "a.mp4"), T0)
    b = SegmentFile(
        write_segment(tmp_path / "b.mp4", size=(160, 120)), T0 + dt.timedelta(seconds=4)
    )
    parts = remux_range([a, b], T0, T0 + dt.timedelta(seconds=8), lambda n: tmp_path / f"p{n}.mp4")
    assert [(p.width, p.height, p.packets) for p in parts] == [(320, 240, 100), (160, 120, 100)]
    assert len(frames_of(parts[1].path)) == 100


def test_a_broken_segment_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    good = segments(tmp_path, 1)[0]
    bad_path = tmp_path / "bad.mp4"
    bad_path.write_bytes(b"\x00" * 100)
    bad = SegmentFile(bad_path, T0 + dt.timedelta(seconds=4), label="segment 9")
    with pytest.raises(RemuxError, match="segment 9"):
        remux_range([good, bad], T0, T0 + dt.timedelta(seconds=8), lambda n: tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_an_empty_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RemuxError, match="before it starts"):
        remux_range([], T0, T0, lambda n: tmp_path / "o.mp4")


def test_segments_written_by_the_recorder_are_cut_and_play(tmp_path: Path) -> None:
    """The recorder's own files (SegmentMuxer: Annex B in, avcC built, fragmented MP4):
    a range across two of them gives one MP4 whose every picture decodes."""
    from citywatch.sources.segments import SegmentMuxer
    from tests.recording.helpers import footage

    packets = footage(tmp_path, seconds=8.0)  # a keyframe every second
    files = []
    for k, (lo, hi) in enumerate(((0.0, 4.0), (4.0, 8.0))):
        part = [p for p in packets if lo <= p.media_s < hi]
        muxer = SegmentMuxer(tmp_path / f"rec{k}.mp4", part[0])
        for p in part[1:]:
            muxer.add(p)
        written = muxer.close()
        files.append(SegmentFile(written.path, T0 + dt.timedelta(seconds=lo)))
    parts = remux_range(
        files, T0 + dt.timedelta(seconds=1.5), T0 + dt.timedelta(seconds=6.5),
        lambda n: tmp_path / f"cut{n}.mp4",
    )  # fmt: skip
    assert len(parts) == 1
    frames = frames_of(parts[0].path)
    assert len(frames) == parts[0].packets == 6 * FPS  # 1.0 s .. 7.0 s, whole seconds
    times = [t for t, _ in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
