"""Face quality: is this face worth embedding?  Pure functions of boxes, landmarks and pixels.

Four parts, each 0..1, combined by a geometric mean (any part at 0 makes the face unusable):

* **size** -- the face side against :data:`GOOD_FACE_PX` (the dlib chip holds ~100 px of face:
  bigger adds nothing).
* **sharpness** -- variance of the Laplacian of the face crop resampled to
  :data:`SHARPNESS_PX` square (so the figure does not grow with face size), mapped through
  ``1 - exp(-v / SHARP_SCALE)``.
* **detector score** -- as the detector gave it.
* **frontalness** -- from the 5 landmarks: how far the nose base sits from the middle of the
  eyes along the eye line (yaw) and how far below the eye line it sits, against the dlib
  mean-face template (pitch).  Faces without landmarks get a neutral 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from citywatch.config.faces import FacesConfig
from citywatch.vision.record import Detections, FloatArray, ImageBGR

GOOD_FACE_PX = 100.0
SHARPNESS_PX = 64
SHARP_SCALE = 50.0  # video faces: sharp ~60-150, soft ~5-25 (Laplacian variance at 64 px)
#: Nose base below the eye line, over the eye distance, in dlib's mean-face template.
TEMPLATE_NOSE_DROP = 0.774
PITCH_TOLERANCE = 0.6  # relative deviation of the nose drop at which pitch scores 0
YAW_TOLERANCE = 0.8  # nose offset (in half eye distances) at which yaw scores 0


@dataclass(frozen=True, slots=True)
class QualityParts:
    """Each part per face, (N,) float32, 0..1; ``sharpness_raw`` is the Laplacian variance."""

    size: FloatArray
    sharpness: FloatArray
    sharpness_raw: FloatArray
    score: FloatArray
    frontal: FloatArray

    @property
    def quality(self) -> FloatArray:
        parts = np.stack([self.size, self.sharpness, self.score, self.frontal])
        return np.prod(np.clip(parts, 0.0, 1.0), axis=0) ** 0.25


def face_sides(xyxy: FloatArray) -> FloatArray:
    """The shorter side of each box, px."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]).astype(np.float32)


def size_score(sides: FloatArray, good_px: float = GOOD_FACE_PX) -> FloatArray:
    return np.clip(np.asarray(sides, np.float32) / good_px, 0.0, 1.0).astype(np.float32)


def laplacian_variance(image: ImageBGR, xyxy: FloatArray, px: int = SHARPNESS_PX) -> FloatArray:
    """Variance of the Laplacian of each face crop resampled to ``px`` x ``px`` grey (0 for a
    box that lies outside the image)."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    out = np.zeros(len(boxes), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        xa, ya = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        xb, yb = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if xb - xa < 2 or yb - ya < 2:
            continue
        crop = cv2.cvtColor(image[ya:yb, xa:xb], cv2.COLOR_BGR2GRAY)
        # INTER_AREA when shrinking (averages, no aliasing), linear when enlarging.
        big = crop.shape[0] > px or crop.shape[1] > px
        crop = cv2.resize(crop, (px, px), interpolation=cv2.INTER_AREA if big else cv2.INTER_LINEAR)
        out[i] = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    return out


def sharpness_score(variance: FloatArray, scale: float = SHARP_SCALE) -> FloatArray:
    v = np.maximum(np.asarray(variance, np.float32), 0.0)
    return (1.0 - np.exp(-v / scale)).astype(np.float32)


def frontal_score(landmarks: FloatArray) -> FloatArray:
    """0..1 per face from dlib-order 5-point landmarks (N, 5, 2); 1 = frontal."""
    lm = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
    eye_a = lm[:, 0:2].mean(axis=1)
    eye_b = lm[:, 2:4].mean(axis=1)
    axis = eye_a - eye_b
    dist = np.linalg.norm(axis, axis=1)
    ok = dist > 1e-3
    unit = axis / np.maximum(dist, 1e-3)[:, None]
    rel = lm[:, 4] - (eye_a + eye_b) / 2
    along = np.abs((rel * unit).sum(axis=1))  # yaw: sideways shift of the nose
    across = rel[:, 1] * unit[:, 0] - rel[:, 0] * unit[:, 1]  # signed drop below the eye line
    half = np.maximum(dist / 2, 1e-3)
    yaw = np.clip(1.0 - along / half / YAW_TOLERANCE, 0.0, 1.0)
    drop = across / np.maximum(dist, 1e-3)
    pitch = np.clip(
        1.0 - np.abs(drop - TEMPLATE_NOSE_DROP) / TEMPLATE_NOSE_DROP / PITCH_TOLERANCE, 0.0, 1.0
    )
    return np.where(ok, yaw * pitch, 0.0).astype(np.float32)


def assess(dets: Detections, image: ImageBGR) -> QualityParts:
    """Every part for every face of ``dets`` in ``image``."""
    raw = laplacian_variance(image, dets.xyxy)
    frontal = (
        np.ones(len(dets), np.float32) if dets.landmarks is None else frontal_score(dets.landmarks)
    )
    return QualityParts(
        size=size_score(face_sides(dets.xyxy)),
        sharpness=sharpness_score(raw),
        sharpness_raw=raw,
        score=np.clip(dets.score, 0.0, 1.0).astype(np.float32),
        frontal=frontal,
    )


def score_quality(dets: Detections, image: ImageBGR, cfg: FacesConfig) -> Detections:
    """``dets`` with ``quality`` filled in; a face under ``min_face_px`` or ``min_sharpness``, or
    one the detector is less sure of than ``detector.min_score`` (it reports faces down to
    ``detector.redact_min_score`` for blurring), gets quality 0.  Nothing is dropped (the tracker
    and the redaction still need every face)."""
    if len(dets) == 0:
        return dets.with_quality(np.zeros(0, np.float32))
    parts = assess(dets, image)
    q = parts.quality
    too_small = face_sides(dets.xyxy) < cfg.min_face_px
    too_soft = parts.sharpness_raw < cfg.min_sharpness
    unsure = dets.score < cfg.detector.min_score
    return dets.with_quality(np.where(too_small | too_soft | unsure, 0.0, q).astype(np.float32))


def usable(dets: Detections, cfg: FacesConfig) -> np.ndarray:
    """Boolean mask of faces good enough to embed (quality filled in and >= min_quality)."""
    if dets.quality is None or len(dets) == 0:  # no face (most frames): nothing to compare
        return np.zeros(len(dets), bool)
    return (dets.quality > 0.0) & (dets.quality >= cfg.min_quality)


def quality_filter(dets: Detections, image: ImageBGR, cfg: FacesConfig) -> Detections:
    """``dets`` with ``quality`` filled in and the faces below the floors dropped."""
    scored = score_quality(dets, image, cfg)
    return scored.select(usable(scored, cfg))
