"""A short rolling buffer of a camera's encoded packets, for evidence clips.

:class:`CameraSource` hands every demuxed video packet to its taps (see
:class:`PacketTap`) with the packet's media time on the same clock as its frames' ``pts_s``
(the pass's continuous base, plus the packet's time since the first packet of the pass).
:class:`PacketBuffer` keeps copies of the packets of the last ``seconds`` (never more than
``max_bytes``; both bound it, whichever is reached first), always starting on a keyframe, so
a clip can be cut from any time it still holds without decoding anything while the camera
runs.  :func:`cut` takes the packets from the last keyframe at or before a start time to an
end time; :func:`decode` turns them into BGR pictures again (only when a clip is made).

Packets keep the codec parameters of the connection they came from (:class:`StreamInfo`):
a camera that reconnects with another resolution is cut and decoded per connection.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, cast

import av
import av.error
import numpy as np
from av.packet import Packet
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from citywatch.vision.record import ImageBGR


class PacketTap(Protocol):
    """Something that sees every video packet a :class:`CameraSource` demuxes."""

    def packet(self, packet: Packet, stream: VideoStream, media_s: float) -> None: ...

    def ended(self) -> None:
        """The source stopped or ended: no packet follows."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a decoder needs besides the packets: the codec and its parameters."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes | None
    rate: Fraction | None

    @classmethod
    def of(cls, stream: VideoStream) -> StreamInfo:
        ctx = stream.codec_context
        tb = stream.time_base or Fraction(1, 90_000)
        rate = stream.average_rate
        return cls(
            ctx.name,
            ctx.width,
            ctx.height,
            Fraction(tb),
            bytes(ctx.extradata) if ctx.extradata else None,
            Fraction(rate) if rate else None,
        )


@dataclass(frozen=True, slots=True)
class BufferedPacket:
    """A copy of one encoded packet and its media time (seconds, the frames' clock)."""

    media_s: float
    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    info: StreamInfo


@dataclass(frozen=True, slots=True)
class BufferStats:
    packets: int
    bytes: int
    seconds: float
    dropped_bytes: int  # packets pushed out by the byte bound before the time bound


