"""The embedded platform: config + store + models + alert delivery + camera workers.

Shared by `citywatch run`, `citywatch demo` and the tests: one place that turns a config into
running cameras, so the entry points stay thin.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.build import build_dispatcher
from citywatch.alerts.dispatcher import Dispatcher
from citywatch.alerts.sink import AlertSink
from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import heap_trimmer
from citywatch.engine.assemble import Models, Permissions
from citywatch.engine.camera import build_camera_worker
from citywatch.engine.local import CameraRun, LocalEngine
from citywatch.engine.runtime import (
    ReloadingHotlist,
    utcnow,
)
from citywatch.services.cameras import RegistrationError, register_camera
from citywatch.services.lifecycle import LifecycleSweeper
from citywatch.services.outbox import AlertOutbox, install_outbox, outbox_sweep_job
from citywatch.services.recording_storage import RecordingHousekeeper
from citywatch.services.retention import RetentionScheduler
from citywatch.sources.health import CameraHealth
from citywatch.sources.mainstream import DualSource
from citywatch.sources.pyav import CameraSource
from citywatch.store.media import MediaStore
from citywatch.vision.faces.stage import detect_faces
from citywatch.vision.prepared import require_prepared_models
from citywatch.vision.record import FloatArray, ImageBGR

log = logging.getLogger(__name__)


def make_embed_faces(models: Models, config: CitywatchConfig) -> Callable[[ImageBGR], FloatArray]:
    """``image -> (K, dim)`` for enrolment.  Only a photo with exactly one face is embedded:
    for any other count the rows are zeros, never computed, because the service refuses such a
    photo and a bystander's face must not be turned into biometrics at all."""

    def embed_faces(image: ImageBGR) -> FloatArray:
        dim = models.embedder.dim
        # Count every face the detector is sure of, however small or poor: a bystander in
        # the corner of a portrait makes it a group photo, refused without embedding anyone.
        found = models.face_detector.detect(image)
        seen = int((found.score >= config.faces.detector.min_score).sum())
        if seen != 1:
            return np.zeros((seen, dim), np.float32)
        faces = detect_faces(image, models.face_detector, models.landmarker, config.faces)
        if len(faces) != 1 or faces.landmarks is None:
            return np.zeros((0, dim), np.float32)  # the one face is not good enough
        return models.embedder.embed(image, faces.landmarks)

    return embed_faces


def start_housekeeping(
    config: CitywatchConfig, sessions: sessionmaker[Session], media: MediaStore
) -> RetentionScheduler:
    """The retention sweep, the authorisation lifecycle sweep (lapsed urgent
    authorisations purged, expired watchlists destroyed), the alert outbox sweep (delivered
    rows deleted, undelivered ones expired) and the recording segments' retention, started on
    the configured schedule; while a camera records, the recording's retention and storage
    budget also run every ``recording.storage.check_every_s``."""
    lifecycle = LifecycleSweeper(sessions, media)
    outbox = outbox_sweep_job(sessions, config.alerts, config.retention.rules().alerts_pending)
    recording = RecordingHousekeeper(sessions, media, config.recording.storage)
    scheduler = RetentionScheduler.from_config(
        config.retention, sessions, media, jobs=[lifecycle.run, outbox, recording.retention_job]
    )
    scheduler.start()
    if any(cam.recording.enabled for cam in config.cameras):
        recording.start()  # the budget is checked every recording.storage.check_every_s
    return scheduler


@dataclass
class CameraStart:
    camera: CameraConfig
    permissions: Permissions | None = None
    error: str = ""


def start_notes(config: CitywatchConfig, starts: Sequence[CameraStart]) -> list[str]:
    """Advice on the config for whoever started the cameras: a plate format list that mixes
    regions, when some camera reads plates (:func:`~citywatch.vision.plates.build.\
mixed_regions_note`)."""
    from citywatch.vision.plates.build import mixed_regions_note

    if not any(s.permissions is not None and s.permissions.plates for s in starts):
        return []
    note = mixed_regions_note(config.plates.formats)
    return [note] if note else []


