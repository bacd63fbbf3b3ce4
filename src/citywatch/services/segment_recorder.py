"""Continuous recording of one camera: its packets, stream-copied into segment files.

:class:`SegmentRecorder` is a :class:`~citywatch.sources.recorder.PacketTap` beside the clip
buffer: the camera's thread hands it every demuxed packet (a copy goes into a queue bounded
in bytes; nothing is decoded, nothing waits on the disk), and a writer thread of its own
muxes them into fragmented MP4 segments of ``segment_s`` seconds, each starting on a
keyframe (:class:`~citywatch.sources.segments.SegmentMuxer`).

A segment's row is added when it starts (``complete`` false) and its file written under a
temporary name beside its place (``.<name>.partial``); when it is finished the file is
fsynced, hashed and renamed into place, then the row is finished (end, size, SHA-256).
:func:`recover_partials`, run before a camera records again, finishes a partial segment
that a crash or ``kill -9`` left (what it holds up to its last whole fragment is written
again as a whole file) or, when nothing is readable, discards it: playback never sees a
partial segment as whole.

A full disk, a read-only folder, a database that refuses the row or a stream that cannot be
copied: the segment in progress is dropped, :meth:`SegmentRecorder.health` says ``failed``
and why, one log line says so, and the writer tries again at a keyframe ``retry_s`` later;
the camera's analysis never sees any of it.  A camera that drops (the source ends, a
reconnect, no packet for ``idle_finish_s``) finishes the segment in progress: it is whole up
to its last packet.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from av.packet import Packet
from av.video.stream import VideoStream
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from citywatch.services import recordings
from citywatch.services.recordings import Segment
from citywatch.sources.recorder import BufferedPacket, StreamInfo
from citywatch.sources.segments import SegmentError, SegmentMuxer, salvage
from citywatch.store.media import MediaError, MediaStore, describe_os_error
from citywatch.store.types import from_unix

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
SALVAGE_SUFFIX = ".salvage"
QUEUE_MAX_BYTES = 64 * 1024 * 1024
RETRY_S = 30.0
IDLE_FINISH_S = 10.0

OFF, WAITING, RECORDING, FAILED, STOPPED = "off", "waiting", "recording", "failed", "stopped"


def partial_path(final: Path) -> Path:
    """Where a segment is written until it is finished: ``.<name>.partial`` beside it."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


@dataclass(frozen=True, slots=True)
class RecordingHealth:
    """One camera's recording.  ``state``: off, waiting (for a keyframe), recording,
    failed (``error`` says why; retried), stopped."""

    state: str = OFF
    error: str = ""
    error_at: float | None = None
    segments: int = 0  # finished and committed since start
    bytes: int = 0
    dropped_packets: int = 0  # not recorded: queue full, or while failed
    salvaged: int = 0  # partial segments finished at start
    discarded: int = 0  # partial segments with nothing readable, removed at start


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    salvaged: int = 0
    discarded: int = 0


def recover_partials(
    sessions: sessionmaker[Session],
    media: MediaStore,
    camera_id: str | None = None,
    *,
    started_before: dt.datetime | None = None,
) -> RecoveryReport:
    """Finish or discard every incomplete segment (of ``camera_id``, or of all cameras; only
    those started before ``started_before`` when given, so that segments still being written
    are left alone): what its file holds up to its last whole fragment becomes a whole
    segment (rehashed, its end from the packets), or, when nothing is readable, the row and
    files go."""
    salvaged = discarded = 0
    with sessions() as session:
        partials = recordings.incomplete_segments(session, camera_id)
    if started_before is not None:
        partials = [p for p in partials if p.started_at < started_before]
    for seg in partials:
        final = media.path(seg.path)
        partial = partial_path(final)
        source = partial if partial.exists() else final if final.exists() else None
        temp = final.with_name(f".{final.name}{SALVAGE_SUFFIX}")
        got = salvage(source, temp) if source is not None else None
        with sessions() as session:
            if got is None:
                recordings.discard_segment(session, seg.id)
                for p in (partial, final, temp):
                    p.unlink(missing_ok=True)
                discarded += 1
                continue
            os.replace(temp, final)
            partial.unlink(missing_ok=True)
            recordings.finish_segment(
                session,
                seg.id,
                ended_at=seg.started_at + dt.timedelta(seconds=max(got.seconds, 0.0)),
                size_bytes=got.segment.size,
                sha256=got.segment.sha256,
            )
            salvaged += 1
    if salvaged or discarded:
        log.warning(
            "recording%s: %d partial segment(s) finished, %d discarded (nothing readable)",
            f" of camera {camera_id}" if camera_id else "",
            salvaged,
            discarded,
        )
    return RecoveryReport(salvaged, discarded)


