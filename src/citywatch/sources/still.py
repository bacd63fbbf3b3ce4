"""Decode less while the scene is still (issue 18): the motion gate's verdicts drive the decoder.

An idle camera pays the decode of every picture its stream delivers (about half of a still
frame's cost, ``docs/capacity.md``).  Once the motion gate has seen no motion for
``still_after_s`` of media time, the analysed stream's decoder rests:

* **keyframes only** when the stream's keyframes come at most ``still_max_gop_s`` apart (the
  bound on the added detection latency): the source feeds the decoder the keyframe packets
  alone and drains each at once (FFmpeg's own ``skip_frame=NONKEY`` hands a keyframe out only
  when the next decoded picture arrives: a whole group of pictures late on a stream with
  B-frames, measured on the quiet clip).  The packets after the newest keyframe are kept
  (one group at most) until the analysis has judged it: when it moved, the decoder starts
  again from that keyframe and decodes the kept packets, so no analysed frame after it is
  lost;
* **reference pictures only** (``skip_frame=NONREF``) when the keyframes are too far apart
  but the stream has non-reference pictures (and they are not skipped already); switched
  back at any packet, since no picture depends on the skipped ones;
* otherwise nothing changes.

The keyframe interval is the longest seen so far on the connection (the probe's first, then
every one since): one that grows past ``still_max_gop_s`` while resting ends the rest (that
group is decoded again from its keyframe, nothing missed).

The first frame the analysis finds moving brings the decoder back to its normal setting
(:mod:`.decode`) at once.  Motion that starts right after a still keyframe is seen at the
next keyframe: at most one group of pictures later than with every picture decoded.  Only the
analysed stream's decoding changes: the demuxed packets (evidence clips, recording, a
two-stream camera's main stream) are untouched.

:class:`MotionFeed` carries the verdicts from the analysis thread (the worker) to the reader
thread (:class:`StillDecoder`, one per connection).  A source nobody reports to never rests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import av
from av.packet import Packet
from av.video.stream import VideoStream

from citywatch.sources.decode import DecodeChooser, DecodeSetting, StreamFacts, set_skip
from citywatch.sources.health import RESTING

StillSetting = Literal["auto", "off"]
StillMode = Literal["keyframes", "reference", "off"]
#: What the decoder does now: its normal setting, or resting on a still scene.
DecodeNow = Literal["normal", "keyframes", "reference"]


@dataclass(frozen=True, slots=True)
class StillPlan:
    """How a camera's decoder rests on a still scene, and why."""

    mode: StillMode
    why: str
    gop_s: float = 0.0  # keyframe interval in seconds (0: not seen)

    def describe(self) -> str:
        what = "no rest" if self.mode == "off" else RESTING[self.mode]
        return f"still scene: {what} ({self.why})"


def choose_still(
    facts: StreamFacts,
    base: DecodeSetting,
    *,
    setting: StillSetting = "auto",
    max_gop_s: float = 2.0,
) -> StillPlan:
    """The still-scene plan of a stream with these facts decoded with ``base``."""
    if setting == "off":
        return StillPlan("off", "still_decode is off")
    if base.skip == "NONKEY":
        return StillPlan("off", "keyframes only already")
    gop_s = facts.gop / facts.fps if facts.fps > 0 and facts.gop > 0 else 0.0
    # In whole pictures at the stream's rate: a 2 s group at 29.97 fps (60 pictures) is 2 s.
    if gop_s and facts.gop <= round(max_gop_s * facts.fps):
        return StillPlan(
            "keyframes", f"a keyframe every {gop_s:.2g} s <= still_max_gop_s {max_gop_s:g}", gop_s
        )
    far = (
        f"a keyframe every {gop_s:.2g} s > still_max_gop_s {max_gop_s:g}"
        if gop_s
        else "keyframe interval not seen"
    )
    if base.skip == "DEFAULT" and facts.ref_share is not None and facts.ref_share < 1.0:
        return StillPlan("reference", f"{far}; the stream has non-reference pictures", gop_s)
    why = (
        "non-reference pictures skipped already"
        if base.skip == "NONREF"
        else ("every picture is a reference" if facts.ref_share == 1.0 else "references unknown")
    )
    return StillPlan("off", f"{far}; {why}", gop_s)


