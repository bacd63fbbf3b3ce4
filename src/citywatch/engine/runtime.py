"""Wires the service layer to camera pipelines for the embedded (local) engine.

Policy decides, per camera and at run time, what may be analysed: the camera's registration
(purposes, legal basis, impact assessment, approval) and, for faces, a live authorisation
covering it with a non-empty watchlist.  The gallery and the hotlist are reloaded from the
store every ``refresh_s`` seconds on the camera's own analysis thread, so an authorisation that
expires switches face matching off on the next refresh without a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from citywatch.config.camera import CameraConfig, Purpose
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.hotlist import HotlistMatcher, HotlistMatchResult
from citywatch.decisions.types import PlateRead
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.pipeline import CameraPipeline
from citywatch.policy.register import camera_may_analyse
from citywatch.services.authorisations import face_recognition_decision
from citywatch.services.cameras import camera_facts, get_camera
from citywatch.services.hotlists import hotlist_entries
from citywatch.services.watchlists import GalleryData, load_gallery
from citywatch.vision.faces.stage import FaceStage
from citywatch.vision.record import Frame
from citywatch.vision.tracking import ByteTracker

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def gallery_from(data: GalleryData) -> Gallery:
    return Gallery.build(data.embeddings, data.subject_ids, data.subject_names, data.watchlist_ids)


def camera_permissions(session: Session, camera: CameraConfig, now: dt.datetime) -> Permissions:
    """What policy allows this (registered) camera to analyse at ``now``."""
    facts = camera_facts(get_camera(session, camera.id))
    reasons: list[str] = []
    plates = camera_may_analyse(facts, Purpose.PLATE.value, now)
    reasons.append(f"plates: {plates.reason}")
    faces = face_recognition_decision(session, camera.id, now)
    reasons.append(f"faces: {faces.reason}")
    return Permissions(faces=faces.allowed, plates=plates.allowed, reasons=tuple(reasons))


class ReloadingHotlist:
    """The hotlist matcher, rebuilt from the store at most every ``refresh_s`` seconds.

    Thread-safe: every camera's recorder calls it.  A failed reload keeps the last good list
    (a database blip must not empty the hotlist) and logs the error.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: CitywatchConfig,
        *,
        refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cfg = config.plates
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._matcher: HotlistMatcher | None = None
        self._loaded_at = -float("inf")

    def _current(self) -> HotlistMatcher | None:
        with self._lock:
            if self._clock() - self._loaded_at >= self._refresh_s:
                try:
                    with self._sessions() as session:
                        entries = hotlist_entries(session)
                    self._matcher = HotlistMatcher.configured(entries, self._cfg)
                except Exception as err:
                    log.error("hotlist reload failed, keeping the last one: %s", err)
                self._loaded_at = self._clock()
            return self._matcher

    def __call__(self, read: PlateRead) -> HotlistMatchResult | None:
        matcher = self._current()
        return None if matcher is None else matcher.match(read.text)


@dataclass
class PipelineRefresher:
    """Keeps one camera's face stage in step with policy and the watchlists.

    Called on the camera's analysis thread after each frame; reloads at most every
    ``refresh_s`` seconds.  Face matching is switched on when a live authorisation with a
    non-empty watchlist covers the camera, and off (tracks dropped, nothing kept) when not.
    """

    camera: CameraConfig
    config: CitywatchConfig
    models: Models
    sessions: sessionmaker[Session]
    pipeline: CameraPipeline
    refresh_s: float = 30.0
    now: Callable[[], dt.datetime] = utcnow
    _last: float = 0.0

    def __call__(self, frame: Frame) -> None:
        t = time.monotonic()
        if t - self._last < self.refresh_s:
            return
        self._last = t
        try:
            self.refresh()
        except Exception as err:
            log.error("camera %s: policy/watchlist refresh failed: %s", self.camera.id, err)

    def refresh(self) -> None:
        with self.sessions() as session:
            perms = camera_permissions(session, self.camera, self.now())
            data = (
                load_gallery(session, self.camera.id, self.now(), dim=self.models.embedder.dim)
                if perms.faces
                else None
            )
        gallery = gallery_from(data) if data is not None and data.size else None
        p = self.pipeline
        if gallery is None:
            if p.face_decider is not None:
                log.info("camera %s: face matching off (%s)", self.camera.id, perms.reasons)
                p.face_decider.flush()  # ends open tracks; unmatched faces are forgotten
            p.faces, p.face_decider = None, None
            return
        if p.face_decider is None:
            fresh = build_pipeline(self.camera, self.config, self.models, perms, gallery)
            p.faces, p.face_decider = fresh.faces, fresh.face_decider
            log.info("camera %s: face matching on (%d embeddings)", self.camera.id, len(gallery))
        else:
            p.face_decider.gallery = gallery
        if p.faces is None:  # pragma: no cover - build_pipeline sets both
            p.faces = FaceStage(
                self.models.face_detector,
                self.models.landmarker,
                ByteTracker(frame_rate=self.camera.analyse_fps),
                self.config.faces,
            )


def initial_pipeline(
    camera: CameraConfig,
    config: CitywatchConfig,
    models: Models,
    sessions: sessionmaker[Session],
    now: dt.datetime,
) -> tuple[CameraPipeline, Permissions]:
    with sessions() as session:
        perms = camera_permissions(session, camera, now)
        data = (
            load_gallery(session, camera.id, now, dim=models.embedder.dim) if perms.faces else None
        )
    gallery = gallery_from(data) if data is not None and data.size else None
    return build_pipeline(camera, config, models, perms, gallery), perms
