"""A camera's main stream beside the substream that is analysed (``detect_url``).

A camera with two streams is analysed on its substream (e.g. 640x360) while its evidence
comes from the main stream (e.g. 1280x720): snapshots, clips and continuous recording.  The
main stream is kept in step cheaply:

* it is **demuxed only** (:class:`~citywatch.sources.pyav.CameraSource` with
  ``role="main"``): its packets go to the packet taps (the clip buffer, the segment recorder)
  and to one rolling :class:`~citywatch.sources.recorder.PacketBuffer`, the same buffer that
  serves the evidence clips when clips are on; nothing is decoded while the camera runs;
* a picture is **decoded only when a snapshot is stored** (:func:`picture_at`): the packets
  from the last keyframe at or before the wanted time are decoded up to the picture nearest to
  it (at most one group of pictures);
* the two clocks are lined up by :class:`ClockLink`: files (both streams start at media time
  0) by media time; live streams by the arrival time of each stream's data, as the smallest
  ``wall - media`` of the last seconds (the network and decode delay) on either side.

Boxes found on the substream are mapped onto the main picture by :class:`BoxMap`: each axis
scaled by the ratio of the two frame sizes (both streams show the same field of view, also
when their aspect ratios differ, e.g. a 704x576 substream beside a 1920x1080 main stream).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from av.packet import Packet
from av.video.stream import VideoStream

from citywatch.sources.health import CameraHealth
from citywatch.sources.pyav import CameraSource
from citywatch.sources.recorder import BufferedPacket, DecodedPicture, cut, decode
from citywatch.sources.still import MotionFeed
from citywatch.vision.record import FloatArray, Frame, ImageBGR

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class BoxMap:
    """Maps xyxy pixel boxes of a ``src`` frame (width, height) onto a ``dst`` frame."""

    src: tuple[int, int]
    dst: tuple[int, int]

    def __post_init__(self) -> None:
        if min(self.src) <= 0 or min(self.dst) <= 0:
            raise ValueError(f"BoxMap: frame sizes must be positive, got {self.src} -> {self.dst}")

    @property
    def scale(self) -> tuple[float, float]:
        return self.dst[0] / self.src[0], self.dst[1] / self.src[1]

    @property
    def identity(self) -> bool:
        return self.src == self.dst

    def boxes(self, xyxy: FloatArray) -> FloatArray:
        """The boxes on the destination frame, clipped to it."""
        b = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if self.identity:
            return b.copy()
        sx, sy = self.scale
        out = b * np.array([sx, sy, sx, sy], np.float32)
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0.0, float(self.dst[0]))
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0.0, float(self.dst[1]))
        return out

    def box(self, box: Box) -> Box:
        x0, y0, x1, y1 = (float(v) for v in self.boxes(np.asarray(box, np.float32))[0])
        return x0, y0, x1, y1


def size_of(image: ImageBGR) -> tuple[int, int]:
    """(width, height) of a picture."""
    return int(image.shape[1]), int(image.shape[0])


class ClockLink:
    """Lines up the substream's media time with the main stream's.

    ``live=False`` (files): both streams start at media time 0, the times are the same.
    ``live=True``: each side reports (media time, wall time when it arrived); the offset of
    a side is the smallest ``wall - media`` over the last ``window_s`` seconds (the delay of a
    reader that keeps up; a reconnect that moved the media clock is forgotten after the
    window).  A substream time ``t`` is ``t + sub_offset - main_offset`` on the main stream.
    Thread-safe: the main stream's reader and the analysis thread report to it."""

    def __init__(self, *, live: bool, window_s: float = 10.0, lead_s: float = 5.0) -> None:
        self.live = live
        self._window_s = window_s
        self._lead_s = lead_s
        self._cond = threading.Condition()
        self._lock = self._cond
        self._sides: dict[str, deque[tuple[float, float]]] = {"sub": deque(), "main": deque()}
        self._sub_latest: float | None = None
        self._closed = False

    def seen(self, side: str, media_s: float, wall_s: float) -> None:
        with self._cond:
            if side == "sub":
                self._sub_latest = media_s
                self._cond.notify_all()
            if not self.live:
                return
            q = self._sides[side]
            q.append((wall_s, wall_s - media_s))
            while q and q[0][0] < wall_s - self._window_s:
                q.popleft()

    def hold_main(self, media_s: float) -> None:
        """Files only: the main stream's reader waits here while it is more than ``lead_s``
        ahead of the analysed substream (a file is demuxed far faster than it is analysed;
        unpaced, the rolling buffer would hold the file's end while the substream is at its
        start).  A live stream never waits: it comes in real time on both sides."""
        if self.live:
            return
        with self._cond:
            while not self._closed and (
                self._sub_latest is None or media_s > self._sub_latest + self._lead_s
            ):
                self._cond.wait(0.1)

    def close(self) -> None:
        """The substream ended or stopped: the main stream's reader waits no more."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _offset(self, side: str) -> float | None:
        q = self._sides[side]
        return min(o for _, o in q) if q else None

    def to_main(self, sub_media_s: float) -> float:
        """The main stream's media time of substream time ``sub_media_s``."""
        if not self.live:
            return sub_media_s
        with self._lock:
            sub, main = self._offset("sub"), self._offset("main")
        if sub is None or main is None:
            return sub_media_s
        return sub_media_s + sub - main


