"""A YOLO-style plate detector (ONNX, from a local path) behind the ``PlateDetector`` protocol.

Model contract (what users export from their own training; nothing is downloaded):

* input ``[1, 3, H, W]`` float32, RGB, 0..1, the frame letterboxed (aspect kept, grey 114
  padding) to ``H x W`` (from the model when its input shape is fixed, else
  ``plates.detector.input_size`` squared);
* output, one of two layouts (``plates.detector.output``):

  - ``rows`` ``[1, N, 5+K]``: per candidate ``cx, cy, w, h, objectness, class scores...``
    (YOLOv5/v7 export); score = objectness x best class score (objectness alone when K = 0);
  - ``columns`` ``[1, 4+K, N]``: per candidate ``cx, cy, w, h, class scores...`` (YOLOv8/11
    export, no objectness); score = best class score;
  - ``auto`` (default) picks ``columns`` when the second dimension is the smaller one (N, the
    candidate count, is in the thousands for real models; K is a handful of classes).

  Boxes are in input pixels; every class counts as "plate".  Candidates under
  ``score_thresh`` are dropped, the rest merged by non-maximum suppression at ``nms_iou``.

Results become :class:`Detections` in full-frame pixels here; nothing downstream sees
onnxruntime.  With motion ``regions`` each region is letterboxed on its own, so a small plate
in a large frame is seen at a useful size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from citywatch.config.plates import PlateDetectorConfig
from citywatch.vision.onnx_session import OnnxModelError, open_session
from citywatch.vision.plates.base import PlateDetector, WindowRefiner, ZoomDetector
from citywatch.vision.record import Detections, FloatArray, ImageBGR

Layout = Literal["auto", "rows", "columns"]
PAD_VALUE = 114


class DetectorModelError(RuntimeError):
    """The detector model is missing or its input/output do not follow the contract."""


def nms(xyxy: FloatArray, scores: FloatArray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        x0 = np.maximum(xyxy[i, 0], xyxy[rest, 0])
        y0 = np.maximum(xyxy[i, 1], xyxy[rest, 1])
        x1 = np.minimum(xyxy[i, 2], xyxy[rest, 2])
        y1 = np.minimum(xyxy[i, 3], xyxy[rest, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = area[i] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap <= iou]
    return keep


def letterbox(image: ImageBGR, width: int, height: int) -> tuple[FloatArray, float, float, float]:
    """The model input ``[1, 3, height, width]`` (RGB, 0..1) and the (scale, pad_x, pad_y) that
    map input pixels back: ``image_x = (input_x - pad_x) / scale``."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), PAD_VALUE, np.uint8)
    px, py = (width - nw) // 2, (height - nh) // 2
    canvas[py : py + nh, px : px + nw] = resized
    blob = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)[None] / 255.0
    return np.ascontiguousarray(blob), scale, float(px), float(py)


