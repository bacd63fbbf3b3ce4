"""Small fake models and scenes for the accountability tests (no real models).

A "face" is a coloured square with a fine checker (detail that quality scoring sees); the
colour is the identity.  :class:`ColourFaceDetector` finds such squares, :class:`ColourEmbedder`
turns the colour under the nose into a unit vector (dim 3), so a gallery of ``np.eye(3)`` rows
holds "red", "green" and "blue" people.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from citywatch.config.faces import FacesConfig
from citywatch.decisions.faces import FaceTrackDecider
from citywatch.decisions.gallery import Gallery
from citywatch.engine.pipeline import CameraPipeline
from citywatch.vision.faces.chips import TEMPLATE_5
from citywatch.vision.faces.stage import FaceStage
from citywatch.vision.masks import PrivacyMasker
from citywatch.vision.record import Detections, FloatArray, Frame, ImageBGR
from citywatch.vision.tracking import ByteTracker

RED, GREEN, BLUE = (0, 0, 255), (0, 255, 0), (255, 0, 0)
SIDE = 80
W, H = 640, 360
CHECKER = 0.6 + 0.4 * ((np.indices((SIDE, SIDE)).sum(axis=0) // 2) % 2)
#: A face config the fakes pass: every checker square is usable.
FACES = FacesConfig(
    frames_per_track=3, track_lost_s=1.0, min_quality=0.3, threshold=0.9, idle_search_every=1
)


class ColourFaceDetector:
    """Finds saturated squares (the fake faces), with five landmarks each."""

    name = "colour-squares"

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: ImageBGR) -> Detections:
        self.calls += 1
        spread = image.max(axis=2).astype(np.int16) - image.min(axis=2).astype(np.int16)
        blobs = (spread > 60).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(blobs)
        boxes, lms = [], []
        for x, y, w, h, area in stats[1:n]:
            if w < 20 or h < 20 or area < 0.5 * w * h:
                continue
            boxes.append([x, y, x + w, y + h])
            lms.append(TEMPLATE_5 * [w, h] + [x, y])
        return Detections.from_boxes(
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.full(len(boxes), 0.99, np.float32),
            landmarks=np.asarray(lms, np.float32).reshape(-1, 5, 2),
        )


class ColourEmbedder:
    """Identity = the colour under the nose, as a unit BGR vector."""

    name = "colour"
    dim = 3

    def __init__(self) -> None:
        self.faces = 0

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        self.faces += len(landmarks)
        out = []
        for pts in np.asarray(landmarks).reshape(-1, 5, 2):
            x, y = np.clip(
                np.round(pts[4]).astype(int), 0, [image.shape[1] - 1, image.shape[0] - 1]
            )
            v = image[y, x].astype(np.float32) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32).reshape(-1, 3)


def colour_gallery() -> Gallery:
    """ "ann" wears red (subject 11), "bob" green (subject 22); blue is nobody."""
    return Gallery.build(np.eye(3, dtype=np.float32)[[2, 1]], [11, 22], ["ann", "bob"], [5, 5])


def scene(faces: Sequence[tuple[tuple[int, int, int], int, int]], grey: int = 90) -> ImageBGR:
    """A 640x360 grey picture with a checker face of ``colour`` at each ``(colour, x, y)``."""
    img = np.full((H, W, 3), grey, np.uint8)
    for colour, x, y in faces:
        img[y : y + SIDE, x : x + SIDE] = (np.asarray(colour) * CHECKER[..., None]).astype(np.uint8)
    return img


def frames(
    faces: Sequence[tuple[tuple[int, int, int], int, int]],
    n: int = 15,
    camera_id: str = "cam-1",
    fps: float = 5.0,
    wall0: float = 1_750_000_000.0,
) -> Iterator[Frame]:
    """``n`` frames of the same scene, faces drifting right by 2 px a frame (they move)."""
    for i in range(n):
        shifted = [(c, x + 2 * i, y) for c, x, y in faces]
        yield Frame(camera_id, i, i / fps, wall0 + i / fps, scene(shifted))


def fake_pipeline(
    camera_id: str = "cam-1",
    masker: PrivacyMasker | None = None,
    gallery: Gallery | None = None,
) -> tuple[CameraPipeline, ColourFaceDetector, ColourEmbedder]:
    """A face-only pipeline on the fakes (no motion gate: every frame is searched)."""
    detector, embedder = ColourFaceDetector(), ColourEmbedder()
    stage = FaceStage(detector, None, ByteTracker(frame_rate=5.0, lost_s=1.0), FACES)
    decider = FaceTrackDecider(
        gallery or colour_gallery(), embedder, FACES, camera_id, clock=lambda: 1_750_000_100.0
    )
    pipeline = CameraPipeline(
        camera_id=camera_id,
        motion=None,
        faces=stage,
        face_decider=decider,
        plates=None,
        plate_voter=None,
        masker=masker,
    )
    return pipeline, detector, embedder


class ListSource:
    """A frame source over a list (what a camera worker reads)."""

    def __init__(self, items: Sequence[Frame]) -> None:
        self.items, self.stopped = list(items), False

    def frames(self) -> Iterator[Frame]:
        yield from self.items

    def stop(self) -> None:
        self.stopped = True


def count_faces_photo(faces: int, seed: int = 0) -> ImageBGR:
    """A photo whose first pixel tells :func:`counting_embed_faces` how many faces it holds."""
    img = np.full((64, 64, 3), 120, np.uint8)
    img[0, 0, 0], img[0, 0, 1] = faces, seed
    return img
