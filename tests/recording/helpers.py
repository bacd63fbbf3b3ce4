"""Packets of generated H.264 footage, fed to a SegmentRecorder as a camera would."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import av

from citywatch.services.segment_recorder import SegmentRecorder
from citywatch.sources.recorder import BufferedPacket, StreamInfo
from tests.recording_fixtures import write_h264

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def packets_of(path: Path) -> list[BufferedPacket]:
    """Every video packet of ``path`` with its media time (one StreamInfo: one connection)."""
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        info = StreamInfo.of(stream)
        out = []
        for p in src.demux(stream):
            if p.size == 0 or p.pts is None or p.time_base is None:
                continue
            out.append(
                BufferedPacket(
                    float(p.pts * p.time_base), bytes(p), p.pts, p.dts, bool(p.is_keyframe), info
                )
            )
    return out


def footage(tmp: Path, seconds: float = 8.0, name: str = "cam.mp4") -> list[BufferedPacket]:
    return packets_of(write_h264(tmp / name, seconds=seconds))


def feed(rec: SegmentRecorder, packets: list[BufferedPacket], offset_s: float = 0.0) -> None:
    for p in packets:
        rec.add(p, wall=T0.timestamp() + offset_s + p.media_s)


def decoded_pictures(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