def decode_output(
    out: FloatArray, layout: Layout, score_thresh: float
) -> tuple[FloatArray, FloatArray]:
    """(xyxy in input pixels, scores) of the candidates over ``score_thresh``."""
    arr = np.asarray(out, np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise DetectorModelError(
            f"plate detector output: expected [1, N, 5+K] or [1, 4+K, N], got {np.shape(out)}"
        )
    if layout == "auto":
        layout = "columns" if arr.shape[0] < arr.shape[1] else "rows"
    if layout == "columns":
        arr = arr.T
        if arr.shape[1] < 5:
            raise DetectorModelError(
                f"plate detector output (columns): needs 4 box values + >= 1 class, got "
                f"{arr.shape[1]} values per candidate"
            )
        scores = arr[:, 4:].max(axis=1)
    else:
        if arr.shape[1] < 5:
            raise DetectorModelError(
                f"plate detector output (rows): needs 4 box values + objectness, got "
                f"{arr.shape[1]} values per candidate"
            )
        scores = arr[:, 4] * (arr[:, 5:].max(axis=1) if arr.shape[1] > 5 else 1.0)
    keep = scores >= score_thresh
    cx, cy, w, h = (arr[keep, k] for k in range(4))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return xyxy.astype(np.float32).reshape(-1, 4), scores[keep].astype(np.float32)


class YoloPlateDetector:
    """PlateDetector: a YOLO-style ONNX model (see the module doc for its contract)."""

    name = "yolo"

    def __init__(
        self,
        model_path: Path,
        *,
        input_size: int = 640,
        output: Layout = "auto",
        score_thresh: float = 0.35,
        nms_iou: float = 0.45,
        providers: Sequence[str] = (),
        threads: int = 1,
    ) -> None:
        path = Path(model_path)
        try:
            self._session: Any = open_session(
                path, what="plate detector model", threads=threads, providers=list(providers)
            )
        except OnnxModelError as err:
            raise DetectorModelError(str(err)) from None
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise DetectorModelError(
                f"plate detector model {path}: expected one input [1, 3, H, W], got "
                f"{[(i.name, i.shape) for i in inputs]}"
            )
        self._input = inputs[0].name
        self._height = shape[2] if isinstance(shape[2], int) else input_size
        self._width = shape[3] if isinstance(shape[3], int) else input_size
        self._output: Layout = output
        self._score = score_thresh
        self._iou = nms_iou
        self.providers = tuple(self._session.get_providers())

    @classmethod
    def from_config(cls, cfg: PlateDetectorConfig, threads: int = 1) -> YoloPlateDetector:
        if cfg.model is None:
            raise DetectorModelError("plates.detector.model is not set")
        return cls(
            cfg.model,
            input_size=cfg.input_size,
            output=cfg.output,
            score_thresh=cfg.score_thresh,
            nms_iou=cfg.nms_iou,
            providers=cfg.providers,
            threads=threads,
        )

    def _run(self, image: ImageBGR, x0: int, y0: int) -> tuple[FloatArray, FloatArray]:
        blob, scale, px, py = letterbox(image, self._width, self._height)
        out = self._session.run(None, {self._input: blob})[0]
        xyxy, scores = decode_output(out, self._output, self._score)
        xyxy = (xyxy - np.array([px, py, px, py], np.float32)) / scale
        h, w = image.shape[:2]
        xyxy = np.clip(xyxy, 0, [w, h, w, h]) + np.array([x0, y0, x0, y0], np.float32)
        return xyxy.astype(np.float32), scores

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        h, w = image.shape[:2]
        windows = (
            [(0, 0, w, h)]
            if regions is None
            else [
                (
                    max(0, math.floor(a)),
                    max(0, math.floor(b)),
                    min(w, math.ceil(c)),
                    min(h, math.ceil(d)),
                )
                for a, b, c, d in np.asarray(regions, np.float32).reshape(-1, 4)
            ]
        )
        boxes, scores = [], []
        for a, b, c, d in windows:
            if c - a < 8 or d - b < 8:
                continue
            xyxy, sc = self._run(image[b:d, a:c], a, b)
            boxes.append(xyxy)
            scores.append(sc)
        if not boxes:
            return Detections.empty()
        xyxy, sc = np.concatenate(boxes), np.concatenate(scores)
        valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        xyxy, sc = xyxy[valid], sc[valid]
        if len(sc) == 0:
            return Detections.empty()
        keep = nms(xyxy, sc, self._iou)
        return Detections.from_boxes(xyxy[keep], sc[keep])


class RefinedDetector:
    """A plate detector paired with a text detector that refines its boxes (finds the line of
    characters inside a whole plate): ``PlateDetector``, ``WindowRefiner`` and
    ``WholePlateDetector`` in one."""

    finds_whole_plates = True

    def __init__(self, detector: PlateDetector, refiner: WindowRefiner) -> None:
        self._detector = detector
        self._refiner = refiner
        self.name = detector.name

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        return self._detector.detect(image, regions)

    def refine(
        self, image: ImageBGR, windows: FloatArray, *, margin: int = 0, height: int | None = None
    ) -> Detections:
        return self._refiner.refine(image, windows, margin=margin, height=height)


class ZoomRefinedDetector(RefinedDetector):
    """:class:`RefinedDetector` whose plate detector can search a frame again at a larger
    scale (``ZoomDetector``): the plate reader's zoomed second search asks it for
    ``retry_side``, the plate detector's own larger scale, whatever scale the text detector's
    second search would use."""

    def __init__(self, detector: ZoomDetector, refiner: WindowRefiner, retry_side: int) -> None:
        super().__init__(detector, refiner)  # type: ignore[arg-type]
        self._zoom = detector
        self._retry_side = retry_side

    def detect_at(self, image: ImageBGR, regions: FloatArray | None, max_side: int) -> Detections:
        return self._zoom.detect_at(image, regions, self._retry_side)
