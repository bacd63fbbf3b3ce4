"""How a camera's stream is decoded: chosen per camera from its GOP and the analysis rate.

Measured on real H.264 (``bench/decode.py``, ``docs/capacity.md``):

* **one decoding thread**: FFmpeg's default here (threads chosen by the core count, frame
  threading) spends more CPU per picture for the same pictures: on a node every core already
  has cameras to decode, so parallel decoding of one stream buys latency nobody needs;
* **skip non-reference pictures** (``skip_frame=NONREF``) when the stream has them (B-frames
  that no other picture refers to) and the reference pictures alone still come at least twice
  as often as frames are analysed, so the analysed frames stay evenly spaced;
* **keyframes only** (``NONKEY``) when keyframes alone come at least as often as frames are
  analysed (or when the camera asks for it: ``keyframes_only``).

Which pictures are references is read from the H.264 slice headers (``nal_ref_idc``) of the
first packets: :class:`RefCounter` sees the packets of the first group(s) of pictures, then
:func:`choose_decode` decides, and the choice (with why) goes into the camera's health.
Whether the decoder runs on hardware is chosen once per source (:mod:`.hwdecode`); the
setting names it (``decoder``) and the rest applies either way (FFmpeg's H.264 decoder parses
the stream and skips pictures whatever decodes them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import av
from av.video.stream import VideoStream

Skip = Literal["DEFAULT", "NONREF", "NONKEY"]
#: Packets looked at before the skip is chosen: two seconds of the stream (at least
#: PROBE_MIN, at most PROBE_PACKETS), sooner once two keyframes were seen.
PROBE_PACKETS = 120
PROBE_MIN = 25
PROBE_S = 2.0
#: Reference pictures must come this many times as often as analysed frames to skip the rest.
NONREF_MARGIN = 2.0


@dataclass(frozen=True, slots=True)
class DecodeSetting:
    name: str
    threads: int = 1  # 0: FFmpeg chooses (the core count)
    thread_type: Literal["FRAME", "SLICE", "AUTO"] = "AUTO"
    skip: Skip = "DEFAULT"
    why: str = ""
    #: what decodes: "software", or "hardware (cuda)" (:meth:`.hwdecode.HwChoice.label`)
    decoder: str = "software"

    def describe(self) -> str:
        threads = "auto threads" if self.threads == 0 else f"{self.threads} thread(s)"
        skip = {"DEFAULT": "every picture", "NONREF": "reference pictures only",
                "NONKEY": "keyframes only"}[self.skip]  # fmt: skip
        return f"{self.decoder}, {threads}, {skip}" + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True, slots=True)
class StreamFacts:
    codec: str
    width: int
    height: int
    fps: float  # pictures per second (0: unknown)
    gop: int  # pictures from one keyframe to the next (0: not seen twice)
    ref_share: float | None  # share of pictures that are references (None: unknown)

    @classmethod
    def probe(cls, path: str, packets: int = PROBE_PACKETS) -> StreamFacts:
        """The facts of a file's first ``packets`` packets (the bench; the source counts as it
        reads instead)."""
        with av.open(path) as c:
            stream = c.streams.video[0]
            counter = RefCounter(stream.codec_context.name, _extradata(stream))
            for p in c.demux(stream):
                if p.size:
                    counter.add(bytes(p), bool(p.is_keyframe))
                if counter.packets >= packets:
                    break
            return counter.facts(stream)


class RefCounter:
    """Counts keyframes and reference pictures among the first packets of a stream."""

    def __init__(self, codec: str, extradata: bytes | None = None) -> None:
        self.codec = codec
        self.length_prefixed = bool(extradata) and extradata[0] == 1 if extradata else False
        self.packets = 0
        self.refs = 0
        self.known = 0
        self.keyframes: list[int] = []

    def add(self, data: bytes, keyframe: bool) -> None:
        if keyframe:
            self.keyframes.append(self.packets)
        self.packets += 1
        if self.codec == "h264":
            ref = h264_is_reference(data, self.length_prefixed)
            if ref is not None:
                self.known += 1
                self.refs += ref

    def facts(self, stream: VideoStream) -> StreamFacts:
        ctx = stream.codec_context
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        gop = self.keyframes[1] - self.keyframes[0] if len(self.keyframes) >= 2 else 0
        share = self.refs / self.known if self.known >= 10 else None
        return StreamFacts(ctx.name, ctx.width, ctx.height, fps, gop, share)


def _nal_units(data: bytes, length_prefixed: bool) -> list[bytes]:
    """NAL units of an H.264 packet: length-prefixed (4 bytes: MP4, ``avcC`` extradata) or
    Annex B (start codes: RTSP, MPEG-TS)."""
    if not length_prefixed:
        return [u.lstrip(b"\x00") for u in data.split(b"\x00\x00\x01") if u.strip(b"\x00")]
    units, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        i += 4
        if n <= 0 or i + n > len(data):
            break
        units.append(data[i : i + n])
        i += n
    return units


def h264_is_reference(data: bytes, length_prefixed: bool) -> bool | None:
    """Whether the packet's picture is a reference (its first slice's ``nal_ref_idc`` is not
    0); None when it holds no slice."""
    for unit in _nal_units(data, length_prefixed):
        if not unit:
            continue
        kind = unit[0] & 0x1F
        if kind in (1, 5):
            return (unit[0] >> 5) & 0x3 != 0
    return None


def choose_decode(
    facts: StreamFacts, analyse_fps: float, *, keyframes_only: bool = False
) -> DecodeSetting:
    """The decoder setting for a stream with these facts analysed at ``analyse_fps``."""
    if keyframes_only:
        return DecodeSetting("threads-1+nonkey", skip="NONKEY", why="keyframes_only is set")
    if facts.fps > 0 and facts.gop > 0:
        key_fps = facts.fps / facts.gop
        if key_fps >= analyse_fps:
            return DecodeSetting(
                "threads-1+nonkey",
                skip="NONKEY",
                why=f"keyframes {key_fps:.1f}/s >= {analyse_fps:g} analysed fps",
            )
    if facts.ref_share is not None and facts.ref_share < 1.0 and facts.fps > 0:
        ref_fps = facts.fps * facts.ref_share
        if ref_fps >= NONREF_MARGIN * analyse_fps:
            return DecodeSetting(
                "threads-1+nonref",
                skip="NONREF",
                why=f"reference pictures {ref_fps:.1f}/s >= {NONREF_MARGIN:g} x {analyse_fps:g}"
                " analysed fps",
            )
        why = f"reference pictures {ref_fps:.1f}/s < {NONREF_MARGIN:g} x {analyse_fps:g} fps"
    elif facts.ref_share is None:
        why = "references unknown (not H.264, or not seen yet)"
    else:
        why = "every picture is a reference"
    return DecodeSetting("threads-1", why=why)


def _extradata(stream: VideoStream) -> bytes | None:
    data = getattr(stream.codec_context, "extradata", None)
    return bytes(data) if data else None


def configure(stream: VideoStream, setting: DecodeSetting) -> None:
    """Threads (before the decoder opens) and the skip of a stream's decoder."""
    ctx = stream.codec_context
    ctx.thread_count = setting.threads
    if setting.thread_type != "AUTO":
        ctx.thread_type = setting.thread_type
    ctx.skip_frame = setting.skip


