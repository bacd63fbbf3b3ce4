"""Evidence clips of alerts: cut from the camera's packet buffer, faces blurred, stored with
the alert.

The event recorder hands every alert it stored to :meth:`ClipMaker.alert_stored`.  The clip
is due once the buffer holds ``after_s`` past the last sighting (or the source ended, or
``wait_s`` wall seconds went by); it is cut from the last keyframe ``before_s`` before the
first sighting (:func:`citywatch.sources.recorder.cut`), decoded, redacted and re-encoded
(:func:`citywatch.vision.clips.redact_clip`) on a worker thread, never the camera's.  It is
written the way snapshots are: staged under a temporary name, the alert row updated (and the
audit entry ``alert.clip`` appended) in one transaction, then moved into place; a row that
does not commit leaves no file, a full or read-only folder leaves the reason in
``alerts.clip_error``.  The clip file lives as long as its alert: the retention job deletes
it with the row (``services/retention.py``), the orphan sweep whatever no row names.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, append
from citywatch.config.recording import ClipConfig
from citywatch.services.common import NotFoundError, unit_of_work
from citywatch.sources.recorder import BufferedPacket, DecodedPicture, PacketBuffer, cut, decode
from citywatch.store.media import MediaError, MediaStore, MediaWriteError
from citywatch.store.models import AlertRow
from citywatch.vision.clips import Keep, redact_clip
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.record import ImageBGR

log = logging.getLogger(__name__)

CLIP_KIND = "clip"
NOT_MADE = "clip could not be made"
_MAX_ERROR = 300
QUEUE_SIZE = 16
IDLE_EXIT_S = 2.0


@dataclass(frozen=True, slots=True)
class ClipRequest:
    alert_id: int
    event_id: str
    camera_id: str
    first_seen_s: float
    last_seen_s: float
    keep: Keep | None  # None: blur every face (plate alerts)
    asked_at: float  # monotonic


@dataclass
class ClipStats:
    made: int = 0
    failed: int = 0
    last_error: str = ""
    #: monotonic seconds from the alert's commit to its clip in place, per clip made
    ready_s: list[float] = field(default_factory=list)


Runner = Callable[[Callable[[], None]], None]


class _WorkerThread:
    """Runs jobs one at a time on a thread of its own, started when work arrives and gone
    after ``IDLE_EXIT_S`` without any (not a daemon: a clip in progress is finished before
    the process exits)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._unfinished = 0  # jobs queued or running
        self._idle = threading.Condition(self._lock)

    def __call__(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._unfinished += 1
        try:
            self._jobs.put_nowait(job)
        except queue.Full:  # the caller records it
            with self._lock:
                self._unfinished -= 1
            raise
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            try:
                job()
            except Exception:  # a job records its own failure; never kill the thread
                log.exception("%s: clip job failed", self._name)
            finally:
                with self._lock:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every job handed in so far has run; False if the timeout passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)


