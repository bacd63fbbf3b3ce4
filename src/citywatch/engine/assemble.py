"""Builds camera pipelines from config and explicit dependencies.

:class:`Models` holds the model back ends of one process, loaded once and shared by its
cameras (onnxruntime sessions and dlib predictors are safe to call from several threads).
Per-camera state (motion model, trackers, open tracks) lives in the pipeline.
Which stages a camera gets is decided here from a :class:`Permissions` value that the service
layer computed by policy: no permission, no stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.faces import FaceTrackDecider
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.plates import PlateTrackVoter
from citywatch.engine.pipeline import CameraPipeline
from citywatch.vision.faces.base import FaceDetector, FaceEmbedder, FaceLandmarker
from citywatch.vision.faces.registry import build_detector, build_embedder, build_landmarker
from citywatch.vision.faces.stage import FaceStage
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.motion import MotionGate
from citywatch.vision.plates.base import PlateDetector, PlateReader
from citywatch.vision.plates.build import build_plate_models
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.tracking import ByteTracker
from citywatch.vision.vehicles.describe import VehicleDescriber
from citywatch.vision.vehicles.registry import build_describer_or_none


@dataclass(frozen=True, slots=True)
class Permissions:
    """What policy allows this camera to analyse now, with the reasons (for health/logs)."""

    faces: bool
    plates: bool
    reasons: tuple[str, ...] = ()


@dataclass
class Models:
    """Model back ends, built lazily: a plate-only deployment never loads face models."""

    config: CitywatchConfig
    _face_detector: FaceDetector | None = field(default=None, repr=False)
    _landmarker: FaceLandmarker | None = field(default=None, repr=False)
    _embedder: FaceEmbedder | None = field(default=None, repr=False)
    _plates: tuple[PlateDetector, PlateReader] | None = field(default=None, repr=False)
    _vehicles: VehicleDescriber | None = field(default=None, repr=False)
    _vehicles_built: bool = field(default=False, repr=False)

    @property
    def face_detector(self) -> FaceDetector:
        if self._face_detector is None:
            self._face_detector = build_detector(
                self.config.faces.detector, threads=self.config.models.threads
            )
        return self._face_detector

    @property
    def landmarker(self) -> FaceLandmarker:
        if self._landmarker is None:
            self._landmarker = build_landmarker()
        return self._landmarker

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = build_embedder(
                self.config.faces.embedder,
                self.config.models.cache_dir,
                threads=self.config.models.threads,
            )
        return self._embedder

    @property
    def plates(self) -> tuple[PlateDetector, PlateReader]:
        if self._plates is None:
            self._plates = build_plate_models(self.config.plates, self.config.models.cache_dir)
        return self._plates

    @property
    def vehicles(self) -> VehicleDescriber | None:
        """Type and colour for plate reads; None when switched off or when the detector
        cannot be built (logged once, naming the file: plates are read without them)."""
        if not self._vehicles_built:
            self._vehicles = build_describer_or_none(self.config.plates.vehicles)
            self._vehicles_built = True
        return self._vehicles


def build_pipeline(
    camera: CameraConfig,
    config: CitywatchConfig,
    models: Models,
    permissions: Permissions,
    gallery: Gallery | None,
    *,
    motion: bool = True,
    idle_search: bool = True,
    clock: Callable[[], float] = time.time,
) -> CameraPipeline:
    """The pipeline for one camera.  Faces need the permission AND a non-empty gallery:
    with nobody to look for, no face is embedded at all.  ``idle_search`` False: every
    moving frame is searched whatever ``idle_search_every`` says (a scan of stored footage
    under a case, where thoroughness counts more than CPU)."""
    faces_on = permissions.faces and gallery is not None and len(gallery) > 0
    face_stage = decider = None
    if faces_on and gallery is not None:
        face_stage = FaceStage(
            models.face_detector,
            models.landmarker,
            ByteTracker(frame_rate=camera.analyse_fps, lost_s=config.faces.track_lost_s),
            config.faces,
            idle_search=idle_search,
        )
        decider = FaceTrackDecider(gallery, models.embedder, config.faces, camera.id, clock=clock)
    plate_stage = voter = None
    if permissions.plates:
        detector, reader = models.plates
        plate_stage = PlateStage(
            detector,
            reader,
            PlateTracker.from_config(config.plates.tracker),
            config.plates,
            vehicles=models.vehicles,
            idle_search=idle_search,
        )
        voter = PlateTrackVoter(config.plates, camera.id, clock=clock)
    return CameraPipeline(
        camera_id=camera.id,
        motion=MotionGate() if motion else None,
        faces=face_stage,
        face_decider=decider,
        plates=plate_stage,
        plate_voter=voter,
        # Evidence is stored: blur the faces in plate evidence, whether or not faces are
        # analysed, and any face a match's frame holds that the face stage did not search.
        redactor=models.face_detector if plate_stage or face_stage else None,
        masker=privacy_masker(camera),
        clock=clock,
    )


def privacy_masker(camera: CameraConfig) -> PrivacyMasker | None:
    """The camera's privacy masks, or None when it has none."""
    if not camera.privacy_masks:
        return None
    return PrivacyMasker([m.points for m in camera.privacy_masks])
