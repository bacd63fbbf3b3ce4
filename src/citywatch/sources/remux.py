"""Cut a time range out of recorded segments into MP4 by stream copy (issue 17).

The segments of a camera's recording are (fragmented) MP4 files, each with the wall time of
its first picture.  :func:`remux_range` copies the video packets of ``[start, end)`` into one
MP4 per run of segments with the same codec parameters (a camera that reconnected with
another resolution gives a second file), widened to whole groups of pictures: from the last
keyframe at or before ``start`` (so the first picture decodes) to the first keyframe at or
after ``end`` (so no B-frame loses the picture it refers to).  Nothing is decoded or re-encoded: a
camera with privacy masks stores its segments masked already, so a cut of them is masked too.
Only the video stream is copied.  Timestamps are rebased to start at 0 and kept increasing
across segment boundaries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream

OUT_TIME_BASE = Fraction(1, 90_000)


class RemuxError(ValueError):
    """The range could not be cut; the message names the segment and why."""


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """One recorded segment: its file and the wall time of its first packet."""

    path: Path
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    label: str = ""  # how messages name it (e.g. "segment 41")


@dataclass(frozen=True, slots=True)
class RemuxPart:
    """One output file: the wall-time span it covers and its pictures."""

    path: Path
    first_at: dt.datetime  # wall time of its first packet (a keyframe, maybe before start)
    last_at: dt.datetime
    packets: int
    codec: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class _Pkt:
    packet: Packet
    wall: dt.datetime
    dts_s: float  # decode time, seconds after the range's start (wall clock)
    pts_s: float
    keyframe: bool


def _params(stream: VideoStream) -> tuple[str, int, int, bytes]:
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b"")


def _packets(container: InputContainer, seg: SegmentFile, epoch: dt.datetime) -> Iterator[_Pkt]:
    """The segment's video packets with their times in seconds after ``epoch``: the segment's
    start plus the packet's time after the segment's first picture."""
    stream = container.streams.video[0]
    tb = stream.time_base or Fraction(1, 90_000)
    seg_s = (seg.started_at - epoch).total_seconds()
    origin: int | None = None
    for pkt in container.demux(stream):
        if pkt.size == 0 or (pkt.dts is None and pkt.pts is None):
            continue
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        dts = pkt.dts if pkt.dts is not None else pkt.pts
        assert pts is not None and dts is not None
        if origin is None:
            origin = pts  # the segment's start is its first picture's presentation time
        pts_s = seg_s + float((pts - origin) * tb)
        dts_s = seg_s + float((dts - origin) * tb)
        wall = epoch + dt.timedelta(seconds=pts_s)
        yield _Pkt(pkt, wall, dts_s, pts_s, bool(pkt.is_keyframe))


class _Writer:
    """One output MP4; timestamps rebased to its first packet."""

    def __init__(self, path: Path, template: VideoStream) -> None:
        self.path = path
        self.out: OutputContainer = av.open(
            str(path), "w", format="mp4", options={"movflags": "+faststart"}
        )
        self.stream = self.out.add_stream_from_template(template)
        self.stream.time_base = OUT_TIME_BASE
        self.params = _params(template)
        self.base_s: float | None = None
        self.last_dts = -1
        self.first_at: dt.datetime | None = None
        self.last_at: dt.datetime | None = None
        self.count = 0

    def write(self, p: _Pkt) -> None:
        if self.base_s is None:
            self.base_s = p.dts_s
            self.first_at = p.wall
        dts = round((p.dts_s - self.base_s) / OUT_TIME_BASE)
        pts = round((p.pts_s - self.base_s) / OUT_TIME_BASE)
        dts = max(dts, self.last_dts + 1)  # the muxer needs strictly increasing dts
        pkt = p.packet
        pkt.dts, pkt.pts = dts, max(pts, dts)
        pkt.time_base = OUT_TIME_BASE
        pkt.stream = self.stream
        self.out.mux(pkt)
        self.last_dts = dts
        self.last_at = p.wall if self.last_at is None else max(self.last_at, p.wall)
        self.count += 1

    def close(self) -> RemuxPart | None:
        self.out.close()
        if self.count == 0 or self.first_at is None or self.last_at is None:
            self.path.unlink(missing_ok=True)
            return None
        codec, w, h, _ = self.params
        return RemuxPart(self.path, self.first_at, self.last_at, self.count, codec, w, h)


def remux_range(
    segments: Sequence[SegmentFile],
    start: dt.datetime,
    end: dt.datetime,
    out_path: Callable[[int], Path],
) -> list[RemuxPart]:
    """Copy the packets of ``[start, end)`` from ``segments`` into MP4 files named by
    ``out_path(n)`` (n = 0, 1, ... one per change of codec parameters).

    Raises :class:`RemuxError` naming a segment that cannot be read; returns no parts when
    the segments hold no packet in the range."""
    if end <= start:
        raise RemuxError(f"the range ends ({end.isoformat()}) before it starts")
    parts: list[RemuxPart] = []
    writer: _Writer | None = None
    gop: list[_Pkt] = []  # the packets from the last keyframe before start
    gop_params: tuple[str, int, int, bytes] | None = None

    def finish_writer() -> None:
        nonlocal writer
        if writer is not None:
            part = writer.close()
            writer = None
            if part is not None:
                parts.append(part)

    done = False
    try:
        for seg in sorted(segments, key=lambda s: s.started_at):
            name = seg.label or str(seg.path)
            if seg.ended_at is not None and seg.ended_at < start:
                continue
            if done or seg.started_at >= end:
                break
            try:
                container = av.open(str(seg.path), "r")
            except (av.error.FFmpegError, OSError) as err:
                raise RemuxError(f"{name}: cannot be read ({err})") from None
            with container:
                if not container.streams.video:
                    raise RemuxError(f"{name}: holds no video stream")
                template = container.streams.video[0]
                params = _params(template)
                if writer is not None and writer.params != params:
                    finish_writer()
                if gop_params != params:
                    gop, gop_params = [], params
                try:
                    for p in _packets(container, seg, start):
                        if p.keyframe and p.wall >= end:
                            done = True
                            break
                        if writer is None and p.wall < start:
                            if p.keyframe:
                                gop = []
                            if p.keyframe or gop:
                                gop.append(p)
                            continue
                        if writer is None:
                            if not gop and not p.keyframe:
                                continue  # nothing decodable yet: wait for a keyframe
                            writer = _Writer(out_path(len(parts)), template)
                            for q in gop:
                                writer.write(q)
                            gop = []
                        writer.write(p)
                except av.error.FFmpegError as err:
                    raise RemuxError(f"{name}: unreadable packet ({err})") from None
        finish_writer()
    finally:
        if writer is not None:  # an error mid-way: no half-written file stays
            writer.out.close()
            writer.path.unlink(missing_ok=True)
    return parts
