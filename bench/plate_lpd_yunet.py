"""OpenCV zoo's LPD-YuNet licence plate detector run with onnxruntime, behind ``PlateDetector``.

The model (``license_plate_detection_lpd_yunet_2023mar.onnx``, Apache-2.0, trained on Chinese
plates; SHA-256 :data:`SHA256`) has a fixed input ``[1, 3, 240, 320]`` in its file, but its
graph is fully convolutional up to reshapes to ``[1, -1, 17]``, as OpenCV's DNN module (which
the zoo demo uses, at the photo's own size) treats it: the input's height and width are made
symbolic in memory here (the file is not changed), so a frame is searched at the size chosen
(``max_side``).

Decoding follows the zoo's ``lpd_yunet.py``: priors on strides 8, 16, 32, 64 with minimum sizes
(10, 16, 24), (32, 48), (64, 96), (128, 192, 256) px, feature maps of
``floor(floor((h + 1) / 2) / 2) / 2**k``; ``loc`` holds per prior 14 numbers of which
``[4:6], [6:8], [10:12], [12:14]`` are the plate's four corners as offsets from the prior centre
in units of 0.1 x the prior size; the score is ``sqrt(conf[:, 1] x clip(iou, 0, 1))``.  The four
corners become an axis-aligned box (their extent), merged by NMS.  Input: BGR, 0..255, no mean
(``cv.dnn.blobFromImage`` defaults); the frame is resized keeping its aspect and padded with
black on the right and bottom to a multiple of 32.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx

from citywatch.vision.onnx_session import OnnxModelError, open_session
from citywatch.vision.plates.yolo import DetectorModelError, nms
from citywatch.vision.record import Detections, FloatArray, ImageBGR

SHA256 = "6d4978a7b6d25514d5e24811b82bfb511d166bdd8ca3b03aa63c1623d4d039c7"
MIN_SIZES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))
STEPS = (8, 16, 32, 64)
VARIANCE = 0.1
CORNERS = ((4, 6), (6, 8), (10, 12), (12, 14))  # loc columns of the four corners
OUTPUTS = {"loc": 14, "conf": 2, "iou": 1}
ALIGN = 32


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def priors(height: int, width: int) -> FloatArray:
    """The zoo's prior boxes (cx, cy, w, h, all relative to the input) for an input size."""
    f = [(height + 1) // 2 // 2, (width + 1) // 2 // 2]
    maps = []
    for _ in range(4):
        f = [f[0] // 2, f[1] // 2]
        maps.append(f)
    out = []
    for k, (fh, fw) in enumerate(maps):
        for i, j in product(range(fh), range(fw)):
            for size in MIN_SIZES[k]:
                cx = (j + 0.5) * STEPS[k] / width
                cy = (i + 0.5) * STEPS[k] / height
                out.append((cx, cy, size / width, size / height))
    return np.asarray(out, np.float32).reshape(-1, 4)


def dynamic_graph(path: Path) -> bytes:
    """The model with its input height and width symbolic; a :class:`DetectorModelError`
    naming ``path`` when it is not an LPD-YuNet-shaped model (one input ``[1, 3, H, W]``,
    outputs ``loc [N, 14]``, ``conf [N, 2]``, ``iou [N, 1]``)."""
    try:
        model = onnx.load(str(path))
    except Exception as err:  # a truncated or foreign file
        raise DetectorModelError(f"LPD-YuNet plate detector {path}: cannot read ({err})") from None
    inputs = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    dims = [list(i.type.tensor_type.shape.dim) for i in inputs]
    if len(inputs) != 1 or len(dims[0]) != 4 or dims[0][1].dim_value not in (0, 3):
        shapes = [[d.dim_value or d.dim_param for d in ds] for ds in dims]
        raise DetectorModelError(
            f"LPD-YuNet plate detector {path}: expected one input [1, 3, H, W], got {shapes}"
        )
    outs = {o.name: [d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim]
            for o in model.graph.output}  # fmt: skip
    if set(outs) != set(OUTPUTS) or any(
        len(outs[n]) != 2 or outs[n][1] != c for n, c in OUTPUTS.items()
    ):
        raise DetectorModelError(
            f"LPD-YuNet plate detector {path}: expected outputs loc [N, 14], conf [N, 2], "
            f"iou [N, 1], got {outs}"
        )
    dims[0][2].dim_param, dims[0][3].dim_param = "H", "W"
    for o in model.graph.output:
        o.type.tensor_type.shape.dim[0].dim_param = "N"
    return bytes(model.SerializeToString())


class LpdYunetDetector:
    """PlateDetector: LPD-YuNet on the frame (or each motion region) scaled so its longer side
    is ``max_side`` (never enlarged)."""

    name = "lpd-yunet"

    def __init__(
        self,
        model_path: Path,
        *,
        max_side: int = 640,
        score_thresh: float = 0.8,
        nms_iou: float = 0.3,
        threads: int = 1,
        providers: Sequence[str] = (),
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise DetectorModelError(f"LPD-YuNet plate detector {path} does not exist")
        graph = dynamic_graph(path)
        try:
            self._session: Any = open_session(
                path, what="LPD-YuNet plate detector", threads=threads,
                providers=list(providers), graph=graph,
            )  # fmt: skip
        except OnnxModelError as err:
            raise DetectorModelError(str(err)) from None
        self._input = self._session.get_inputs()[0].name
        self._max_side = max_side
        self._score = score_thresh
        self._iou = nms_iou
        self._priors: dict[tuple[int, int], FloatArray] = {}

    def _priors_for(self, height: int, width: int) -> FloatArray:
        key = (height, width)
        if key not in self._priors:
            self._priors[key] = priors(height, width)
        return self._priors[key]

    def raw(self, image: ImageBGR) -> tuple[FloatArray, FloatArray]:
        """(xyxy in ``image`` pixels, scores) of every prior scoring ``score_thresh`` or more,
        after NMS."""
        h, w = image.shape[:2]
        scale = min(1.0, self._max_side / max(h, w))
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        iw, ih = math.ceil(nw / ALIGN) * ALIGN, math.ceil(nh / ALIGN) * ALIGN
        small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if scale != 1 else image
        blob = np.zeros((1, 3, ih, iw), np.float32)
        blob[0, :, :nh, :nw] = small.transpose(2, 0, 1)
        loc, conf, iou = self._session.run(["loc", "conf", "iou"], {self._input: blob})
        pri = self._priors_for(ih, iw)
        if len(pri) != len(loc):
            raise DetectorModelError(
                f"LPD-YuNet plate detector: {len(loc)} outputs for a {iw}x{ih} input, "
                f"{len(pri)} priors expected"
            )
        score = np.sqrt(conf[:, 1] * np.clip(iou[:, 0], 0.0, 1.0))
        keep = np.flatnonzero(score >= self._score)
        if len(keep) == 0:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        p = pri[keep]
        corners = np.stack(
            [p[:, :2] + loc[keep, a:b] * VARIANCE * p[:, 2:] for a, b in CORNERS], axis=1
        ) * np.array([iw, ih], np.float32)
        xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1) / scale
        xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
        sc = score[keep].astype(np.float32)
        valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        xyxy, sc = xyxy[valid], sc[valid]
        idx = nms(xyxy, sc, self._iou)
        return xyxy[idx], sc[idx]

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        h, w = image.shape[:2]
        r = np.array([[0, 0, w, h]] if regions is None else regions, np.float64).reshape(-1, 4)
        lo = np.maximum(np.floor(r[:, :2]), 0).astype(int)
        hi = np.minimum(np.ceil(r[:, 2:]), [w, h]).astype(int)
        windows = [(int(a), int(b), int(c), int(d)) for (a, b), (c, d) in zip(lo, hi, strict=True)]
        boxes, scores = [], []
        for a, b, c, d in windows:
            if c - a < 16 or d - b < 16:
                continue
            xyxy, sc = self.raw(image[b:d, a:c])
            boxes.append(xyxy + np.array([a, b, a, b], np.float32))
            scores.append(sc)
        if not boxes:
            return Detections.empty()
        return Detections.from_boxes(np.concatenate(boxes), np.concatenate(scores))
