"""SCRFD-style face detector from a local ONNX file (``FaceDetector`` back end ``onnx-scrfd``).

The one output convention supported is insightface's SCRFD export with key points
(``det_500m.onnx``, ``det_2.5g.onnx``, ``det_10g.onnx``, ...):

* input ``[1, 3, H, W]`` float32, RGB, ``(x - 127.5) / 128``; H and W fixed in the model or
  free (then ``input_size`` x ``input_size``).  The frame is scaled to fit and padded at the
  right/bottom (letterbox), as insightface does;
* nine outputs, in this order: scores for strides 8, 16, 32 (``[K, 1]``, sigmoid already
  applied), box distances for strides 8, 16, 32 (``[K, 4]``: left, top, right, bottom, in
  units of the stride), key points for strides 8, 16, 32 (``[K, 10]``: five (dx, dy) from the
  anchor centre, in units of the stride).  A leading batch axis of 1 is accepted;
* K = (H / s) * (W / s) * A for A anchors per place (1 or 2), centres ``(x * s, y * s)`` in
  row-major order, the A anchors of one place next to each other.

At the edge, boxes become xyxy float32 in frame pixels after non-maximum suppression, scores
stay 0..1, and the five key points (eye centres, nose tip, mouth corners) become our dlib-order
landmarks through :func:`templates.arcface_to_dlib5`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.vision.boxes import nms
from citywatch.vision.faces.templates import arcface_to_dlib5
from citywatch.vision.onnx_session import (
    OnnxModelError,
    dim_of,
    open_session,
    shape_text,
)
from citywatch.vision.record import Detections, FloatArray, ImageBGR

STRIDES = (8, 16, 32)
PIXEL_MEAN = 127.5
PIXEL_SCALE = 1.0 / 128.0


def anchor_centres(height: int, width: int, stride: int, anchors: int) -> FloatArray:
    """(height * width * anchors, 2) anchor centres in input pixels, SCRFD order."""
    ys, xs = np.mgrid[:height, :width]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, anchors, axis=0)


class OnnxScrfdDetector:
    """``FaceDetector`` over a SCRFD-style ONNX model (see the module docstring)."""

    name = "onnx-scrfd"

    def __init__(
        self,
        model_path: Path,
        *,
        input_size: int = 640,
        min_score: float = 0.5,
        nms_iou: float = 0.4,
        threads: int = 1,
        providers: list[str] | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"onnx-scrfd: min_score must be in 0..1, got {min_score}")
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.nms_iou = nms_iou
        what = f"face detector onnx-scrfd ({self.model_path.name})"
        self._session = open_session(
            self.model_path, what=what, threads=threads, providers=providers
        )
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or dim_of(shape[1]) != 3 or dim_of(shape[0]) not in (None, 1):
            raise OnnxModelError(
                f"{self.model_path}: expected one input [1,3,H,W], got "
                f"{[shape_text(i.shape) for i in inputs]}"
            )
        if len(outputs) != 3 * len(STRIDES):
            raise OnnxModelError(
                f"{self.model_path}: expected 9 outputs (scores, boxes and 5 key points for "
                f"strides 8/16/32), got {len(outputs)}: {[shape_text(o.shape) for o in outputs]}"
            )
        for k, (width, kind) in enumerate(((1, "scores"), (4, "boxes"), (10, "key points"))):
            for o in outputs[k * 3 : k * 3 + 3]:
                if dim_of(o.shape[-1]) not in (None, width):
                    raise OnnxModelError(
                        f"{self.model_path}: output {o.name!r} should hold {kind} [K,{width}], "
                        f"has shape {shape_text(o.shape)}"
                    )
        h, w = dim_of(shape[2]), dim_of(shape[3])
        self.input_hw = (h or input_size, w or input_size)
        if any(v % STRIDES[-1] for v in self.input_hw):
            raise OnnxModelError(
                f"{self.model_path}: input size {self.input_hw} is not a multiple of 32"
            )
        self._input = inputs[0].name
        self.providers: list[str] = list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"OnnxScrfdDetector({self.model_path.name}, input={self.input_hw}, "
            f"min_score={self.min_score}, providers={self.providers})"
        )

    def _blob(self, image: ImageBGR) -> tuple[npt.NDArray[np.float32], float]:
        ih, iw = self.input_hw
        h, w = image.shape[:2]
        scale = min(ih / h, iw / w)
        nh, nw = max(1, min(ih, round(h * scale))), max(1, min(iw, round(w * scale)))
        canvas = np.zeros((ih, iw, 3), np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=interp)
        rgb = canvas[:, :, ::-1].astype(np.float32)
        blob = ((rgb - PIXEL_MEAN) * PIXEL_SCALE).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(blob), scale

    def detect(self, image: ImageBGR) -> Detections:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"onnx-scrfd: expected an HxWx3 uint8 BGR image, got shape {image.shape} "
                f"dtype {image.dtype}"
            )
        blob, scale = self._blob(image)
        outs = [np.asarray(o, np.float32) for o in self._session.run(None, {self._input: blob})]
        boxes, scores, points = self.decode(outs)
        keep = nms(boxes, scores, self.nms_iou) if len(boxes) else np.zeros(0, np.int64)
        boxes, scores, points = boxes[keep] / scale, scores[keep], points[keep] / scale
        return Detections.from_boxes(
            boxes, scores, landmarks=arcface_to_dlib5(points.reshape(-1, 5, 2))
        )

    def decode(
        self, outs: list[npt.NDArray[np.float32]]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Boxes (xyxy), scores and (K, 5, 2) key points above ``min_score``, input pixels."""
        ih, iw = self.input_hw
        all_b, all_s, all_p = [], [], []
        for i, stride in enumerate(STRIDES):
            scores = outs[i].reshape(-1)
            dist = outs[i + 3].reshape(-1, 4)
            kps = outs[i + 6].reshape(-1, 10)
            places = (ih // stride) * (iw // stride)
            anchors = len(scores) // places if places else 0
            if (
                anchors < 1
                or anchors * places != len(scores)
                or len(dist) != len(scores)
                or (len(kps) != len(scores))
            ):
                raise OnnxModelError(
                    f"{self.model_path}: stride {stride} outputs have {len(scores)} scores, "
                    f"{len(dist)} boxes, {len(kps)} key point rows; expected a multiple of "
                    f"{places} places ({ih}x{iw} input) for each"
                )
            keep = np.flatnonzero(scores >= self.min_score)
            if len(keep) == 0:
                continue
            c = anchor_centres(ih // stride, iw // stride, stride, anchors)[keep]
            d = dist[keep] * stride
            all_b.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            all_s.append(scores[keep])
            all_p.append(np.tile(c, 5) + kps[keep] * stride)
        if not all_b:
            return (
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros((0, 10), np.float32),
            )
        return (
            np.concatenate(all_b).astype(np.float32),
            np.concatenate(all_s).astype(np.float32),
            np.concatenate(all_p).astype(np.float32),
        )
