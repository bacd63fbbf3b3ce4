"""The face stage of a camera pipeline: detect -> landmarks -> quality -> track.

Every detected face stays on the record (with quality 0 when it is below the floors): the
tracker keeps identities through a turned head, the face count sees everyone, and evidence
redaction must blur every face, good or bad.  Which faces are worth embedding is the decision
layer's call (:func:`citywatch.vision.faces.quality.usable`).

A frame without motion (``record.motion.moving`` false) is not searched; the tracker still
ages its tracks.  Otherwise the detector searches every moving frame while a face has been
found within ``track_lost_s``, every ``idle_search_every``-th one while none has
(:mod:`citywatch.vision.cadence`).  While faces are tracked, the whole frame is searched
only every ``whole_frame_every``-th moving frame; the frames between are searched only around
the faces the tracker follows (each box grown by twice its size on every side, at the scale of
a whole-frame search: :class:`~citywatch.vision.faces.base.RegionFaceDetector`), so every
tracked face keeps a detection, landmarks and quality on every moving frame, and a new face
elsewhere is found at the next whole-frame search (between two, with nothing tracked, nothing
is searched).  The whole frame is searched instead when the windows would cover more than
:data:`MAX_WINDOW_SHARE` of it, and on the first moving frame after a still one.

Searching only the motion regions was measured and dropped: at 5 fps it found 84 of 176 faces
on the 1080p crowd clip (people who pause, heads outside the moving blobs) for no saving (the
full frame is downscaled to 960 px anyway: ~same pixels as the regions at full resolution), and
83 of 129 faces on the 640x360 Hamilton clip for 40 % less time.
"""

from __future__ import annotations

import numpy as np

from citywatch.config.faces import FacesConfig
from citywatch.vision.boxes import merge_boxes
from citywatch.vision.cadence import SearchCadence
from citywatch.vision.faces.base import FaceDetector, FaceLandmarker, RegionFaceDetector
from citywatch.vision.faces.quality import score_quality, usable
from citywatch.vision.record import (
    Detections,
    FloatArray,
    Frame,
    FrameRecord,
    ImageBGR,
    Motion,
)
from citywatch.vision.redact import grown_boxes
from citywatch.vision.tracking import Tracker

#: Windows around tracked faces covering more of the frame than this: the whole frame instead
#: (no saving left, and a crowd is better searched whole).
MAX_WINDOW_SHARE = 0.5
#: Each tracked face's box grows by this much of its size on every side into its window: a
#: face moves well under its own width in one analysed frame (0.2 s at 5 fps), and the detector
#: scores a face as in the whole frame only with context around it (grown by 1, 1.5, 2, 3 on
#: the quiet clip's 288 faces: 17, 8, 6, 3 lost, all but one under the 0.6 floor).
WINDOW_GROW = 2.0


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
        # whole frames every n-th moving frame while faces are tracked (1: always whole)
        self.whole_every = cfg.whole_frame_every if idle_search else 1
        self._since_whole = 0  # searches since the last whole-frame one (0: whole next)
        self._tracked: FloatArray = np.zeros((0, 4), np.float32)

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
            self._since_whole = 0
        if still or not self.cadence.due(pts):
            dets = _empty()
        else:
            dets = self._search(record)
            self.cadence.saw(pts, len(dets) > 0)
        record.faces = self.tracker.update(dets, pts)
        self._tracked = record.faces.xyxy
        return record

    def _search(self, record: FrameRecord) -> Detections:
        """The faces of a moving frame the cadence searches: only around the tracked faces
        between whole-frame searches where that can be done, else the whole frame."""
        if 0 < self._since_whole < self.whole_every:
            around = self._around_tracked(record.frame)
            if around is not None:
                self._since_whole += 1
                self.cadence.windowed += 1
                return around
        self._since_whole = 1
        return self.detect(record.frame.image, record.motion)

    def _around_tracked(self, frame: Frame) -> Detections | None:
        """The faces around the tracked ones (with none tracked, nothing: a new face waits for
        the next whole-frame search, and the picture is not even converted), or None: search
        the whole frame (the detector cannot search windows, or they would cover too much)."""
        if not isinstance(self.detector, RegionFaceDetector):
            return None
        if len(self._tracked) == 0:
            return _empty()
        image = frame.image
        h, w = image.shape[:2]
        windows = face_windows(self._tracked, w, h)
        area = float(np.sum((windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1])))
        if area > MAX_WINDOW_SHARE * w * h:
            return None
        found = self.detector.detect_regions(image, windows)
        return None if found is None else _describe(image, found, self.landmarker, self.cfg)


def face_windows(
    xyxy: FloatArray, width: int, height: int, grow: float = WINDOW_GROW
) -> FloatArray:
    """Windows around face boxes: each grown by ``grow`` of its size on every side and clipped
    to the frame, as evidence blurring grows them (whole pixels), overlapping ones merged (so
    no face is found twice)."""
    return merge_boxes(grown_boxes(xyxy, width, height, grow).astype(np.float32))


def _empty() -> Detections:
    e = Detections.empty()
    return Detections(
        xyxy=e.xyxy,
        score=e.score,
        track_id=e.track_id,
        landmarks=np.zeros((0, 5, 2), np.float32),
        quality=np.zeros(0, np.float32),
    )