@dataclass
class _Open:
    segment: Segment
    muxer: SegmentMuxer
    final: Path


_END = object()


class SegmentRecorder:
    """Records one camera (see the module).  ``packet``/``ended`` are called by the camera's
    thread; :meth:`health` and :meth:`close` from any."""

    def __init__(
        self,
        camera_id: str,
        sessions: sessionmaker[Session],
        media: MediaStore,
        *,
        segment_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        queue_max_bytes: int = QUEUE_MAX_BYTES,
        retry_s: float = RETRY_S,
        idle_finish_s: float = IDLE_FINISH_S,
    ) -> None:
        if segment_s <= 0 or queue_max_bytes <= 0:
            raise ValueError(f"camera {camera_id!r}: segment_s and queue_max_bytes must be > 0")
        self.camera_id = camera_id
        self._sessions = sessions
        self._media = media
        self.segment_s = segment_s
        self._clock = clock
        self._max_bytes = queue_max_bytes
        self._retry_s = retry_s
        self._idle_s = idle_finish_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._queued_bytes = 0
        self._need_key = False  # packets were dropped: wait for a keyframe, then cut
        self._stream: VideoStream | None = None
        self._info: StreamInfo | None = None
        self._thread: threading.Thread | None = None
        self._health = RecordingHealth(state=WAITING)
        self._open: _Open | None = None
        self._retry_at = 0.0
        self._last_end: dt.datetime | None = None

    def __repr__(self) -> str:
        return f"SegmentRecorder({self.camera_id!r}, state={self.health().state!r})"

    # ------------------------------------------------------------------ camera thread
    def packet(self, packet: Packet, stream: VideoStream, media_s: float) -> None:
        """Copy the packet into the queue (never raises, never waits)."""
        if packet.size == 0:
            return
        if stream is not self._stream:
            self._stream, self._info = stream, StreamInfo.of(stream)
        assert self._info is not None
        item = BufferedPacket(
            media_s, bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe), self._info
        )
        self.add(item)

    def add(self, item: BufferedPacket, wall: float | None = None) -> None:
        """Queue one packet copy (``wall``: its Unix time, default now)."""
        at = self._clock() if wall is None else wall
        with self._lock:
            gap = False
            if self._need_key:
                if not item.keyframe:
                    self._count_dropped()
                    return
                gap, self._need_key = True, False
            if self._queued_bytes + len(item.data) > self._max_bytes:
                self._need_key = True
                self._count_dropped()
                return
            self._queued_bytes += len(item.data)
            self._queue.put((at, item, gap))
            self._ensure_writer()

    def ended(self) -> None:
        """The source stopped: the segment in progress is finished."""
        with self._lock:
            self._queue.put(_END)
            self._ensure_writer()

    def _ensure_writer(self) -> None:
        """Start the writer thread unless it runs (called holding the lock)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"citywatch-record-{self.camera_id}", daemon=False
            )
            self._thread.start()

    def _count_dropped(self) -> None:
        self._health = replace(self._health, dropped_packets=self._health.dropped_packets + 1)

    # ------------------------------------------------------------------ any thread
    def health(self) -> RecordingHealth:
        with self._lock:
            return self._health

    def drain(self) -> None:
        """Wait until every queued packet is written (tests, benchmarks)."""
        self._queue.join()

    def close(self, timeout: float = 30.0) -> RecordingHealth:
        """Finish the segment in progress and wait for the writer (tests, shutdown)."""
        with self._lock:
            self._queue.put(_END)
            self._ensure_writer()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            if self._health.state != FAILED:
                self._health = replace(self._health, state=STOPPED)
            return self._health

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                self._finish()  # the camera went quiet: what we have is whole
                if self._exit_if_idle():
                    return
                continue
            try:
                if item is _END:
                    self._finish()
                    self._stopped()
                else:
                    assert isinstance(item, tuple)
                    at, pkt, gap = item
                    with self._lock:
                        self._queued_bytes -= len(pkt.data)
                    self._handle(at, pkt, gap)
            finally:
                self._queue.task_done()
            if item is _END and self._exit_if_idle():
                return

    def _exit_if_idle(self) -> bool:
        with self._lock:
            if self._queue.empty():
                self._thread = None
                return True
            return False

    def _handle(self, at: float, pkt: BufferedPacket, gap: bool) -> None:
        cur = self._open
        if cur is not None and (
            gap
            or pkt.info is not cur.muxer.info
            or (pkt.keyframe and pkt.media_s - cur.muxer.first_s >= self.segment_s - 1e-6)
        ):
            self._finish()
            cur = None
        if cur is None:
            if not pkt.keyframe:
                return  # a segment starts on a keyframe
            if self._health.state == FAILED and self._clock() < self._retry_at:
                with self._lock:
                    self._count_dropped()
                return
            self._begin(at, pkt)
            return
        try:
            cur.muxer.add(pkt)
        except (OSError, SegmentError) as err:
            self._fail(err)

    def _begin(self, at: float, pkt: BufferedPacket) -> None:
        started = from_unix(at)
        if self._last_end is not None and started < self._last_end:
            started = self._last_end  # segments of one camera never overlap
        rel = recordings.segment_path(self.camera_id, started)
        seg: Segment | None = None
        try:
            final = self._media.path(rel)
            final.parent.mkdir(parents=True, exist_ok=True)
            with self._sessions() as session:
                seg = recordings.add_segment(session, self.camera_id, started, rel)
            muxer = SegmentMuxer(partial_path(final), pkt)
        except (OSError, SegmentError, SQLAlchemyError, MediaError) as err:
            self._fail(err, seg)
            return
        self._open = _Open(seg, muxer, final)
        if self._health.state != RECORDING:
            self._set_state(RECORDING)

    def _finish(self) -> None:
        cur, self._open = self._open, None
        if cur is None:
            return
        try:
            written = cur.muxer.close()
            os.replace(written.path, cur.final)
            ended = cur.segment.started_at + dt.timedelta(seconds=written.end_s - written.first_s)
            with self._sessions() as session:
                recordings.finish_segment(
                    session,
                    cur.segment.id,
                    ended_at=ended,
                    size_bytes=written.size,
                    sha256=written.sha256,
                )
        except (OSError, SegmentError, SQLAlchemyError) as err:
            self._fail(err, cur.segment, cur)
            return
        self._last_end = ended
        with self._lock:
            h = self._health
            self._health = replace(h, segments=h.segments + 1, bytes=h.bytes + written.size)

    def _fail(
        self, err: BaseException, seg: Segment | None = None, cur: _Open | None = None
    ) -> None:
        """Drop the segment in progress (file and row), say why once, retry later."""
        cur = cur or self._open
        self._open = None
        if cur is not None:
            cur.muxer.abandon()
            seg = cur.segment
        if seg is not None:
            try:
                with self._sessions() as session:
                    recordings.discard_segment(session, seg.id)
                if cur is not None:
                    cur.final.unlink(missing_ok=True)
            except (SQLAlchemyError, OSError):
                pass  # the row stays incomplete: recover_partials finishes or removes it
        reason = _describe(err)
        self._retry_at = self._clock() + self._retry_s
        with self._lock:
            first = self._health.state != FAILED or self._health.error != reason
            self._health = replace(self._health, state=FAILED, error=reason, error_at=self._clock())
        if first:
            log.error(
                "camera %s: recording stopped: %s; analysis goes on, retried every %g s",
                self.camera_id,
                reason,
                self._retry_s,
            )

    def _stopped(self) -> None:
        """The source ended: nothing records until packets come again (a failure stays)."""
        with self._lock:
            if self._health.state != FAILED:
                self._health = replace(self._health, state=STOPPED)

    def _set_state(self, state: str) -> None:
        with self._lock:
            was = self._health.state
            self._health = replace(self._health, state=state, error="", error_at=None)
        if was == FAILED:
            log.warning("camera %s: recording again", self.camera_id)


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError):
        return f"media folder: {describe_os_error(err)}"
    if isinstance(err, SQLAlchemyError):
        return f"database: {type(err).__name__}"
    return str(err)
