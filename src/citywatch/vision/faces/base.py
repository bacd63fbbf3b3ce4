"""Contracts for face back ends.  Back ends convert to our types here, at the edge."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from citywatch.vision.record import Detections, FloatArray, ImageBGR


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in a BGR image; returns xyxy boxes, scores and (if it has them) 5 landmarks."""

    name: str

    def detect(self, image: ImageBGR) -> Detections: ...


@runtime_checkable
class RegionFaceDetector(FaceDetector, Protocol):
    """A face detector that can search windows of a frame (full-frame xyxy) at the scale it
    would search the whole frame at, so a face comes out as the whole-frame search would
    find it; None when it cannot for this frame (then the caller searches the whole frame)."""

    def detect_regions(self, image: ImageBGR, windows: FloatArray) -> Detections | None: ...


@runtime_checkable
class FaceLandmarker(Protocol):
    """Five points per box (eye corners and nose, dlib order) for detectors that give none."""

    def landmarks(self, image: ImageBGR, xyxy: FloatArray) -> FloatArray: ...


@runtime_checkable
class FaceEmbedder(Protocol):
    """Aligns each face from its 5 landmarks and returns L2-normalised (N, dim) float32."""

    name: str
    dim: int

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray: ...


@runtime_checkable
class ChipBatchEmbedder(FaceEmbedder, Protocol):
    """An embedder whose two halves can be run apart: cutting aligned chips from a frame, and
    the network on chips gathered from many frames or cameras, in batches.  ``embed`` is
    ``embed_chips(chips(image, landmarks))``."""

    def chips(self, image: ImageBGR, landmarks: FloatArray) -> np.ndarray: ...

    def embed_chips(self, chips: np.ndarray) -> FloatArray: ...
