"""dlib's face-recognition ResNet run by onnxruntime (``FaceEmbedder`` back end ``dlib-onnx``).

Same chips and same network as dlib's ``compute_face_descriptor`` (raw descriptors agree to
~1e-7), ~30x faster than the BLAS-less ``dlib-bin`` wheel.  The model file comes from
:func:`citywatch.vision.faces.dlib_onnx_cache.ensure_onnx_model`.

Distances: dlib's raw descriptors are not unit length (norms 1.38-1.63, mean 1.5, on the 61
faces of ``verification_pairs``), and dlib's rule "same person when Euclidean distance < 0.6"
applies to those raw vectors.  This back end returns L2-normalised vectors, so compare with
cosine similarity.  For unit vectors 0.6 would mean cos 0.82, but at norm 1.5 it means
cos ~ 1 - 0.36 / (2 * 1.5**2) = 0.92; on those 580 pairs ``cos > 0.93`` agrees with ``raw
distance < 0.6`` on 99.7 % of pairs (see ``config.faces.DLIB_THRESHOLD``, 0.92).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from citywatch.vision.faces.chips import extract_chips
from citywatch.vision.onnx_session import OnnxModelError, open_session
from citywatch.vision.record import FloatArray, ImageBGR

log = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class EmbedderSetupError(RuntimeError):
    """The ONNX model or onnxruntime could not be loaded."""


def dlib_chips(image: ImageBGR, landmarks: FloatArray, *, who: str) -> np.ndarray:
    """The (N, 150, 150, 3) RGB chips dlib's ResNet takes, cut from ``image`` at 5-point
    ``landmarks`` (N, 5, 2); ``who`` names the caller in the error for a wrong shape."""
    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != (5, 2):
        raise ValueError(f"{who}: expected landmarks (N, 5, 2), got {lm.shape}")
    if lm.shape[0] == 0:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    return extract_chips(image, lm, size=CHIP_SIZE, padding=CHIP_PADDING)


class OnnxDlibEmbedder:
    """128-d face embeddings from 5 landmarks; L2-normalised float32.

    ``flip=True`` also embeds each chip mirrored left-right and averages the two raw
    descriptors before normalising (costs a second forward pass per face).
    ``batch_size`` bounds how many chips go through the network in one run.
    """

    name = "dlib-onnx"
    dim = 128

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 1,
        providers: list[str] | None = None,
        flip: bool = False,
        batch_size: int = 16,
    ) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError(f"threads and batch_size must be >= 1, got {threads}, {batch_size}")
        path = Path(model_path)
        if not path.is_file():
            raise EmbedderSetupError(
                f"ONNX face model not found at {path}: run `citywatch models prepare`"
            )
        try:
            self._session = open_session(
                path, what="ONNX face model", threads=threads, providers=providers
            )
        except OnnxModelError as e:
            raise EmbedderSetupError(str(e)) from e
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if (
            len(inputs) != 1
            or list(inputs[0].shape[1:]) != [3, CHIP_SIZE, CHIP_SIZE]
            or len(outputs) != 1
            or outputs[0].shape[-1] != self.dim
        ):
            raise EmbedderSetupError(
                f"{path}: expected input [N,3,{CHIP_SIZE},{CHIP_SIZE}] and output [N,{self.dim}], "
                f"got {[i.shape for i in inputs]} -> {[o.shape for o in outputs]}"
            )
        self._input = inputs[0].name
        self._flip = flip
        self._batch = batch_size
        self.providers: list[str] = list(self._session.get_providers())

    def raw_descriptors(self, chips_rgb: np.ndarray) -> FloatArray:
        """dlib's unnormalised descriptors for (N, 150, 150, 3) uint8 RGB chips."""
        if chips_rgb.ndim != 4 or chips_rgb.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(
                f"raw_descriptors: expected chips (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), "
                f"got {chips_rgb.shape}"
            )
        out = np.empty((chips_rgb.shape[0], self.dim), np.float32)
        for start in range(0, chips_rgb.shape[0], self._batch):
            part = chips_rgb[start : start + self._batch]
            x = np.ascontiguousarray(part.transpose(0, 3, 1, 2), dtype=np.float32)
            out[start : start + len(part)] = self._session.run(None, {self._input: x})[0]
        return out

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        return self.embed_chips(self.chips(image, landmarks))

    def chips(self, image: ImageBGR, landmarks: FloatArray) -> np.ndarray:
        """The (N, 150, 150, 3) RGB chips of the faces at ``landmarks`` (N, 5, 2)."""
        return dlib_chips(image, landmarks, who=self.name)

    def embed_chips(self, chips: np.ndarray) -> FloatArray:
        """L2-normalised embeddings of (N, 150, 150, 3) uint8 chips (``flip`` applied): the
        network half of :meth:`embed`, also run on chips gathered from many cameras by
        :mod:`citywatch.engine.ray_inference`."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._flip:  # mirrored chips ride in the same batches as the originals
            both = self.raw_descriptors(np.concatenate([chips, chips[:, :, ::-1]]))
            desc = (both[: len(chips)] + both[len(chips) :]) / np.float32(2)
        else:
            desc = self.raw_descriptors(chips)
        norms = np.linalg.norm(desc, axis=1, keepdims=True)
        return (desc / np.maximum(norms, 1e-12)).astype(np.float32)
