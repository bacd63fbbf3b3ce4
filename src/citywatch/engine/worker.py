"""A camera worker: source -> pipeline -> sink, with backpressure.

A reader thread decodes frames from the source into a :class:`FrameSlot`; the analysis loop
takes them out.  For a live camera the slot holds one frame and the newest wins (analysis
that falls behind drops frames and reports it, memory never grows); for recorded footage
(evidence review) the slot blocks the reader so that every sampled frame is analysed.

Results the sink cannot take (the database is away) wait in memory, bounded, and go with the
next batch.  Nothing decided is dropped silently: results pushed out of the full buffer, and
those still waiting when the worker ends (after a few retries), are counted in
``WorkerStats.results_lost``, logged and put in ``last_error``; the engines report the count
and `citywatch run` exits non-zero naming it.

The worker is built from explicit dependencies only, so it runs the same in a thread, a
process or a Ray actor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from citywatch.decisions.types import Sighting
from citywatch.engine.allocator import HeapTrimmer
from citywatch.services.evidence import MediaHealth
from citywatch.services.segment_recorder import RecordingHealth
from citywatch.sources.still import MotionFeed
from citywatch.vision.record import Frame, FrameRecord

log = logging.getLogger(__name__)


class FrameSourceLike(Protocol):
    def frames(self) -> Iterator[Frame]: ...

    def stop(self) -> None: ...


class PipelineLike(Protocol):
    """``process`` returns the frame's record; ``record.frame`` is the picture as analysed
    (privacy masks applied), the only one the worker passes on."""

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]: ...

    def flush(self) -> list[Sighting]: ...


class SightingSink(Protocol):
    def handle(self, camera_id: str, sightings: list[Sighting]) -> None: ...


class FrameSlot:
    """A bounded hand-over between the reader and the analyser.

    ``newest_wins=True``: ``put`` never blocks; when full the oldest frame is dropped and
    counted.  ``newest_wins=False``: ``put`` blocks until there is room (recorded footage).
    """

    def __init__(self, capacity: int = 1, *, newest_wins: bool = True) -> None:
        self._items: deque[Frame | None] = deque()
        self._capacity = capacity
        self._newest_wins = newest_wins
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame | None) -> None:
        """Hand over a frame; ``None`` marks the end of the stream."""
        with self._cond:
            if frame is not None and not self._newest_wins:
                while len(self._items) >= self._capacity and not self._closed:
                    self._cond.wait(0.1)
            if self._closed:
                return
            if frame is not None and len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None at the end of the stream (or on close / timeout)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class WorkerStats:
    analysed: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""
    last_latency_ms: float = 0.0
    lag_s: float = 0.0
    #: results decided but never stored (the buffer overflowed, or still waiting at the end)
    results_lost: int = 0
    #: the media folder's error while snapshots cannot be written ("" = fine)
    media_error: str = ""
    #: evidence snapshots that could not be written (their rows were stored without them)
    snapshots_failed: int = 0
    #: continuous recording: "" (not recorded), waiting, recording, failed, stopped
    recording: str = ""
    #: why recording failed ("" = fine); the analysis goes on regardless
    recording_error: str = ""


#: Waits between the last tries to store results still pending when the worker ends.
DRAIN_WAITS_S = (0.5, 1.0, 2.0, 2.0)


class CameraWorker:
    """Runs one camera until its source ends or :meth:`stop` is called."""

    def __init__(
        self,
        camera_id: str,
        source: FrameSourceLike,
        pipeline: PipelineLike,
        sink: SightingSink,
        *,
        live: bool = True,
        pace: bool = False,
        clock: Callable[[], float] = time.time,
        on_frame: Callable[[Frame], None] | None = None,
        pending_limit: int = 10_000,
        media_health: Callable[[], MediaHealth] | None = None,
        recording_health: Callable[[], RecordingHealth] | None = None,
        drain_waits_s: tuple[float, ...] = DRAIN_WAITS_S,
        sleep: Callable[[float], None] = time.sleep,
        trimmer: HeapTrimmer | None = None,
        motion_feed: MotionFeed | None = None,
    ) -> None:
        """``media_health``: the snapshot writer's state, copied into :attr:`stats`;
        ``recording_health`` likewise for the camera's continuous recording.
        ``drain_waits_s``/``sleep``: the retries of results still pending at the end.
        ``trimmer``: the process's C-heap trimmer, asked after each frame (it trims on its
        own schedule, shared by every worker of the process).  ``motion_feed``: the source's
        (``CameraSource.motion_feed``), told whether each analysed frame moved, so that the
        source's decoder rests on a still scene (frames without a motion gate, and frames
        whose analysis failed, count as moving)."""
        self.camera_id = camera_id
        self._source = source
        self._pipeline = pipeline
        self._sink = sink
        self._pace = pace
        self._clock = clock
        self._on_frame = on_frame
        self._slot = FrameSlot(1 if live else 4, newest_wins=live)
        self._stop = threading.Event()
        # Bounded: a store that stays away for hours must not eat the machine's memory.
        self._pending: deque[Sighting] = deque()
        self._pending_limit = pending_limit
        self._media_health = media_health
        self._recording_health = recording_health
        self._drain_waits_s = drain_waits_s
        self._sleep = sleep
        self._trimmer = trimmer
        self._motion_feed = motion_feed
        self._store_error = ""
        self.stats = WorkerStats()
        self.last_frame: Frame | None = None

    # --- reader side -------------------------------------------------------------------
    def _read(self) -> None:
        start_wall: float | None = None
        start_pts = 0.0
        try:
            for frame in self._source.frames():
                if self._stop.is_set():
                    break
                if self._pace:
                    # A looped file stands in for a live camera: release frames in real time.
                    if start_wall is None:
                        start_wall, start_pts = time.monotonic(), frame.pts_s
                    delay = (frame.pts_s - start_pts) - (time.monotonic() - start_wall)
                    if delay > 0 and self._stop.wait(delay):
                        break
                self._slot.put(frame)
        except Exception as err:  # the source already redacts its messages
            self.stats.errors += 1
            self.stats.last_error = str(err)
            log.error("camera %s: source stopped: %s", self.camera_id, err)
        finally:
            self._slot.put(None)

    # --- analysis side -----------------------------------------------------------------
    @property
    def trimmer(self) -> HeapTrimmer | None:
        """The process's C-heap trimmer this worker asks after each frame (None: none)."""
        return self._trimmer

    @property
    def pipeline(self) -> PipelineLike:
        """The stages this worker drives (health reads the face decider's entry statistics)."""
        return self._pipeline

    def run(self) -> WorkerStats:
        reader = threading.Thread(target=self._read, name=f"read-{self.camera_id}", daemon=True)
        reader.start()
        try:
            while not self._stop.is_set():
                frame = self._slot.get(timeout=0.5)
                if frame is None:
                    if not reader.is_alive() and len(self._slot) == 0:
                        break
                    continue
                self._analyse(frame)
                if self._trimmer is not None:
                    self._trimmer.maybe_trim()
        finally:
            self._source.stop()
            self._slot.close()
            reader.join(timeout=5)
            try:
                self._emit(self._pipeline.flush())
            finally:
                self._drain()
            self.stats.dropped = self._slot.dropped
        return self.stats

    def _analyse(self, frame: Frame) -> None:
        try:
            record, sightings = self._pipeline.process(frame)
        except Exception as err:
            # One bad frame must not stop the camera; the error is kept for its health.
            self.stats.errors += 1
            self.stats.last_error = f"analysis failed: {type(err).__name__}: {err}"
            log.exception("camera %s: frame %d analysis failed", self.camera_id, frame.index)
            if self._motion_feed is not None:
                self._motion_feed.seen(frame.index, frame.pts_s, True)
            return
        if self._motion_feed is not None:
            motion = record.motion
            self._motion_feed.seen(frame.index, frame.pts_s, motion is None or motion.moving)
        self.stats.analysed += 1
        # The frame as analysed (privacy masks blacked out), never the decoded one: the live
        # view must not show what the masks hide.  Replaced on each frame, never kept.
        seen = record.frame
        self.last_frame = seen
        now = self._clock()
        self.stats.lag_s = max(0.0, now - frame.wall_time)
        self.stats.last_latency_ms = self.stats.lag_s * 1000.0
        if self._on_frame is not None:
            self._on_frame(seen)
        self._emit(sightings)
        self._copy_recording_health()

    def _emit(self, sightings: list[Sighting]) -> None:
        """Hand results to the sink; when it fails (database gone), keep them and retry with
        the next batch, so nothing decided is lost while the store is away; beyond
        ``pending_limit`` the oldest are dropped, counted and logged."""
        self._pending.extend(sightings)
        over = len(self._pending) - self._pending_limit
        if over > 0:
            for _ in range(over):
                self._pending.popleft()
            self._lost(over, f"more than {self._pending_limit} results waited for the store")
        if not self._pending:
            return
        batch = list(self._pending)
        try:
            self._sink.handle(self.camera_id, batch)
        except Exception as err:
            self.stats.errors += 1
            self._store_error = f"{type(err).__name__}: {err}"
            self.stats.last_error = f"storing results failed: {self._store_error}"
            log.error(
                "camera %s: could not store %d results (kept for retry): %s",
                self.camera_id,
                len(batch),
                err,
            )
            return
        finally:
            self._copy_media_health()
        self._pending.clear()

    def _copy_media_health(self) -> None:
        if self._media_health is not None:
            media = self._media_health()
            self.stats.media_error = media.error
            self.stats.snapshots_failed = media.failed

    def _copy_recording_health(self) -> None:
        if self._recording_health is not None:
            recording = self._recording_health()
            self.stats.recording = recording.state
            self.stats.recording_error = recording.error

    def _drain(self) -> None:
        """The worker ends: retry what is still pending a few times, then count the rest as
        lost and say so (never dropped silently)."""
        for wait in self._drain_waits_s:
            if not self._pending:
                return
            self._sleep(wait)
            self._emit([])
        if self._pending:
            lost = len(self._pending)
            self._pending.clear()
            self._lost(
                lost, f"the store did not take them before the camera stopped ({self._store_error})"
            )

    def _lost(self, count: int, why: str) -> None:
        self.stats.results_lost += count
        self.stats.errors += 1
        self.stats.last_error = f"{count} result(s) lost: {why}"
        log.error("camera %s: %d result(s) lost: %s", self.camera_id, count, why)

    @property
    def pending(self) -> int:
        """Results decided but not yet stored (the sink failed)."""
        return len(self._pending)

    def stop(self) -> None:
        self._stop.set()
        self._source.stop()
        self._slot.close()


def results_lost(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Per camera, results decided and never stored, from health records taken after the
    engine stopped: what the worker counted as lost, plus what still waited in a worker that
    did not end in time.  Cameras that lost nothing are left out."""
    out: dict[str, int] = {}
    for camera_id, record in records.items():
        worker = record.get("worker")
        counted = worker.get("results_lost", 0) if isinstance(worker, dict) else 0
        waiting = record.get("pending_results", 0)
        n = (counted if isinstance(counted, int) else 0) + (
            waiting if isinstance(waiting, int) else 0
        )
        if n > 0:
            out[camera_id] = n
    return out