class PacketBuffer:
    """The last ``seconds`` of a camera's packets, at most ``max_bytes``; thread-safe.

    ``listener`` (if given) is called with the newest media time after every packet, outside
    the lock (the clip maker checks there whether a clip's end has arrived)."""

    def __init__(
        self,
        camera_id: str,
        *,
        seconds: float,
        max_bytes: int,
        listener: Callable[[float], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        if seconds <= 0 or max_bytes <= 0:
            raise ValueError(
                f"camera {camera_id!r}: packet buffer needs seconds > 0 and max_bytes > 0, "
                f"got {seconds} and {max_bytes}"
            )
        self.camera_id = camera_id
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.listener = listener
        self.on_end = on_end
        self._lock = threading.Lock()
        self._packets: deque[BufferedPacket] = deque()
        self._bytes = 0
        self._dropped_bytes = 0
        self._info: StreamInfo | None = None
        self._stream: VideoStream | None = None
        self._pass_first: float | None = None

    def __repr__(self) -> str:
        s = self.stats()
        return f"PacketBuffer({self.camera_id!r}, packets={s.packets}, bytes={s.bytes})"

    # ------------------------------------------------------------------ PacketTap
    def packet(self, packet: Packet, stream: VideoStream, media_s: float) -> None:
        if packet.size == 0:
            return
        if stream is not self._stream:  # a new connection (or pass): its own parameters
            self._stream, self._info = stream, StreamInfo.of(stream)
        assert self._info is not None
        item = BufferedPacket(
            media_s, bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe), self._info
        )
        self.add(item)

    def ended(self) -> None:
        if self.on_end is not None:
            self.on_end()

    # ------------------------------------------------------------------ buffer
    def add(self, item: BufferedPacket) -> None:
        with self._lock:
            if not self._packets and not item.keyframe:
                return  # a clip can only start on a keyframe
            self._packets.append(item)
            self._bytes += len(item.data)
            self._evict(item.media_s)
            newest = item.media_s
        if self.listener is not None:
            self.listener(newest)

    def _evict(self, newest_s: float) -> None:
        """Drop whole groups of pictures from the front: while the second group still covers
        ``seconds``, or while the buffer holds more than ``max_bytes``."""
        while True:
            nxt = self._next_keyframe()
            if nxt is None:
                # One group only: the byte bound still holds, the group is dropped whole.
                if self._bytes > self.max_bytes:
                    self._dropped_bytes += self._bytes
                    self._packets.clear()
                    self._bytes = 0
                return
            over_time = self._packets[nxt].media_s <= newest_s - self.seconds
            over_bytes = self._bytes > self.max_bytes
            if not (over_time or over_bytes):
                return
            for _ in range(nxt):
                gone = self._packets.popleft()
                self._bytes -= len(gone.data)
                if over_bytes and not over_time:
                    self._dropped_bytes += len(gone.data)

    def _next_keyframe(self) -> int | None:
        for i in range(1, len(self._packets)):
            if self._packets[i].keyframe:
                return i
        return None

    def newest_s(self) -> float | None:
        with self._lock:
            return self._packets[-1].media_s if self._packets else None

    def stats(self) -> BufferStats:
        with self._lock:
            span = self._packets[-1].media_s - self._packets[0].media_s if self._packets else 0.0
            return BufferStats(len(self._packets), self._bytes, span, self._dropped_bytes)

    def snapshot(self) -> list[BufferedPacket]:
        with self._lock:
            return list(self._packets)


def cut(packets: Sequence[BufferedPacket], start_s: float, end_s: float) -> list[BufferedPacket]:
    """The packets from the last keyframe at or before ``start_s`` (the first one held when
    the buffer no longer reaches back that far) up to ``end_s``; empty when none is held."""
    if end_s < start_s:
        raise ValueError(f"clip end {end_s:.3f} s is before its start {start_s:.3f} s")
    first = None
    for i, p in enumerate(packets):
        if p.keyframe and (first is None or p.media_s <= start_s):
            first = i
        if p.media_s > start_s and first is not None:
            break
    if first is None:
        return []
    return [p for p in packets[first:] if p.media_s <= end_s]


def _bgr(frame: av.VideoFrame) -> ImageBGR:
    return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class DecodedPicture:
    """A decoded picture, converted to BGR only when :attr:`image` is read: a snapshot
    decodes from the last keyframe but needs one picture (converting a 1080p picture costs
    about as much as decoding it)."""

    media_s: float
    frame: av.VideoFrame

    @property
    def image(self) -> ImageBGR:
        return _bgr(self.frame)


def decode(packets: Sequence[BufferedPacket]) -> Iterator[DecodedPicture]:
    """Decode buffered packets back into BGR pictures (one decoder per connection); a packet
    that does not decode is skipped.  Pictures come in presentation order with their media
    time (by their pts when they carry one)."""
    decoder: VideoCodecContext | None = None
    info: StreamInfo | None = None
    pts_media: dict[int, float] = {}
    for p in packets:
        if p.info is not info:
            if decoder is not None:
                yield from _drain(decoder, None, pts_media)
            info = p.info
            decoder = cast(VideoCodecContext, av.CodecContext.create(info.codec, "r"))
            if info.extradata:
                decoder.extradata = info.extradata
            pts_media = {}
        assert decoder is not None
        if p.pts is not None:
            pts_media[p.pts] = p.media_s
        pkt = av.Packet(p.data)
        pkt.pts, pkt.dts = p.pts, p.dts
        pkt.time_base = p.info.time_base
        yield from _drain(decoder, pkt, pts_media)
    if decoder is not None:
        yield from _drain(decoder, None, pts_media)


def _drain(
    decoder: VideoCodecContext,
    pkt: av.Packet | None,
    pts_media: dict[int, float],
) -> Iterator[DecodedPicture]:
    try:
        frames = decoder.decode(pkt)
    except (av.error.FFmpegError, ValueError):
        return
    for f in frames:
        if not isinstance(f, av.VideoFrame):
            continue
        t = pts_media.pop(f.pts, None) if f.pts is not None else None
        if t is None:
            t = max(pts_media.values(), default=0.0)
        yield DecodedPicture(t, f)
