"""COCO-80 object detectors run as ONNX, reduced to the vehicles: PP-PicoDet and NanoDet (one
decoder: both have a GFL head) and YOLOX.

Conventions (from each repository's own inference code, checked on the dev photos):

* **PP-PicoDet / NanoDet** (``hpc203/picodet-onnxruntime`` ``main.py``,
  ``hpc203/nanodet-opncv-dnn-cpp-python`` ``main_nanodet.py``): input ``[1,3,S,S]`` **BGR**,
  ``(x - mean) / std`` with mean ``(103.53, 116.28, 123.675)`` and std ``(57.375, 57.12,
  58.395)``; per stride (8, 16, 32 and for PicoDet 64) one score output ``[.., K, 80]`` (sigmoid
  applied in the graph) and one box output ``[.., K, 4 * (R + 1)]``: for each side a
  distribution over ``R + 1`` bins (softmax, expectation, times the stride) of the distance
  from the anchor centre ``(grid + 0.5) * stride - 0.5``.  The outputs are matched to strides
  by their row count (NanoDet's 320 file names them out of order).
* **YOLOX** (``Kazuhito00/YOLOX-ONNX-TFLite-Sample`` ``yolox/yolox_onnx.py``): input
  ``[1,3,S,S]`` BGR 0..255, padded with 114, no normalisation; one output ``[1, K, 85]``:
  centre offset and log size in strides, objectness, 80 class scores (sigmoid applied);
  score = objectness x class.

The frame is letterboxed (scaled to fit, padded at the right and bottom).  A wrong file (other
input, other outputs, not 80 classes) fails at load with :class:`OnnxModelError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.vision.boxes import nms
from citywatch.vision.onnx_session import OnnxModelError, dim_of, open_session, shape_text
from citywatch.vision.record import FloatArray, ImageBGR, Vehicles
from citywatch.vision.vehicles.base import COCO_CLASSES, COCO_VEHICLES

Family = Literal["picodet", "nanodet", "yolox"]
PACKAGED_MODEL = "picodet_s_320_coco.onnx"
GFL_MEAN = np.array([103.53, 116.28, 123.675], np.float32)
GFL_STD = np.array([57.375, 57.12, 58.395], np.float32)
_VEHICLE_IDS = np.array(sorted(COCO_VEHICLES), np.int64)
_VEHICLE_KINDS = tuple(COCO_VEHICLES[int(i)] for i in _VEHICLE_IDS)


def packaged_model() -> Path:
    """The PP-PicoDet file that ships inside citywatch (``vision/vehicles/models/``)."""
    return Path(str(files("citywatch.vision.vehicles") / "models" / PACKAGED_MODEL))


class OnnxCocoVehicleDetector:
    """``VehicleDetector`` over a COCO-80 ONNX graph of ``family``.  One onnxruntime session,
    no per-call state (safe to call from several threads)."""

    def __init__(
        self,
        family: Family,
        model_path: Path | None = None,
        *,
        min_score: float = 0.35,
        nms_iou: float = 0.5,
        threads: int = 1,
        providers: Sequence[str] | None = None,
    ) -> None:
        if family not in ("picodet", "nanodet", "yolox"):
            raise ValueError(f"vehicle detector: unknown family {family!r}")
        if model_path is None:
            if family != "picodet":
                raise ValueError(f"vehicle detector {family!r}: a model_path is needed")
            model_path = packaged_model()
        self.name: str = family
        self.family: Family = family
        self.model_path = Path(model_path)
        self.min_score = min_score
        self.nms_iou = nms_iou
        what = f"vehicle detector {family} ({self.model_path.name})"
        self._session = open_session(
            self.model_path, what=what, threads=threads, providers=providers
        )
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        side = dim_of(shape[2]) if len(shape) == 4 else None
        if len(shape) != 4 or dim_of(shape[1]) != 3 or side is None or dim_of(shape[3]) != side:
            raise OnnxModelError(
                f"{what}: expected one square input [1,3,S,S], got "
                f"{[shape_text(i.shape) for i in inputs]}"
            )
        self.side = side
        self._input = inputs[0].name
        outputs = [(o.name, list(o.shape)) for o in self._session.get_outputs()]
        self._plan = (
            _yolox_plan(what, outputs, side)
            if family == "yolox"
            else _gfl_plan(what, outputs, side)
        )
        self.providers: list[str] = list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"OnnxCocoVehicleDetector({self.family}, {self.model_path.name}, side={self.side}, "
            f"min_score={self.min_score}, providers={self.providers})"
        )

    def detect(self, image: ImageBGR) -> Vehicles:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(
                f"vehicle detector: expected a non-empty HxWx3 uint8 BGR image, got shape "
                f"{image.shape} dtype {image.dtype}"
            )
        h, w = image.shape[:2]
        scale = min(self.side / h, self.side / w)
        blob = self._blob(image, scale)
        raw = self._session.run(None, {self._input: blob})
        if self.family == "yolox":
            boxes, scores = self._decode_yolox(raw)
        else:
            boxes, scores = self._decode_gfl(raw)
        best = scores.argmax(axis=1) if len(scores) else np.zeros(0, np.int64)
        top = scores[np.arange(len(scores)), best] if len(scores) else np.zeros(0, np.float32)
        keep = np.flatnonzero(top >= self.min_score)
        boxes, top, best = boxes[keep], top[keep], best[keep]
        kept = nms(boxes, top, self.nms_iou) if len(boxes) else np.zeros(0, np.int64)
        boxes = boxes[kept] / np.float32(scale)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        return Vehicles(
            xyxy=boxes.astype(np.float32).reshape(-1, 4),
            score=top[kept].astype(np.float32),
            kind=tuple(_VEHICLE_KINDS[int(i)] for i in best[kept]),
        )

    def _blob(self, image: ImageBGR, scale: float) -> npt.NDArray[np.float32]:
        h, w = image.shape[:2]
        nh, nw = min(self.side, max(1, round(h * scale))), min(self.side, max(1, round(w * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        small = cv2.resize(image, (nw, nh), interpolation=interp)
        pad = 114.0 if self.family == "yolox" else 0.0
        canvas = np.full((self.side, self.side, 3), pad, np.float32)
        canvas[:nh, :nw] = small
        if self.family != "yolox":
            canvas = (canvas - GFL_MEAN) / GFL_STD
        return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], np.float32)

    def _decode_gfl(self, raw: list[np.ndarray]) -> tuple[FloatArray, FloatArray]:
        all_b, all_s = [], []
        for stride, cls_i, box_i in self._plan:
            cls = np.asarray(raw[cls_i], np.float32).reshape(-1, COCO_CLASSES)[:, _VEHICLE_IDS]
            keep = np.flatnonzero(cls.max(axis=1) >= self.min_score)
            if len(keep) == 0:
                continue
            dist = np.asarray(raw[box_i], np.float32)
            bins = dist.shape[-1] // 4
            dist = dist.reshape(-1, 4, bins)[keep]
            dist = np.exp(dist - dist.max(axis=2, keepdims=True))
            dist /= dist.sum(axis=2, keepdims=True)
            d = (dist * np.arange(bins, dtype=np.float32)).sum(axis=2) * stride
            n = math.ceil(self.side / stride)
            gx, gy = keep % n, keep // n
            cx = gx * stride + 0.5 * (stride - 1)
            cy = gy * stride + 0.5 * (stride - 1)
            all_b.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1))
            all_s.append(cls[keep])
        if not all_b:
            return np.zeros((0, 4), np.float32), np.zeros((0, len(_VEHICLE_IDS)), np.float32)
        return np.concatenate(all_b).astype(np.float32), np.concatenate(all_s)

    def _decode_yolox(self, raw: list[np.ndarray]) -> tuple[FloatArray, FloatArray]:
        pred = np.asarray(raw[0], np.float32).reshape(-1, 5 + COCO_CLASSES)
        scores = pred[:, 4:5] * pred[:, 5:][:, _VEHICLE_IDS]
        keep = np.flatnonzero(scores.max(axis=1) >= self.min_score)
        p = pred[keep]
        g = _yolox_grid(self.side)[keep]
        st = _yolox_strides(self.side)[keep]
        cxy = (p[:, :2] + g) * st[:, None]
        wh = np.exp(np.minimum(p[:, 2:4], 10.0)) * st[:, None]
        return np.concatenate([cxy - wh / 2, cxy + wh / 2], 1).astype(np.float32), scores[keep]


_YOLOX_STRIDES = (8, 16, 32)


def _yolox_grid(side: int) -> FloatArray:
    parts = []
    for s in _YOLOX_STRIDES:
        n = side // s
        ys, xs = np.mgrid[:n, :n]
        parts.append(np.stack([xs, ys], -1).reshape(-1, 2))
    return np.concatenate(parts).astype(np.float32)


def _yolox_strides(side: int) -> FloatArray:
    return np.concatenate(
        [np.full((side // s) ** 2, s, np.float32) for s in _YOLOX_STRIDES]
    ).astype(np.float32)


def _yolox_plan(what: str, outputs: list[tuple[str, list[object]]], side: int) -> list[Plan]:
    rows = sum((side // s) ** 2 for s in _YOLOX_STRIDES)
    shape = outputs[0][1] if len(outputs) == 1 else []
    if len(shape) != 3 or dim_of(shape[2]) != 5 + COCO_CLASSES or dim_of(shape[1]) != rows:
        raise OnnxModelError(
            f"{what}: expected one YOLOX output [1,{rows},{5 + COCO_CLASSES}] (80 COCO classes "
            f"at input {side}), got {[shape_text(s) for _, s in outputs]}"
        )
    return [(0, 0, 0)]


Plan = tuple[int, int, int]  # (stride, index of its score output, index of its box output)


def _gfl_plan(what: str, outputs: list[tuple[str, list[object]]], side: int) -> list[Plan]:
    """Which output holds the scores and which the box bins of each stride, by shape."""
    rows_of: dict[int, tuple[int, int]] = {}
    for i, (_, shape) in enumerate(outputs):
        dims = [dim_of(d) for d in shape]
        if len(dims) < 2 or None in dims[-2:]:
            raise OnnxModelError(f"{what}: output {i} has shape {shape_text(shape)}")
        rows_of[i] = (int(dims[-2] or 0), int(dims[-1] or 0))
    found = [("scores" if c == COCO_CLASSES else "boxes", r, c) for r, c in rows_of.values()]
    plan: list[Plan] = []
    for stride in (8, 16, 32, 64):
        n = math.ceil(side / stride) ** 2
        cls = [i for i, (r, c) in rows_of.items() if r == n and c == COCO_CLASSES]
        box = [i for i, (r, c) in rows_of.items() if r == n and c != COCO_CLASSES and c % 4 == 0]
        if cls and box:
            plan.append((stride, cls[0], box[0]))
    if not plan or 2 * len(plan) != len(outputs):
        raise OnnxModelError(
            f"{what}: expected per stride a score output [K,{COCO_CLASSES}] (80 COCO classes) "
            f"and a box output [K,4*bins] at input {side}, got "
            f"{[shape_text(s) for _, s in outputs]} ({found})"
        )
    return plan
