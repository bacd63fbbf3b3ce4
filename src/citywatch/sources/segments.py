"""Fragmented-MP4 segment files made by stream copy (continuous recording, issue 17).

:class:`SegmentMuxer` muxes a camera's encoded packets (:class:`~.recorder.BufferedPacket`,
the same copies the clip buffer keeps) into one fragmented MP4 file without decoding them:
a fragment per group of pictures (``frag_keyframe``), the ``moov`` written once the first
keyframe's parameter sets are known (``delay_moov``), each fragment flushed to the file as
it is cut, so a file cut short by a crash still holds every fragment written before.

H.264 from an MP4 file or an RTSP camera arrives in two framings: length-prefixed NAL units with
the parameter sets in the stream's ``avcC`` extradata (files), or Annex B start codes with the
parameter sets in-band (RTSP). The muxer is given Annex B (:class:`AnnexB` converts the first;
the parameter sets go before every keyframe) and builds the file's ``avcC`` from it, so every
segment is playable on its own.

:func:`salvage` reads what a partial segment holds (up to its last whole fragment) and
writes it again as a whole file: the writer's restart finishes a partial segment this way
or, when nothing is readable, discards it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from av.container import OutputContainer

from citywatch.sources.recorder import BufferedPacket, StreamInfo

#: Codecs recorded by stream copy (what MP4 and the browsers' players take).
RECORDABLE = ("h264",)
MOVFLAGS = "frag_keyframe+empty_moov+delay_moov+default_base_moof"
#: Each fragment reaches the file when it is cut (not when an I/O buffer fills): a crash
#: loses at most the group of pictures in progress.
MUX_OPTIONS = {"movflags": MOVFLAGS, "flush_packets": "1"}
_START = b"\x00\x00\x00\x01"


class SegmentError(RuntimeError):
    """A segment could not be written or read; the message says which and why."""


class AnnexB:
    """Length-prefixed H.264 (``avcC`` extradata) to Annex B, parameter sets before every
    keyframe.  Packets that already carry start codes pass through unchanged."""

    def __init__(self, extradata: bytes | None) -> None:
        self.length_size = 0  # 0: the stream is Annex B already
        self.parameter_sets = b""
        if extradata and extradata[0] == 1:
            self.length_size, self.parameter_sets = _parse_avcc(extradata)

    def __call__(self, data: bytes, keyframe: bool) -> bytes:
        if not self.length_size:
            return data
        n = self.length_size
        parts = [self.parameter_sets] if keyframe else []
        i, end = 0, len(data)
        while i + n <= end:
            size = int.from_bytes(data[i : i + n], "big")
            i += n
            if size <= 0 or i + size > end:
                break  # a damaged unit: keep what came before it
            parts.append(_START)
            parts.append(data[i : i + size])
            i += size
        return b"".join(parts)


def _parse_avcc(extradata: bytes) -> tuple[int, bytes]:
    """The NAL length size and the SPS/PPS units (Annex B) of an ``avcC`` record."""
    try:
        length_size = (extradata[4] & 0x03) + 1
        units: list[bytes] = []
        i = 5
        for count_mask in (0x1F, 0xFF):
            count = extradata[i] & count_mask
            i += 1
            for _ in range(count):
                (size,) = struct.unpack(">H", extradata[i : i + 2])
                units.append(_START + extradata[i + 2 : i + 2 + size])
                i += 2 + size
    except (IndexError, struct.error):
        raise SegmentError("the stream's avcC parameters are malformed") from None
    return length_size, b"".join(units)


def recordable(info: StreamInfo) -> bool:
    return info.codec in RECORDABLE


@dataclass(frozen=True, slots=True)
class WrittenSegment:
    """A segment file closed: where, its size and SHA-256, and the media seconds it spans
    (first packet to last packet plus one picture)."""

    path: Path
    size: int
    sha256: str
    packets: int
    first_s: float
    end_s: float


class SegmentMuxer:
    """One fragmented MP4 being written at ``path`` (a temporary name: the caller renames it).

    Open it with the first packet, a keyframe; :meth:`add` copies packets of the same
    connection (``info``); :meth:`close` finishes the file, makes it durable and hashes it.
    Raises :class:`OSError` when the folder refuses the file, :class:`SegmentError` for a
    stream it cannot record."""

    def __init__(self, path: Path, first: BufferedPacket) -> None:
        if not first.keyframe:
            raise SegmentError("a segment starts on a keyframe")
        info = first.info
        if not recordable(info):
            raise SegmentError(
                f"codec {info.codec!r} is not recorded by stream copy (recorded: "
                f"{', '.join(RECORDABLE)})"
            )
        self.path = path
        self.info = info
        self._annexb = AnnexB(info.extradata)
        self._out: OutputContainer | None = _open(path, info)
        self._stream = self._out.streams.video[0]
        self._first_s = first.media_s
        self._last_s = first.media_s
        self._step_s = float(1 / info.rate) if info.rate else 0.04
        self._base: int | None = None
        self.packets = 0
        self.add(first)

    @property
    def first_s(self) -> float:
        """Media time of the segment's first packet (its keyframe)."""
        return self._first_s

    def add(self, p: BufferedPacket) -> None:
        if self._out is None:
            raise SegmentError(f"segment {self.path.name} is closed")
        if p.info is not self.info:
            raise SegmentError("a packet of another connection: start a new segment")
        pkt = av.Packet(self._annexb(p.data, p.keyframe))
        pts, dts = p.pts, p.dts if p.dts is not None else p.pts
        if self._base is None:
            self._base = dts if dts is not None else 0
        pkt.pts = None if pts is None else pts - self._base
        pkt.dts = None if dts is None else dts - self._base
        pkt.is_keyframe = p.keyframe
        pkt.time_base = self.info.time_base
        pkt.stream = self._stream
        try:
            self._out.mux(pkt)
        except av.error.FFmpegError as err:
            if isinstance(err, OSError) and err.errno:
                raise OSError(err.errno, os.strerror(err.errno)) from None
            raise SegmentError(f"segment {self.path.name}: {err}") from None
        self.packets += 1
        self._last_s = max(self._last_s, p.media_s)

    def close(self) -> WrittenSegment:
        """Finish the file (the last fragment, the index), fsync it, hash it."""
        out, self._out = self._out, None
        if out is None:
            raise SegmentError(f"segment {self.path.name} is closed")
        try:
            out.close()
        except av.error.FFmpegError as err:
            if isinstance(err, OSError) and err.errno:
                raise OSError(err.errno, os.strerror(err.errno)) from None
            raise SegmentError(f"segment {self.path.name}: {err}") from None
        size, digest = _fsync_and_hash(self.path)
        return WrittenSegment(
            self.path, size, digest, self.packets, self._first_s, self._last_s + self._step_s
        )

    def abandon(self) -> None:
        """Close without caring whether the file is whole, and remove it."""
        out, self._out = self._out, None
        if out is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                out.close()
        self.path.unlink(missing_ok=True)


