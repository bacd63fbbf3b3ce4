"""Two face embedders as one (``FaceEmbedder`` back end ``fused``): score-level fusion that the
gallery needs no change for.

Each part gives unit vectors; the fused vector is ``[sqrt(w) a, sqrt(1 - w) b]``, itself of
unit length, so the cosine of two fused vectors is ``w cos_a + (1 - w) cos_b``: the weighted
mean of the two embedders' scores.  Enrolled photos and tracks are embedded the same way, so
:class:`~citywatch.decisions.gallery.Gallery` searches fused vectors as it searches any other.
Two networks trained apart make different mistakes; a lookalike must fool both to score high.
"""

from __future__ import annotations

import math

import numpy as np

from citywatch.vision.faces.base import ChipBatchEmbedder, FaceEmbedder
from citywatch.vision.record import FloatArray, ImageBGR


class FusedEmbedder:
    """``FaceEmbedder``: ``first`` weighted ``weight``, ``second`` weighted ``1 - weight``."""

    name = "fused"

    def __init__(self, first: FaceEmbedder, second: FaceEmbedder, weight: float = 0.5) -> None:
        if not 0.0 < weight < 1.0:
            raise ValueError(
                f"fused embedder: weight must lie strictly between 0 and 1, got {weight}"
            )
        self.first, self.second, self.weight = first, second, weight
        self.dim = first.dim + second.dim
        self._a, self._b = math.sqrt(weight), math.sqrt(1.0 - weight)

    def __repr__(self) -> str:
        return f"FusedEmbedder({self.first!r} x {self.weight:g}, {self.second!r})"

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        a = np.asarray(self.first.embed(image, landmarks), np.float32)
        b = np.asarray(self.second.embed(image, landmarks), np.float32)
        return self._join(a, b)

    def _join(self, a: FloatArray, b: FloatArray) -> FloatArray:
        return np.concatenate([a * self._a, b * self._b], axis=1).astype(np.float32)

    # -- ChipBatchEmbedder, when both parts are: one row of bytes per face holds both chips --

    def _shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if not (
            isinstance(self.first, ChipBatchEmbedder) and isinstance(self.second, ChipBatchEmbedder)
        ):
            raise TypeError("fused embedder: a part cannot cut chips apart from its network")
        blank, none = np.zeros((8, 8, 3), np.uint8), np.zeros((0, 5, 2), np.float32)
        return (
            tuple(self.first.chips(blank, none).shape[1:]),
            tuple(self.second.chips(blank, none).shape[1:]),
        )

    def chips(self, image: ImageBGR, landmarks: FloatArray) -> np.ndarray:
        """(N, bytes) uint8: each face's chip for the first part, then for the second."""
        assert isinstance(self.first, ChipBatchEmbedder)
        assert isinstance(self.second, ChipBatchEmbedder)
        a = self.first.chips(image, landmarks)
        b = self.second.chips(image, landmarks)
        return np.concatenate([a.reshape(len(a), -1), b.reshape(len(b), -1)], axis=1)

    def embed_chips(self, chips: np.ndarray) -> FloatArray:
        first, second = self._shapes()
        assert isinstance(self.first, ChipBatchEmbedder)
        assert isinstance(self.second, ChipBatchEmbedder)
        n, cut = len(chips), int(np.prod(first))
        a = self.first.embed_chips(np.ascontiguousarray(chips[:, :cut]).reshape(n, *first))
        b = self.second.embed_chips(np.ascontiguousarray(chips[:, cut:]).reshape(n, *second))
        return self._join(np.asarray(a, np.float32), np.asarray(b, np.float32))

    def split(self, vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The two parts' unit vectors of fused ``vectors`` (N, dim)."""
        v = np.asarray(vectors, np.float32)
        d = self.first.dim
        return v[:, :d] / self._a, v[:, d:] / self._b