class ClipMaker:
    """One camera's clips.  Install it on its :class:`PacketBuffer` (``listener`` and
    ``on_end``) and give :meth:`alert_stored` to the event recorder."""

    def __init__(
        self,
        camera_id: str,
        buffer: PacketBuffer,
        sessions: sessionmaker[Session],
        media: MediaStore,
        detector: Callable[[], FaceDetector],
        *,
        config: ClipConfig,
        min_score: float,
        mask: Callable[[ImageBGR], ImageBGR] | None = None,
        run: Runner | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``detector`` is called when the first clip is made (a plate-only camera loads the
        face detector only then).  ``run`` runs a clip job (default: a worker thread; tests
        run it at once)."""
        self.camera_id = camera_id
        self.buffer = buffer
        self._sessions = sessions
        self._media = media
        self._detector = detector
        self._cfg = config
        self._min_score = min_score
        self._mask = mask
        self._worker = _WorkerThread(f"clips-{camera_id}") if run is None else None
        self._run: Runner = run if run is not None else self._worker  # type: ignore[assignment]
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pending: list[ClipRequest] = []
        self._ended = False
        self._actor = Actor.system("clips")
        self.stats = ClipStats()
        buffer.listener = self._arrived
        buffer.on_end = self.source_ended

    def __repr__(self) -> str:
        return f"ClipMaker({self.camera_id!r}, pending={len(self._pending)})"

    # ------------------------------------------------------------------ requests
    def alert_stored(self, row: AlertRow, box: tuple[float, float, float, float] | None) -> None:
        """The recorder committed an alert: ask for its clip.  ``box``: the matched face in
        the evidence picture (face alerts); ``None`` blurs every face."""
        keep = Keep(box, row.first_seen_s, row.last_seen_s) if box is not None else None
        req = ClipRequest(
            row.id,
            row.event_id,
            row.camera_id,
            row.first_seen_s,
            row.last_seen_s,
            keep,
            self._monotonic(),
        )
        with self._lock:
            self._pending.append(req)
        self._check(self.buffer.newest_s())

    def source_ended(self) -> None:
        """No packet follows: cut every pending clip with what the buffer holds."""
        with self._lock:
            self._ended = True
        self._check(None)

    def _arrived(self, newest_s: float) -> None:
        if self._pending:
            self._check(newest_s)

    def _check(self, newest_s: float | None) -> None:
        now = self._monotonic()
        with self._lock:
            due, wait = [], []
            for r in self._pending:
                arrived = newest_s is not None and newest_s >= r.last_seen_s + self._cfg.after_s
                if self._ended or arrived or now - r.asked_at >= self._cfg.wait_s:
                    due.append(r)
                else:
                    wait.append(r)
            self._pending = wait
        for r in due:
            start = r.first_seen_s - self._cfg.before_s
            packets = cut(self.buffer.snapshot(), start, r.last_seen_s + self._cfg.after_s)
            try:
                self._run(functools.partial(self._make, r, packets, start))
            except queue.Full:
                self._failed(r, f"{QUEUE_SIZE} clips already wait to be made")

    # ------------------------------------------------------------------ making
    def _make(self, req: ClipRequest, packets: list[BufferedPacket], start_s: float) -> None:
        if not packets:
            self._failed(req, "the camera's buffer no longer held those seconds")
            return
        try:
            first_s = packets[0].media_s - 1e-6

            def pictures() -> Iterator[DecodedPicture]:
                """The clip's pictures decoded afresh (redact_clip's two passes): one held
                at a time, not the whole clip."""
                return (d for d in decode(packets) if d.media_s >= first_s)

            if next(pictures(), None) is None:
                self._failed(req, "no picture of those seconds could be decoded")
                return
            info = packets[0].info
            clip = redact_clip(
                pictures,
                self._detector(),
                min_score=self._min_score,
                keep=req.keep,
                mask=self._mask,
                rate=info.rate,
            )
        except Exception as err:
            log.exception("camera %s alert %d: clip not made", req.camera_id, req.alert_id)
            self._failed(req, f"{type(err).__name__}: {err}")
            return
        try:
            staged = self._media.stage_clip(CLIP_KIND, req.event_id, clip.data)
        except (MediaWriteError, MediaError) as err:
            reason = err.reason if isinstance(err, MediaWriteError) else str(err)
            self._failed(req, reason)
            return
        with self._sessions() as session:
            row = session.get(AlertRow, req.alert_id)
            if row is None:  # deleted meanwhile: no clip without its alert
                self._media.discard(staged)
                return
            row.clip_path, row.clip_error = staged.rel, None
            append(
                session,
                self._actor,
                "alert.clip",
                f"alert:{req.alert_id}",
                details={
                    "camera_id": req.camera_id,
                    "from_s": round(clip.start_s, 3),
                    "to_s": round(clip.end_s, 3),
                    "pictures": clip.pictures,
                    "faces_blurred": clip.faces_blurred,
                    "matched_face_pictures": clip.kept,
                    "bytes": len(clip.data),
                },
            )
            try:
                session.commit()
            except BaseException:
                self._media.discard(staged)
                raise
        try:
            self._media.publish(staged)
        except MediaWriteError as err:
            self._media.discard(staged)
            self._failed(req, err.reason)
            return
        ready = self._monotonic() - req.asked_at
        self.stats.made += 1
        self.stats.ready_s.append(ready)
        del self.stats.ready_s[:-100]
        log.info(
            "camera %s alert %d: clip %.1f-%.1f s, %d pictures, %d faces blurred, %d bytes, "
            "ready %.2f s after the alert",
            req.camera_id,
            req.alert_id,
            clip.start_s,
            clip.end_s,
            clip.pictures,
            clip.faces_blurred,
            len(clip.data),
            ready,
        )

    def _failed(self, req: ClipRequest, reason: str) -> None:
        message = f"{NOT_MADE}: {reason}"[:_MAX_ERROR]
        self.stats.failed += 1
        self.stats.last_error = message
        log.error("camera %s alert %d: %s", req.camera_id, req.alert_id, message)
        try:
            with self._sessions() as session:
                row = session.get(AlertRow, req.alert_id)
                if row is not None:
                    row.clip_error = message
                    session.commit()
        except Exception:
            log.exception("camera %s alert %d: clip error not stored", req.camera_id, req.alert_id)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until the clips asked for so far are made or have failed (a run that ends
        reports its alerts with their clips in place); False if the timeout passed first."""
        return self._worker.drain(timeout) if self._worker is not None else True


def clip_for_playback(
    session: Session, actor: Actor, alert_id: int, *, byte_range: str | None
) -> str:
    """The media path of an alert's clip, for whoever may see the alert.  A playback is
    audited (``alert.clip.view``) when it starts: a request without a range or from byte 0;
    the further range requests a player makes while it plays or seeks are not (each would
    be the same view).  Raises :class:`NotFoundError` when the alert has no clip."""
    with unit_of_work(session):
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise NotFoundError(f"alert {alert_id} not found")
        if not row.clip_path:
            why = f": {row.clip_error}" if row.clip_error else " (yet)"
            raise NotFoundError(f"alert {alert_id} has no clip{why}")
        if starts_playback(byte_range):
            append(
                session,
                actor,
                "alert.clip.view",
                f"alert:{alert_id}",
                details={"kind": row.kind, "camera_id": row.camera_id},
            )
        return row.clip_path


def starts_playback(byte_range: str | None) -> bool:
    """``True`` for no ``Range`` header or one that starts at byte 0 (``bytes=0-``)."""
    if byte_range is None:
        return True
    unit, _, spec = byte_range.strip().partition("=")
    return unit.strip().lower() != "bytes" or spec.strip().startswith("0-")
