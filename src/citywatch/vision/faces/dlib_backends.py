"""dlib back ends: HOG face detector, 5-point landmarker, ResNet face embedder.

Model files come from the ``face-recognition-models`` package, located without importing it
(its ``__init__`` needs ``pkg_resources``).  Only the 5-point shape predictor (CC0) and the
ResNet are used; the 68-point predictor in the same package has a non-commercial licence and is
never loaded.

Conventions at the edge: dlib rectangles are inclusive (``right = left + width - 1``); ours are
``xyxy`` with exclusive right/bottom, so ``x2 = right + 1``.  Landmarks are dlib's 5-point order:
for an upright face, points 0-1 are the outer and inner corner of the eye at larger x (the
person's left eye), 2-3 the outer and inner corner of the other eye, 4 the base of the nose.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from citywatch.vision.record import Detections, FloatArray, ImageBGR

SHAPE_PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
CHIP_PADDING = 0.25


class FaceModelNotFound(FileNotFoundError):
    """A model file the dlib back ends need is missing."""


def models_dir() -> Path:
    """The ``models/`` folder of the installed ``face-recognition-models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelNotFound(
            "the Python package 'face-recognition-models' is not installed: it holds the dlib "
            "5-point shape predictor and face-recognition ResNet"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise FaceModelNotFound(f"dlib model file {name} not found at {path}")
    return path


def _dlib() -> Any:
    import dlib

    return dlib


def _rgb(image: ImageBGR) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def to_dlib_rect(dlib: Any, box: FloatArray) -> Any:
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return dlib.rectangle(x1, y1, max(x1, x2 - 1), max(y1, y2 - 1))


def hog_score(margin: float) -> float:
    """dlib's HOG SVM margin (0 = its default threshold) -> 0..1 (0.5 at the margin 0)."""
    return 1.0 / (1.0 + math.exp(-2.0 * margin))


class DlibHogDetector:
    """``FaceDetector`` over dlib's frontal HOG detector (fallback; misses faces under ~80 px
    unless ``upsample`` doubles the image, at ~4x the cost per step)."""

    name = "dlib"

    def __init__(self, *, min_score: float = 0.5, upsample: int = 0) -> None:
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"DlibHogDetector: min_score must be in (0, 1), got {min_score}")
        if upsample < 0:
            raise ValueError(f"DlibHogDetector: upsample must be >= 0, got {upsample}")
        self.min_score = min_score
        self.upsample = upsample
        self._detector = _dlib().get_frontal_face_detector()

    def __repr__(self) -> str:
        return f"DlibHogDetector(min_score={self.min_score}, upsample={self.upsample})"

    def detect(self, image: ImageBGR) -> Detections:
        # Ask dlib for everything down to the margin that maps to min_score.
        margin = 0.5 * math.log(self.min_score / (1.0 - self.min_score))
        rects, margins, _ = self._detector.run(_rgb(image), self.upsample, margin)
        boxes = [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects]
        scores = [hog_score(m) for m in margins]
        return Detections.from_boxes(np.asarray(boxes, np.float32).reshape(-1, 4), scores)


class DlibLandmarker:
    """``FaceLandmarker``: dlib's 5-point shape predictor (~0.6 ms per face)."""

    def __init__(self, path: Path | None = None) -> None:
        self._dlib = _dlib()
        self._path = path if path is not None else model_path(SHAPE_PREDICTOR_5)
        self._predictor = self._dlib.shape_predictor(str(self._path))

    def __repr__(self) -> str:
        return f"DlibLandmarker({self._path.name})"

    def landmarks(self, image: ImageBGR, xyxy: FloatArray) -> FloatArray:
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        out = np.zeros((len(boxes), 5, 2), np.float32)
        if len(boxes) == 0:
            return out
        rgb = _rgb(image)
        for i, box in enumerate(boxes):
            shape = self._predictor(rgb, to_dlib_rect(self._dlib, box))
            out[i] = [(p.x, p.y) for p in shape.parts()]
        return out


class DlibEmbedder:
    """``FaceEmbedder``: dlib's face-recognition ResNet (128-d).  dlib aligns each face to a
    150x150 chip (padding 0.25) from its 5 landmarks and embeds the chip.  Raw descriptors have
    norms ~1.3-1.5; they are L2-normalised here."""

    name = "dlib"
    dim = 128

    def __init__(self, path: Path | None = None) -> None:
        self._dlib = _dlib()
        self._path = path if path is not None else model_path(RESNET)
        self._net = self._dlib.face_recognition_model_v1(str(self._path))

    def __repr__(self) -> str:
        return f"DlibEmbedder({self._path.name})"

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        lm = np.asarray(landmarks, np.float32)
        if lm.ndim != 3 or lm.shape[1:] != (5, 2):
            raise ValueError(f"DlibEmbedder.embed: expected landmarks (N, 5, 2), got {lm.shape}")
        if len(lm) == 0:
            return np.zeros((0, self.dim), np.float32)
        dlib = self._dlib
        shapes = dlib.full_object_detections()
        for pts in lm:
            rect = to_dlib_rect(dlib, np.r_[pts.min(0), pts.max(0) + 1])
            points = [dlib.point(round(float(x)), round(float(y))) for x, y in pts]
            shapes.append(dlib.full_object_detection(rect, points))
        raw = np.asarray(self._net.compute_face_descriptor(_rgb(image), shapes), np.float32)
        return normalise(raw.reshape(len(lm), self.dim))


def normalise(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit L2 norm (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