@dataclass
class Platform:
    config: CitywatchConfig
    sessions: sessionmaker[Session]
    media: MediaStore
    models: Models
    dispatcher: Dispatcher
    actor: Actor
    now: Callable[[], dt.datetime] = utcnow
    starts: list[CameraStart] = field(default_factory=list)
    outbox: AlertOutbox | None = None  # durable webhook/MQTT delivery (None: switched off)

    @classmethod
    def create(
        cls,
        config: CitywatchConfig,
        sessions: sessionmaker[Session],
        actor: Actor,
        console: Console | None = None,
        *,
        extra_sinks: Sequence[AlertSink] = (),
    ) -> Platform:
        """``extra_sinks`` get every alert too (the API's live event hub).  Alerts stored
        through ``sessions`` get their webhook/MQTT outbox rows in their own transaction, and
        the dispatcher delivers from the outbox (rows left by an earlier run included).

        The face threshold comes from the model card when one is configured; a looser one is
        refused unless an override reason is given, and the override is audited.  A prepared
        model the cameras need and that is missing is a ``ModelsNotPrepared`` (a ValueError)."""
        from citywatch.eval.model_card import apply_and_audit

        require_prepared_models(config)  # before anything runs: names `citywatch models prepare`
        config, point = apply_and_audit(config, sessions, actor)
        log.info("faces: %s", point.describe())
        outbox = install_outbox(sessions, config.alerts)
        return cls(
            config=config,
            sessions=sessions,
            media=MediaStore(config.store.media_dir),
            models=Models(config),
            dispatcher=build_dispatcher(
                config.alerts, console, extra_sinks=extra_sinks, outbox=outbox
            ),
            actor=actor,
            outbox=outbox,
        )

    def start_housekeeping(self) -> RetentionScheduler:
        return start_housekeeping(self.config, self.sessions, self.media)

    def register_cameras(self) -> list[CameraStart]:
        """Register every configured camera.  A refused camera (no legal basis, ...) is
        reported with its reasons and does not stop the others."""
        self.starts = []
        for cam in self.config.cameras:
            start = CameraStart(cam)
            try:
                with self.sessions() as session:
                    register_camera(
                        session,
                        cam,
                        self.actor,
                        max_record_hours=self.config.recording.storage.max_retain_hours,
                    )
            except RegistrationError as err:
                start.error = str(err)
                log.error("%s", err)
            self.starts.append(start)
        return self.starts

    def build_engine(
        self,
        *,
        live: bool | None = None,
        pace: bool | None = None,
        refresh_s: float = 30.0,
    ) -> LocalEngine:
        """One worker per registered camera.  ``live``/``pace`` default from each source:
        network streams are live; looped files are paced like a live camera.  The workers
        share one C-heap trimmer (``engine.heap_trim_every_s``)."""
        hotlist = ReloadingHotlist(self.sessions, self.config)
        trimmer = heap_trimmer(self.config.engine.heap_trim_every_s)
        runs: list[CameraRun] = []
        for start in self.starts or self.register_cameras():
            if start.error:
                continue
            cam = start.camera
            try:
                parts = build_camera_worker(
                    cam,
                    self.config,
                    self.models,
                    self.sessions,
                    self.media,
                    hotlist,
                    self.dispatcher.publish,
                    now=self.now(),
                    live=live,
                    pace=pace,
                    refresh_s=refresh_s,
                    trimmer=trimmer,
                )
            except Exception as err:
                start.error = f"camera {cam.id!r}: cannot start analysis: {err}"
                log.error("%s", start.error)
                continue
            perms = start.permissions = parts.permissions
            if not (perms.faces or perms.plates):
                start.error = f"camera {cam.id!r}: nothing may be analysed ({perms.reasons})"
                log.warning("%s", start.error)
            runs.append(
                CameraRun(worker=parts.worker, health=_health_of(parts.source), clips=parts.clips)
            )
        return LocalEngine(runs, state_dir=self.config.store.state_dir)


def _health_of(source: CameraSource | DualSource) -> Callable[[], CameraHealth]:
    def health() -> CameraHealth:
        return source.health

    return health