class MotionFeed:
    """The analysis's verdicts (moving or still) on the frames a source handed on, by frame
    index, for that source's reader.  Thread-safe: the worker reports, the reader asks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._last_index = -1
        self._last_pts = 0.0
        self._still_since: float | None = None  # pts of the first frame of the still run
        self._moved_index = -1
        self._closed = False

    def seen(self, index: int, pts_s: float, moving: bool) -> None:
        """The analysis judged frame ``index`` (media time ``pts_s``)."""
        with self._cond:
            self._last_index = max(self._last_index, index)
            self._last_pts = max(self._last_pts, pts_s)
            if moving:
                self._moved_index = max(self._moved_index, index)
                self._still_since = None
            elif self._still_since is None:
                self._still_since = pts_s
            self._cond.notify_all()

    @property
    def is_still(self) -> bool:
        """The last frame judged was still."""
        with self._cond:
            return self._still_since is not None

    def still_for(self) -> float:
        """Media seconds the analysed frames have been still (0 after a moving one)."""
        with self._cond:
            since = self._still_since
            return 0.0 if since is None else self._last_pts - since

    @property
    def last_pts(self) -> float:
        with self._cond:
            return self._last_pts

    @property
    def last_index(self) -> int:
        with self._cond:
            return self._last_index

    def moved_after(self, index: int) -> bool:
        """A frame after ``index`` was found moving."""
        with self._cond:
            return self._moved_index > index

    def wait_for(self, index: int, timeout_s: float) -> bool:
        """Wait until frame ``index`` (and every one before it) was judged; False when the
        wait timed out or the feed was closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._last_index >= index or self._closed, timeout_s)
            return self._last_index >= index

    def close(self) -> None:
        """The source stops: nobody waits any more."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed


class StillDecoder:
    """One connection's decoding of the analysed stream: every packet as the
    :class:`~citywatch.sources.decode.DecodeChooser` set it up, or resting on a still scene.
    Call :meth:`decode` for every packet (instead of ``packet.decode()``) and :meth:`handed`
    for every frame handed on to the analysis; all from the reader thread."""

    def __init__(
        self,
        stream: VideoStream,
        chooser: DecodeChooser,
        feed: MotionFeed,
        *,
        setting: StillSetting = "auto",
        after_s: float = 2.0,
        max_gop_s: float = 2.0,
        wait_s: float = 2.0,
        on_change: Callable[[str, DecodeNow], None] | None = None,
    ) -> None:
        """``wait_s``: how long a keyframe waits for the analysis's verdict on the one before
        (none in time: back to normal decoding, nothing is missed).  ``on_change`` is told
        the plan's description and the mode whenever either changes (health)."""
        self._stream = stream
        self._chooser = chooser
        self._feed = feed
        self._setting: StillSetting = setting
        self._after_s = after_s
        self._max_gop_s = max_gop_s
        self._wait_s = wait_s
        self._on_change = on_change
        self.plan: StillPlan | None = None
        self.mode: DecodeNow = "normal"
        self._packets = 0  # packets seen, and the keyframe interval among them
        self._last_key: int | None = None
        self._gop = 0
        self._planned = -1  # the interval the plan was chosen with
        self._handed = -1  # index and media time of the last frame handed on
        self._handed_pts = 0.0
        self._entered_at = -1  # the feed's last judged index when the decoder rested
        self._rest_after_pts = 0.0  # after a wake-up, still_after_s more before resting
        self._key: Packet | None = None  # the keyframe decoded last while resting ...
        self._key_pts: int | None = None  # ... its picture's pts
        self._pending: list[Packet] = []  # ... and the packets after it, not decoded
        self.wakeups = 0  # times the decoder went back to normal from resting
        self.caught_up = 0  # pictures decoded again from a kept group after a wake-up

    # --- reader thread ----------------------------------------------------------------
    def handed(self, index: int, pts_s: float) -> None:
        """Frame ``index`` (media time ``pts_s``) went on to the analysis."""
        self._handed = index
        self._handed_pts = pts_s

    def decode(self, packet: Packet) -> list[av.VideoFrame]:
        key = bool(getattr(packet, "is_keyframe", False))
        if getattr(packet, "size", 0):
            if key:
                if self._last_key is not None:  # the longest interval seen bounds the delay
                    self._gop = max(self._gop, self._packets - self._last_key)
                self._last_key = self._packets
            self._packets += 1
        if self._chooser.setting is not None and (self.plan is None or self._gop != self._planned):
            plan = self._plan()
            if self.mode == "keyframes" and plan.mode != "keyframes":  # a longer group
                return self._catch_up(packet)
            if self.mode == "reference" and plan.mode != "reference":
                self._wake()
        if self.mode == "keyframes":
            return self._resting(packet, key)
        if self.mode == "reference":
            if self._feed.moved_after(self._entered_at) or self._feed.closed:
                self._wake()
            return self._frames(packet)
        now = self.plan
        due = now is not None and (now.mode == "reference" or (now.mode == "keyframes" and key))
        if due and self._ready():
            if now is not None and now.mode == "reference":
                self._rest("reference")
                set_skip(self._stream, "NONREF")
            else:
                drained = self._drain()
                self._rest("keyframes")
                return drained + self._keyframe(packet)
        return self._frames(packet)

    # --- internals --------------------------------------------------------------------
    def _frames(self, packet: Packet) -> list[av.VideoFrame]:
        return list(packet.decode())

    def _ready(self) -> bool:
        """Still long enough to rest.  When frames handed on but not judged yet would decide
        it, their verdicts are waited for: the decoder rests at the same keyframe however
        far the reader ran ahead of the analysis."""
        feed = self._feed
        if not feed.is_still:
            return False
        unjudged = self._handed_pts - feed.last_pts
        if feed.last_index < self._handed and feed.still_for() + unjudged >= self._after_s:
            feed.wait_for(self._handed, self._wait_s)
        return feed.still_for() >= self._after_s and feed.last_pts >= self._rest_after_pts

    def _plan(self) -> StillPlan:
        """The plan for the keyframe interval seen so far (called when that changed)."""
        base = self._chooser.setting
        assert base is not None
        self._planned = self._gop
        facts = self._chooser.facts()
        rate = self._stream.average_rate
        fps = float(rate) if rate else facts.fps
        facts = StreamFacts(facts.codec, facts.width, facts.height, fps,
                            max(self._gop, facts.gop), facts.ref_share)  # fmt: skip
        plan = choose_still(facts, base, setting=self._setting, max_gop_s=self._max_gop_s)
        if plan != self.plan:
            self.plan = plan
            self._changed()
        return plan

    def _rest(self, mode: DecodeNow) -> None:
        self.mode = mode
        self._entered_at = self._feed.last_index
        self._changed()

    def _wake(self) -> None:
        if self.mode == "reference":
            base = self._chooser.setting
            set_skip(self._stream, base.skip if base is not None else "DEFAULT")
        self.mode = "normal"
        self.wakeups += 1
        self._rest_after_pts = self._feed.last_pts + self._after_s
        self._key, self._key_pts, self._pending = None, None, []
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None and self.plan is not None:
            self._on_change(self.plan.describe(), self.mode)

    def _drain(self) -> list[av.VideoFrame]:
        """The pictures the decoder still holds back (reordering), then a clean decoder."""
        ctx = self._stream.codec_context
        try:
            out = list(ctx.decode(None))
        except av.error.FFmpegError:
            out = []
        ctx.flush_buffers()
        for frame in out:  # no packet to take the time base from
            if frame.time_base is None:
                frame.time_base = self._stream.time_base
        return out

    def _keyframe(self, packet: Packet) -> list[av.VideoFrame]:
        """Decode a keyframe alone and hand its picture out now (drained: no reordering
        delay); keep it to start again from."""
        ctx = self._stream.codec_context
        ctx.flush_buffers()
        self._key, self._key_pts, self._pending = None, None, []
        out = list(packet.decode())
        out += self._drain()
        self._key = packet
        self._key_pts = out[-1].pts if out else None
        return out

    def _resting(self, packet: Packet, key: bool) -> list[av.VideoFrame]:
        if self._feed.closed:
            return []
        if self._feed.moved_after(self._entered_at):
            return self._catch_up(packet)
        if not key:
            if self._key is not None and packet.size:
                self._pending.append(packet)
            return []
        # A keyframe: the verdict on everything handed on so far decides.
        if not self._feed.wait_for(self._handed, self._wait_s) and self._feed.closed:
            return []
        if self._feed.last_index < self._handed or self._feed.moved_after(self._entered_at):
            return self._catch_up(packet)
        return self._keyframe(packet)

    def _catch_up(self, packet: Packet) -> list[av.VideoFrame]:
        """Motion (or no verdict in time): decode again from the kept keyframe, every
        packet kept after it and this one; the keyframe's picture was handed out already."""
        ctx = self._stream.codec_context
        ctx.flush_buffers()
        replay = [self._key, *self._pending] if self._key is not None else []
        key_pts = self._key_pts
        self._wake()
        out: list[av.VideoFrame] = []
        for p in [*replay, packet]:
            try:
                out += p.decode()
            except av.error.FFmpegError:
                if p is packet:
                    raise
        self.caught_up += len(replay)
        return [f for f in out if key_pts is None or f.pts != key_pts]
