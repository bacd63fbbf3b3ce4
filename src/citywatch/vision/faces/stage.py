"""The face stage of a camera pipeline: detect -> landmarks -> quality -> track.

Every detected face stays on the record (with quality 0 when it is below the floors): the
tracker keeps identities through a turned head, the face count sees everyone, and evidence
redaction must blur every face, good or bad.  Which faces are worth embedding is the decision
layer's call (:func:`citywatch.vision.faces.quality.usable`).

A frame without motion (``record.motion.moving`` false) is not searched; the tracker still
ages its tracks.  Otherwise the detector searches the whole frame, every moving frame while
a face has been found within ``track_lost_s``, every ``idle_search_every``-th one while none
has (:mod:`citywatch.vision.cadence`).  Searching only the motion
regions was measured and dropped: at 5 fps it found 84 of 176 faces on the 1080p crowd clip
(people who pause, heads outside the moving blobs) for no saving (the full frame is downscaled
to 960 px anyway: ~same pixels as the regions at full resolution), and 83 of 129 faces on the
640x360 Hamilton clip for 40 % less time.
"""

from __future__ import annotations

import numpy as np

from citywatch.config.faces import FacesConfig
from citywatch.vision.cadence import SearchCadence
from citywatch.vision.faces.base import FaceDetector, FaceLandmarker
from citywatch.vision.faces.quality import score_quality, usable
from citywatch.vision.record import Detections, FrameRecord, ImageBGR, Motion
from citywatch.vision.tracking import Tracker


def detect_faces(
    image: ImageBGR,
    detector: FaceDetector,
    landmarker: FaceLandmarker | None,
    cfg: FacesConfig,
) -> Detections:
    """The usable faces of a still image (enrolment, scanning a photo): landmarks and quality
    filled, faces below the floors (``min_face_px``, ``min_sharpness``, ``min_quality``)
    dropped, no tracking."""
    faces = _describe(image, detector.detect(image), landmarker, cfg)
    return faces.select(usable(faces, cfg))


def _describe(
    image: ImageBGR, dets: Detections, landmarker: FaceLandmarker | None, cfg: FacesConfig
) -> Detections:
    if dets.landmarks is None:
        if landmarker is None:
            raise ValueError(
                "face stage: the detector gives no landmarks and no landmarker was passed"
            )
        lm = landmarker.landmarks(image, dets.xyxy)
        dets = Detections(
            xyxy=dets.xyxy,
            score=dets.score,
            track_id=dets.track_id,
            landmarks=np.asarray(lm, np.float32).reshape(len(dets), 5, 2),
        )
    return score_quality(dets, image, cfg)


class FaceStage:
    """Fills ``record.faces``: tracked faces with landmarks and quality.  One per camera (the
    tracker holds that camera's state)."""

    def __init__(
        self,
        detector: FaceDetector,
        landmarker: FaceLandmarker | None,
        tracker: Tracker,
        cfg: FacesConfig,
        *,
        idle_search: bool = True,
    ) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.tracker = tracker
        self.cfg = cfg
        # how often moving frames are searched while no face is found (vision/cadence.py);
        # idle_search False: every moving frame, always (a scan of stored footage)
        self.cadence = SearchCadence(
            every=cfg.idle_search_every if idle_search else 1, rest_s=cfg.track_lost_s
        )

    def __repr__(self) -> str:
        return f"FaceStage(detector={self.detector!r}, landmarker={self.landmarker!r})"

    def detect(self, image: ImageBGR, motion: Motion | None = None) -> Detections:
        """Untracked faces of one frame (landmarks and quality filled)."""
        if motion is not None and not motion.moving:
            return _empty()
        return _describe(image, self.detector.detect(image), self.landmarker, self.cfg)

    def detect_faces(self, image: ImageBGR) -> Detections:
        """The usable faces of a still image, no tracking (see :func:`detect_faces`)."""
        return detect_faces(image, self.detector, self.landmarker, self.cfg)

    def process(self, record: FrameRecord) -> FrameRecord:
        """Fill ``record.faces`` (tracked).  A still frame's picture is not looked at (nor
        converted to BGR); a moving one is searched as :attr:`cadence` says."""
        pts = record.frame.pts_s
        still = record.motion is not None and not record.motion.moving
        if still:
            self.cadence.still()
        if still or not self.cadence.due(pts):
            dets = _empty()
        else:
            dets = self.detect(record.frame.image, record.motion)
            self.cadence.saw(pts, len(dets) > 0)
        record.faces = self.tracker.update(dets, pts)
        return record


def _empty() -> Detections:
    e = Detections.empty()
    return Detections(
        xyxy=e.xyxy,
        score=e.score,
        track_id=e.track_id,
        landmarks=np.zeros((0, 5, 2), np.float32),
        quality=np.zeros(0, np.float32),
    )
