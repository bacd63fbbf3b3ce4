"""ArcFace-style face embedder from a local ONNX file (``FaceEmbedder`` back end ``onnx-arcface``).

The model contract (insightface's ``w600k_r50.onnx``, ``glintr100.onnx`` and their kin):

* one input ``[N, 3, 112, 112]`` float32 (a fixed batch of 1 is accepted too): RGB crops
  aligned to the 5-point ArcFace template, pixels scaled ``(x - 127.5) / 127.5``;
* one output ``[N, D]`` float32 (D = 512 for the usual models; any fixed D is taken as ``dim``).

Faces are aligned from our dlib-order landmarks with :func:`templates.align_arcface`.  Output
vectors are L2-normalised; ``flip=True`` averages each face with its mirror image first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from citywatch.vision.faces.templates import ARCFACE_SIZE, align_arcface
from citywatch.vision.onnx_session import (
    OnnxModelError,
    dim_of,
    open_session,
    shape_text,
)
from citywatch.vision.record import FloatArray, ImageBGR

PIXEL_MEAN = 127.5
PIXEL_SCALE = 1.0 / 127.5


class OnnxArcFaceEmbedder:
    """``FaceEmbedder`` over an ArcFace-style ONNX model (see the module docstring).
    ``graph``: a rewritten copy of the file to load instead (e.g. its batch made free)."""

    name: str

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 1,
        providers: list[str] | None = None,
        flip: bool = False,
        batch_size: int = 16,
        graph: bytes | None = None,
        name: str = "onnx-arcface",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"onnx-arcface: batch_size must be >= 1, got {batch_size}")
        self.model_path = Path(model_path)
        self.name = name
        what = f"face embedder {name} ({self.model_path.name})"
        self._session = open_session(
            self.model_path, what=what, threads=threads, providers=providers, graph=graph
        )
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        in_shape = list(inputs[0].shape) if len(inputs) == 1 else []
        out_shape = list(outputs[0].shape) if len(outputs) == 1 else []
        ok_in = (
            len(in_shape) == 4
            and [dim_of(d) for d in in_shape[1:]] == [3, ARCFACE_SIZE, ARCFACE_SIZE]
            and dim_of(in_shape[0]) in (None, 1)
        )
        ok_out = len(out_shape) == 2 and dim_of(out_shape[1]) is not None
        if not (ok_in and ok_out):
            got_in = [shape_text(i.shape) for i in inputs]
            got_out = [shape_text(o.shape) for o in outputs]
            raise OnnxModelError(
                f"{self.model_path}: expected one input [N,3,{ARCFACE_SIZE},{ARCFACE_SIZE}] and "
                f"one output [N,D], got inputs {got_in} and outputs {got_out}"
            )
        self._input = inputs[0].name
        self.dim = int(out_shape[1])
        # A model exported with a fixed batch of one is fed one face at a time.
        self._batch = batch_size if dim_of(in_shape[0]) is None else 1
        self._flip = flip
        self.providers: list[str] = list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"OnnxArcFaceEmbedder({self.name}: {self.model_path.name}, dim={self.dim}, "
            f"flip={self._flip}, providers={self.providers})"
        )

    def raw_outputs(self, crops_rgb: npt.NDArray[np.uint8]) -> FloatArray:
        """The model's unnormalised outputs for (N, 112, 112, 3) uint8 RGB aligned crops."""
        if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (ARCFACE_SIZE, ARCFACE_SIZE, 3):
            raise ValueError(
                f"onnx-arcface: expected crops (N, {ARCFACE_SIZE}, {ARCFACE_SIZE}, 3), "
                f"got {crops_rgb.shape}"
            )
        out = np.empty((len(crops_rgb), self.dim), np.float32)
        for start in range(0, len(crops_rgb), self._batch):
            part = crops_rgb[start : start + self._batch].astype(np.float32)
            x = np.ascontiguousarray(((part - PIXEL_MEAN) * PIXEL_SCALE).transpose(0, 3, 1, 2))
            y = np.asarray(self._session.run(None, {self._input: x})[0], np.float32)
            if y.shape != (len(part), self.dim):
                raise OnnxModelError(
                    f"{self.model_path}: output has shape {y.shape} for a batch of {len(part)}, "
                    f"expected ({len(part)}, {self.dim})"
                )
            out[start : start + len(part)] = y
        return out

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        return self.embed_chips(self.chips(image, landmarks))

    def chips(self, image: ImageBGR, landmarks: FloatArray) -> npt.NDArray[np.uint8]:
        """The (N, 112, 112, 3) RGB ArcFace crops of the faces at ``landmarks`` (N, 5, 2)."""
        lm = np.asarray(landmarks, np.float32)
        if lm.ndim != 3 or lm.shape[1:] != (5, 2):
            raise ValueError(f"{self.name}: expected landmarks (N, 5, 2), got {lm.shape}")
        if len(lm) == 0:
            return np.zeros((0, ARCFACE_SIZE, ARCFACE_SIZE, 3), np.uint8)
        return align_arcface(image, lm)

    def embed_chips(self, chips: npt.NDArray[np.uint8]) -> FloatArray:
        """L2-normalised embeddings of (N, 112, 112, 3) uint8 RGB crops (``flip`` applied)."""
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._flip:
            both = self.raw_outputs(np.concatenate([chips, chips[:, :, ::-1]]))
            raw = both[: len(chips)] + both[len(chips) :]
        else:
            raw = self.raw_outputs(chips)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.maximum(norms, 1e-12)).astype(np.float32)