def _open(path: Path, info: StreamInfo) -> OutputContainer:
    try:
        out = av.open(str(path), "w", format="mp4", options=MUX_OPTIONS)
    except av.error.FFmpegError as err:
        code = err.errno if isinstance(err, OSError) else None
        if code:
            raise OSError(code, os.strerror(code), str(path)) from None
        raise SegmentError(f"segment {path.name}: {err}") from None
    stream = out.add_mux_stream(info.codec, rate=info.rate, width=info.width, height=info.height)
    stream.time_base = info.time_base
    return out


def _fsync_and_hash(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


@dataclass(frozen=True, slots=True)
class Salvaged:
    segment: WrittenSegment
    seconds: float  # media seconds of what could be read


def salvage(partial: Path, dest: Path) -> Salvaged | None:
    """Read what ``partial`` holds (packets up to the first that cannot be read) and write it
    again as a whole segment at ``dest``; ``None`` (and no ``dest``) when no keyframe is
    readable.  The partial file is left as it is."""
    try:
        src = av.open(str(partial))
    except (av.error.FFmpegError, OSError):
        return None
    seg: SegmentMuxer | None = None
    try:
        if not src.streams.video:
            return None
        stream = src.streams.video[0]
        info = StreamInfo.of(stream)
        tb = info.time_base
        start: int | None = None
        try:
            for packet in src.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                if start is None:
                    start = packet.pts
                item = BufferedPacket(
                    float((packet.pts - start) * tb),
                    bytes(packet),
                    packet.pts,
                    packet.dts,
                    bool(packet.is_keyframe),
                    info,
                )
                if seg is None:
                    if not item.keyframe:
                        continue
                    seg = SegmentMuxer(dest, item)
                else:
                    seg.add(item)
        except (av.error.FFmpegError, ValueError):
            pass  # the torn end of the file: keep what came before
        if seg is None or seg.packets == 0:
            return None
        written = seg.close()
        seg = None
        return Salvaged(written, written.end_s - written.first_s)
    finally:
        if seg is not None:
            seg.abandon()
        src.close()
