"""Evidence snapshots of the rows the recorder stores, and the health of the media folder.

:class:`EvidenceWriter` stages a snapshot before its row's transaction commits (so a full or
read-only media folder is known while the row can still say so), publishes it after the
commit and discards it when the transaction does not commit: a snapshot is never left on disk
for a row that does not exist (see :mod:`citywatch.store.media`).  A snapshot that cannot be
written never stops the row: the row is stored without it and says why in ``snapshot_error``,
and the writer's :class:`MediaHealth` carries the error to the camera's health until a write
succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from citywatch.store.media import MediaError, MediaStore, MediaWriteError, StagedFile
from citywatch.vision.record import ImageBGR

log = logging.getLogger(__name__)

#: How a row says its snapshot is missing (``snapshot_error``), followed by the reason.
NOT_WRITTEN = "snapshot could not be written"
_MAX_ERROR = 300  # the column's width


def not_written(reason: str) -> str:
    """``snapshot could not be written: <reason>``, cut to the column's width."""
    return f"{NOT_WRITTEN}: {reason}"[:_MAX_ERROR]


@dataclass(frozen=True, slots=True)
class MediaHealth:
    """Snapshot writes of one recorder.  ``error`` is the last failure while no write has
    succeeded since ("" = the folder takes files); ``error_at`` its Unix time."""

    written: int = 0
    failed: int = 0
    error: str = ""
    error_at: float | None = None


class EvidenceWriter:
    """Stages, publishes and discards snapshots; counts what could not be written.

    Thread-safe.  ``clock`` gives the Unix time a failure is stamped with."""

    def __init__(self, media: MediaStore, *, clock: Callable[[], float] = time.time) -> None:
        self.media = media
        self._clock = clock
        self._lock = threading.Lock()
        self._health = MediaHealth()

    def __repr__(self) -> str:
        return f"EvidenceWriter({self.media!r})"

    def health(self) -> MediaHealth:
        with self._lock:
            return self._health

    def _ok(self) -> None:
        with self._lock:
            h = self._health
            self._health = MediaHealth(h.written + 1, h.failed)

    def _failed(self, message: str) -> None:
        with self._lock:
            h = self._health
            self._health = MediaHealth(h.written, h.failed + 1, message, self._clock())

    def stage(
        self, kind: str, event_id: str, image: ImageBGR
    ) -> tuple[StagedFile | None, str | None]:
        """``(staged, None)``, or ``(None, snapshot_error)`` when it cannot be written."""
        try:
            return self.media.stage(kind, event_id, image), None
        except MediaWriteError as err:
            log.error("evidence snapshot %s not written, stored without it: %s", kind, err)
            self._failed(f"snapshots cannot be written to {self.media.root}: {err.reason}")
            return None, not_written(err.reason)
        except MediaError as err:  # a refused image: the folder is fine
            log.error("evidence snapshot %s not written, stored without it: %s", kind, err)
            return None, not_written(str(err))

    def publish(self, staged: StagedFile | None) -> str | None:
        """Move a staged snapshot into place after its row committed; the row's
        ``snapshot_error`` when that fails (``None``: done, or nothing to do)."""
        if staged is None:
            return None
        try:
            self.media.publish(staged)
        except MediaWriteError as err:
            log.error("evidence snapshot %s not moved into place: %s", staged.rel, err)
            self._failed(f"snapshots cannot be written to {self.media.root}: {err.reason}")
            self.media.discard(staged)
            return not_written(err.reason)
        self._ok()
        return None

    def discard(self, staged: StagedFile | None) -> None:
        """Remove a staged snapshot whose row did not commit."""
        if staged is not None and not self.media.discard(staged):
            log.warning("staged snapshot %s left behind; the orphan sweep removes it", staged.temp)