def set_skip(stream: VideoStream, skip: Skip) -> None:
    """Change what is skipped while decoding (FFmpeg reads it for every picture)."""
    stream.codec_context.skip_frame = skip


class DecodeChooser:
    """One connection's decoder setting: one thread from the start; what to skip once the
    first :data:`PROBE_PACKETS` packets (or two keyframes and 10 slices) were seen."""

    def __init__(
        self, analyse_fps: float, *, keyframes_only: bool = False, decoder: str = "software"
    ) -> None:
        self._fps = analyse_fps
        self._keyframes_only = keyframes_only
        self._decoder = decoder
        self._counter: RefCounter | None = None
        self._stream: VideoStream | None = None
        self.setting: DecodeSetting | None = None

    def opened(self, stream: VideoStream) -> DecodeSetting:
        self._stream = stream
        self._counter = RefCounter(stream.codec_context.name, _extradata(stream))
        first = replace(
            choose_decode(StreamFacts("", 0, 0, 0.0, 0, None), self._fps, keyframes_only=True)
            if self._keyframes_only
            else DecodeSetting("threads-1", why="choosing from the first pictures"),
            decoder=self._decoder,
        )
        configure(stream, first)
        self.setting = first if self._keyframes_only else None
        return first

    def facts(self) -> StreamFacts:
        """What the first packets told of the stream (nothing before it opened)."""
        if self._counter is None or self._stream is None:
            return StreamFacts("", 0, 0, 0.0, 0, None)
        return self._counter.facts(self._stream)

    def packet(self, data: bytes, keyframe: bool) -> DecodeSetting | None:
        """Count a packet; the setting once it is chosen (only that once), else None."""
        c = self._counter
        if self.setting is not None or c is None or self._stream is None:
            return None
        c.add(data, keyframe)
        rate = self._stream.average_rate
        enough = min(PROBE_PACKETS, max(PROBE_MIN, round(PROBE_S * float(rate or 0))))
        done = c.packets >= enough or (len(c.keyframes) >= 2 and c.known >= 10)
        if not done:
            return None
        chosen = choose_decode(c.facts(self._stream), self._fps)
        self.setting = replace(chosen, decoder=self._decoder)
        set_skip(self._stream, self.setting.skip)
        return self.setting