@dataclass(frozen=True, slots=True)
class MainPicture:
    media_s: float
    image: ImageBGR
    decoded: int  # pictures decoded to find it (the cost of the snapshot)


def picture_at(
    packets: Sequence[BufferedPacket], media_s: float, *, tolerance_s: float = 0.5
) -> MainPicture | None:
    """The picture nearest to ``media_s`` among the buffered ``packets``: decodes from the
    last keyframe at or before it and stops at the first picture past it.  None when the
    buffer does not reach that time (within ``tolerance_s``)."""
    held = cut(packets, media_s, media_s + tolerance_s)
    if not held:
        return None
    best: DecodedPicture | None = None
    decoded = 0
    for pic in decode(held):
        decoded += 1
        if best is None or abs(pic.media_s - media_s) < abs(best.media_s - media_s):
            best = pic
        if pic.media_s >= media_s:
            break
    if best is None or abs(best.media_s - media_s) > tolerance_s:
        return None
    return MainPicture(best.media_s, best.image, decoded)  # the one picture converted


class ClockTap:
    """A packet tap that tells a :class:`ClockLink` when the main stream's packets arrive."""

    def __init__(self, link: ClockLink, clock: Callable[[], float] = time.time) -> None:
        self._link = link
        self._clock = clock

    def packet(self, packet: Packet, stream: VideoStream, media_s: float) -> None:
        self._link.hold_main(media_s)
        self._link.seen("main", media_s, self._clock())

    def ended(self) -> None:
        return None


class DualSource:
    """The frames of the substream (``analyse``), with the main stream (``main``, a
    demux-only source feeding its taps) read beside it in its own thread for as long as
    :meth:`frames` runs.  Health is the substream's; :attr:`main_health` is the other."""

    def __init__(self, analyse: CameraSource, main: CameraSource, link: ClockLink) -> None:
        if main.role != "main":
            raise ValueError("DualSource: the main source must be built with role='main'")
        self.camera_id = analyse.camera_id
        self.analyse = analyse
        self.main = main
        self.link = link
        self._stop = threading.Event()
        self.main_error = ""

    @property
    def health(self) -> CameraHealth:
        """The substream's health, with the main stream's state (and its last error) in
        ``main_stream`` and its picture size in ``main_width``/``main_height``."""
        main = self.main.health
        said = main.state.value + (f": {main.last_error}" if main.last_error else "")
        return dataclasses.replace(
            self.analyse.health,
            main_stream=said,
            main_width=main.width,
            main_height=main.height,
        )

    @property
    def main_health(self) -> CameraHealth:
        return self.main.health

    @property
    def is_live(self) -> bool:
        return self.analyse.is_live

    @property
    def motion_feed(self) -> MotionFeed:
        """The analysed stream's (only its decoding rests on a still scene)."""
        return self.analyse.motion_feed

    def stop(self) -> None:
        self._stop.set()
        self.link.close()
        self.analyse.stop()
        self.main.stop()

    def frames(self) -> Iterator[Frame]:
        reader = threading.Thread(
            target=self._read_main, name=f"main-{self.camera_id}", daemon=True
        )
        reader.start()
        try:
            for frame in self.analyse.frames():
                self.link.seen("sub", frame.pts_s, frame.wall_time)
                yield frame
        finally:
            self.link.close()
            self.main.stop()
            reader.join(timeout=5.0)

    def _read_main(self) -> None:
        try:
            for _ in self.main.frames():  # demux only: yields nothing
                pass
        except Exception as err:  # already redacted by the source
            self.main_error = str(err)
            log.warning("camera %s: main stream stopped: %s", self.camera_id, err)
