"""Hands a worker's sightings to the service layer (store, audit, alerts)."""

from __future__ import annotations

import logging
from typing import Protocol

from citywatch.decisions.types import FaceMatch, FaceTrackCount, PlateRead, Sighting
from citywatch.services.common import NotFoundError, PermissionDenied

log = logging.getLogger(__name__)


class Recorder(Protocol):
    def record_face_match(self, m: FaceMatch) -> int | None: ...

    def record_plate_read(self, r: PlateRead) -> tuple[int, int | None]: ...

    def record_face_count(self, c: FaceTrackCount) -> None: ...


class RecorderSink:
    """Stores results through an :class:`EventRecorder`.

    Face matches and plate reads are written with idempotent event ids, so a batch that is
    retried after a store outage is never duplicated; face counts are merged into one count
    per batch and written last, once the idempotent writes have gone through.
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self.refused = 0

    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        """Store a batch.  A refusal by policy (camera no longer registered or authorised) is
        final for that sighting: it is dropped, logged, and the rest of the batch goes on.
        Any other error (the database went away) propagates so the worker retries."""
        tracks = 0
        last_wall = 0.0
        for s in sightings:
            try:
                if isinstance(s, FaceMatch):
                    self._recorder.record_face_match(s)
                elif isinstance(s, PlateRead):
                    self._recorder.record_plate_read(s)
                else:
                    tracks += s.tracks
                    last_wall = max(last_wall, s.wall_time)
            except (PermissionDenied, NotFoundError) as err:
                self.refused += 1
                log.warning("camera %s: result not stored: %s", camera_id, err)
        if tracks:
            self._recorder.record_face_count(FaceTrackCount(camera_id, tracks, last_wall))
