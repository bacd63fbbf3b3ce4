"""Recording segments' retention and the node's storage budget (issue 17).

:class:`RecordingHousekeeper` runs every ``recording.storage.check_every_s`` (a thread of its
own, so the budget holds between the daily retention sweeps) and with the retention
scheduler's jobs.  Each run:

1. deletes every camera's complete segments that ended more than its registered
   ``record_retain_hours`` ago (the register entry is the truth: ``cameras`` rows; a camera
   with segments and no period any more keeps them for the node's ``max_retain_hours``);
2. measures what the segments take and, past the budget, deletes the oldest segments of any
   camera until the rest fits (:func:`~citywatch.policy.recording.oldest_to_delete`);
3. says where the budget stands (``ok``, ``warning`` from ``warn_fraction``, ``over``) and
   logs each change of state once.

Rows are deleted first, with an audit entry that gives the counts and the cutoff or the
budget (never a path), then their files; a file that cannot be removed is counted and left
to :meth:`RecordingHousekeeper.sweep_files` (run with the retention scheduler's jobs:
segment files no row names and temporary files no segment in progress owns, once older
than an hour).  Every deletion is logged with its counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, append
from citywatch.config.recording import StorageConfig
from citywatch.policy.recording import (
    BUDGET_OK,
    BUDGET_OVER,
    budget_state,
    oldest_to_delete,
    recording_cutoff,
)
from citywatch.services import recordings
from citywatch.services.recordings import Segment
from citywatch.services.segment_recorder import PARTIAL_SUFFIX, SALVAGE_SUFFIX, recover_partials
from citywatch.store.media import MediaError, MediaStore
from citywatch.store.models import CameraRow, RecordingSegmentRow
from citywatch.store.types import utcnow

log = logging.getLogger(__name__)

SYSTEM_ACTOR = Actor.system("recording")
BATCH = 500
RECORDING_KIND = "recording"
FILE_GRACE = dt.timedelta(hours=1)
#: A segment still incomplete this long after its start is not being written any more (a
#: segment is at most 600 s): the retention job finishes or discards it.
ABANDONED_AFTER = dt.timedelta(hours=2)


def _owner(folder: str, name: str) -> str | None:
    """``.<seg>.mp4.partial`` (or ``.salvage``) -> ``<folder>/<seg>.mp4``; None otherwise."""
    for suffix in (PARTIAL_SUFFIX, SALVAGE_SUFFIX):
        if name.startswith(".") and name.endswith(suffix):
            return f"{folder}/{name[1 : -len(suffix)]}"
    return None


@dataclass(slots=True)
class StorageReport:
    """One run: what retention and the budget deleted, and where the budget stands."""

    at: dt.datetime
    used_bytes: int = 0
    budget_bytes: int = 0
    state: str = BUDGET_OK
    retention_deleted: dict[str, int] = field(default_factory=dict)  # per camera
    budget_deleted: int = 0
    freed_bytes: int = 0
    files_failed: int = 0

    def as_health(self) -> dict[str, object]:
        return {
            "state": self.state,
            "used_bytes": self.used_bytes,
            "budget_bytes": self.budget_bytes,
            "at": self.at.isoformat(),
        }


class RecordingHousekeeper:
    """Retention and budget of the recording segments (see the module)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaStore,
        storage: StorageConfig,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        actor: Actor = SYSTEM_ACTOR,
    ) -> None:
        self._sessions = sessions
        self._media = media
        self._storage = storage
        self._clock = clock
        self._actor = actor
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: StorageReport | None = None
        self._state = BUDGET_OK

    def __repr__(self) -> str:
        return f"RecordingHousekeeper(budget={self._storage.budget_gb:g} GB)"

    # ------------------------------------------------------------------ one run
    def run_once(self) -> StorageReport:
        """Retention, then the budget.  Safe to call from several threads (serialised)."""
        with self._lock:
            report = StorageReport(at=self._clock(), budget_bytes=self._storage.budget_bytes)
            self._retention(report)
            self._budget(report)
            self.last = report
            self._say_state(report)
            return report

    def _retention(self, report: StorageReport) -> None:
        with self._sessions() as session:
            cams = recordings.recorded_cameras(session)
            periods = dict(
                session.execute(
                    select(CameraRow.id, CameraRow.record_retain_hours).where(
                        CameraRow.id.in_(cams)
                    )
                ).all()
            )
        for cam in cams:
            hours = periods.get(cam) or self._storage.max_retain_hours
            cutoff = recording_cutoff(report.at, hours)
            deleted = 0
            while True:
                with self._sessions() as session:
                    gone = recordings.delete_segments_before(
                        session, cam, cutoff, limit=BATCH, on_delete=self._audit_retention(cutoff)
                    )
                self._remove_files(gone, report)
                deleted += len(gone)
                if len(gone) < BATCH:
                    break
            if deleted:
                report.retention_deleted[cam] = deleted
                log.info(
                    "recording retention: camera %s: %d segment(s) deleted (ended before %s, "
                    "kept %g h)",
                    cam,
                    deleted,
                    cutoff.isoformat(timespec="seconds"),
                    hours,
                )

    def _budget(self, report: StorageReport) -> None:
        budget = self._storage.budget_bytes
        with self._sessions() as session:
            used = recordings.total_bytes(session)
        while used > budget:
            with self._sessions() as session:
                oldest = recordings.oldest_segments(session, BATCH)
            count = oldest_to_delete([s.bytes for s in oldest], used, budget)
            if count == 0:
                break  # only segments being written: nothing to delete
            with self._sessions() as session:
                gone = recordings.delete_segments(
                    session,
                    [s.id for s in oldest[:count]],
                    on_delete=self._audit_budget(used, budget),
                )
            if not gone:
                break
            freed = sum(s.bytes for s in gone)
            used -= freed
            report.budget_deleted += len(gone)
            report.freed_bytes += freed
            self._remove_files(gone, report)
        if report.budget_deleted:
            log.warning(
                "recording budget: %d oldest segment(s) deleted, %.3f GB freed, %.3f of %.3f GB "
                "used",
                report.budget_deleted,
                report.freed_bytes / 1e9,
                used / 1e9,
                budget / 1e9,
            )
        report.used_bytes = used
        report.state = budget_state(used, budget, self._storage.warn_fraction)

    def _audit_retention(self, cutoff: dt.datetime) -> recordings.OnDelete:
        def audit(session: Session, gone: list[Segment]) -> None:
            append(
                session,
                self._actor,
                "recording.retention",
                f"camera:{gone[0].camera_id}",
                details={"deleted": len(gone), "cutoff": cutoff.isoformat()},
            )

        return audit

    def _audit_budget(self, used: int, budget: int) -> recordings.OnDelete:
        def audit(session: Session, gone: list[Segment]) -> None:
            append(
                session,
                self._actor,
                "recording.budget",
                "recording",
                details={
                    "deleted": len(gone),
                    "bytes": sum(s.bytes for s in gone),
                    "used_bytes": used,
                    "budget_bytes": budget,
                    "cameras": sorted({s.camera_id for s in gone}),
                },
            )

        return audit

    def _remove_files(self, gone: list[Segment], report: StorageReport) -> None:
        for seg in gone:
            try:
                self._media.delete(seg.path)
            except (OSError, MediaError) as err:
                report.files_failed += 1
                log.warning(
                    "recording: segment file of camera %s not removed: %s", seg.camera_id, err
                )

    def _say_state(self, report: StorageReport) -> None:
        if report.state == self._state:
            return
        self._state = report.state
        pct = 100.0 * report.used_bytes / report.budget_bytes
        if report.state == BUDGET_OK:
            log.info("recording budget: back under the warning level (%.1f %% used)", pct)
        elif report.state == BUDGET_OVER:
            log.error("recording budget: over (%.1f %% used) and nothing more can be deleted", pct)
        else:
            log.warning(
                "recording budget: %.1f %% of %.3f GB used (warning from %.0f %%; the oldest "
                "segments are deleted past 100 %%)",
                pct,
                report.budget_bytes / 1e9,
                100 * self._storage.warn_fraction,
            )

    def retention_job(self) -> StorageReport:
        """The retention scheduler's job: a run; the partial segments left long ago (a camera
        that no longer records is never restarted to finish them) finished or discarded;
        then the sweep of files no row names."""
        report = self.run_once()
        recover_partials(self._sessions, self._media, started_before=report.at - ABANDONED_AFTER)
        self.sweep_files()
        return report

    def sweep_files(self, grace: dt.timedelta = FILE_GRACE) -> int:
        """Remove files under ``recording/`` that no segment row names (a deletion whose
        file removal failed) and temporary files of segments no longer being written, once
        older than ``grace``; returns how many went."""
        with self._sessions() as session:
            rows = session.execute(
                select(RecordingSegmentRow.path, RecordingSegmentRow.complete)
            ).all()
        named = {path for path, _ in rows}
        in_progress = {path for path, complete in rows if not complete}
        horizon = (self._clock() - grace).timestamp()
        removed = 0
        for found in self._media.files(RECORDING_KIND):
            if found.mtime > horizon:
                continue
            folder, _, name = found.rel.rpartition("/")
            owner = _owner(folder, name)
            keep = found.rel in named if owner is None else owner in in_progress
            if keep:
                continue
            try:
                if self._media.delete(found.rel):
                    removed += 1
            except (OSError, MediaError) as err:
                log.warning("recording: stray file not removed: %s", err)
        if removed:
            log.info("recording: %d stray segment file(s) removed", removed)
        return removed

    # ------------------------------------------------------------------ thread
    def _loop(self) -> None:
        while not self._stop.wait(self._storage.check_every_s):
            try:
                self.run_once()
            except Exception:  # never kill the thread; the next run comes as planned
                log.exception("recording housekeeping failed; the next run comes as planned")

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("RecordingHousekeeper already started")
        self._thread = threading.Thread(
            target=self._loop, name="citywatch-recording-storage", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
