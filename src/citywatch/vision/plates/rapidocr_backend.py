"""RapidOCR (PP-OCRv4 text detection and recognition, ONNX, shipped in the wheel) as plate back end.

:class:`RapidOcrEngine` holds the ONNX sessions: build it once per worker and hand it to both
:class:`RapidOcrTextDetector` and :class:`RapidOcrReader`.  The detector runs only the DB text
detector, on the frame or on each motion region, at a fixed analysis scale; the reader runs only
the recogniser, on padded crops of the full-resolution frame.  RapidOCR's own pipeline (which
upscales every picture so its *shorter* side is 736 px, then reads every text line) is not used.
Output becomes our types here; nothing else imports ``rapidocr_onnxruntime``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from citywatch.config.plates import PlateReaderConfig
from citywatch.vision.onnx_session import PROVIDER_OPTIONS, OnnxModelError, open_session
from citywatch.vision.record import Detections, FloatArray, ImageBGR

_STRIDE = 32  # the detector's input sides must be multiples of this
DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"  # inside rapidocr_onnxruntime/models


class BackendUnavailableError(RuntimeError):
    """An optional model back end cannot be loaded; the message names the package."""


def text_detector_path() -> Path:
    """PP-OCRv4's text detector inside rapidocr-onnxruntime (what the plate detector was
    fine-tuned from, ``training/plate_det.py``)."""
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / DET_MODEL


class RapidOcrEngine:
    """The PP-OCRv4 text detector shipped in rapidocr-onnxruntime, in our own onnxruntime
    session (RapidOCR's sessions switch onnxruntime's memory arena off, which made the detector
    ~1.5x slower here), with RapidOCR's DB post-processing; RapidOCR's greedy recogniser is
    loaded only when :meth:`recognise` is first used (``decoder: greedy``)."""

    def __init__(
        self,
        *,
        threads: int = 1,
        det_thresh: float = 0.2,
        det_box_thresh: float = 0.2,
        det_unclip_ratio: float = 1.6,
        providers: list[str] | None = None,
        provider_options: Mapping[str, Mapping[str, str]] = PROVIDER_OPTIONS,
        det_model: Path | None = None,
        what: str = "plate text detector",
    ) -> None:
        """``det_model``: another DB detector with the same contract (input ``x``, BGR scaled to
        -1..1; a probability map out), e.g. the shipped plate detector; default PP-OCRv4's."""
        try:
            from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
        except ImportError as err:  # pragma: no cover - depends on the installation
            raise BackendUnavailableError(
                "plate back end 'rapidocr' needs the package rapidocr-onnxruntime "
                f"(pip install rapidocr-onnxruntime==1.4.4): {err}"
            ) from err
        try:
            self._det: Any = open_session(
                det_model or text_detector_path(),
                what=what,
                threads=threads,
                providers=providers,
                provider_options=provider_options,
                simplify=True,
            )
        except OnnxModelError as err:
            raise BackendUnavailableError(str(err)) from err
        self._det_input = self._det.get_inputs()[0].name
        if det_model is not None:
            _check_map_contract(self._det, det_model, what)
        self.providers: list[str] = list(self._det.get_providers())
        self._post: Any = DBPostProcess(
            thresh=det_thresh,
            box_thresh=det_box_thresh,
            max_candidates=1000,
            unclip_ratio=det_unclip_ratio,
            use_dilation=True,
            score_mode="fast",
        )
        self._rec: Any = None
        self.threads = threads

    @classmethod
    def from_config(cls, cfg: PlateReaderConfig) -> RapidOcrEngine:
        return cls(
            threads=cfg.threads,
            det_thresh=cfg.det_thresh,
            det_box_thresh=cfg.det_box_thresh,
            det_unclip_ratio=cfg.det_unclip_ratio,
            providers=list(cfg.det_providers),
        )

    def detect(self, image: ImageBGR, scale: float) -> tuple[FloatArray, FloatArray]:
        """Text quadrilaterals (N, 4, 2) in ``image`` pixels and their scores (N,).

        The detector sees ``image`` resized by ``scale`` (sides rounded to a multiple of 32).
        """
        h, w = image.shape[:2]
        dh = max(_STRIDE, round(h * scale / _STRIDE) * _STRIDE)
        dw = max(_STRIDE, round(w * scale / _STRIDE) * _STRIDE)
        small = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_AREA)
        blob = (small.astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        pred = self._det.run(None, {self._det_input: np.ascontiguousarray(blob)})[0]
        quads, scores = self._post(pred, (h, w))
        if len(quads) == 0:
            return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
        return np.asarray(quads, np.float32).reshape(-1, 4, 2), np.asarray(scores, np.float32)

    def recognise(self, crops: list[ImageBGR]) -> list[tuple[str, float]]:
        """Text and mean character confidence (0..1) of each crop, in order."""
        if not crops:
            return []
        if self._rec is None:
            from rapidocr_onnxruntime import RapidOCR

            ocr = RapidOCR(intra_op_num_threads=self.threads, inter_op_num_threads=1)
            self._rec = ocr.text_rec
        results = self._rec(crops)[0]
        return [(str(r[0]), float(r[1])) for r in results]


def _check_map_contract(session: Any, path: Path, what: str) -> None:
    """A DB detector takes one picture ``[N, 3, H, W]`` and gives one map ``[N, 1, H, W]``."""
    ins, outs = session.get_inputs(), session.get_outputs()
    shape_in = ins[0].shape if len(ins) == 1 else None
    shape_out = outs[0].shape if outs else None
    if (
        shape_in is None
        or shape_out is None
        or len(shape_in) != 4
        or shape_in[1] != 3
        or len(shape_out) != 4
        or (shape_out[1] not in (1, None) and not isinstance(shape_out[1], str))
    ):
        raise BackendUnavailableError(
            f"{what} {path}: not a DB probability-map detector (input {shape_in}, output "
            f"{shape_out}; expected [N, 3, H, W] in and [N, 1, H, W] out)"
        )


def _scale_for(h: int, w: int, max_side: int, max_upscale: float) -> float:
    return min(max_upscale, max_side / max(h, w))


class RapidOcrTextDetector:
    """PlateDetector (and WindowRefiner): text boxes (axis-aligned xyxy) from the DB detector.

    ``detect`` searches the frame scaled so that its longer side is ``max_side`` (never enlarged
    by more than ``max_upscale``); with ``regions`` (moving areas, full-frame xyxy) only those
    areas, each at the scale the whole frame would have been searched at.  ``refine`` searches
    small windows around candidate plates, each scaled so that its height becomes
    ``refine_height`` pixels (enlarged by ``refine_max_upscale`` at most): the detector finds
    characters under ~20 px high poorly, and a whole US-style plate comes out as one box at the
    frame's scale.
    """

    name = "rapidocr"

    def __init__(
        self,
        engine: RapidOcrEngine,
        *,
        max_side: int = 640,
        max_upscale: float = 1.0,
        refine_height: int = 96,
        refine_max_upscale: float = 4.0,
    ) -> None:
        self._engine = engine
        self._max_side = max_side
        self._max_upscale = max_upscale
        self._refine_height = refine_height
        self._refine_max_upscale = refine_max_upscale

    @classmethod
    def from_config(cls, engine: RapidOcrEngine, cfg: PlateReaderConfig) -> RapidOcrTextDetector:
        return cls(
            engine,
            max_side=cfg.det_max_side,
            max_upscale=cfg.det_max_upscale,
            refine_height=cfg.refine_height,
        )

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        h, w = image.shape[:2]
        return self._scaled(image, regions, _scale_for(h, w, self._max_side, self._max_upscale))

    def detect_at(self, image: ImageBGR, regions: FloatArray | None, max_side: int) -> Detections:
        """:meth:`detect` with the frame scaled so its longer side is ``max_side`` instead;
        nothing when that scale is no larger than :meth:`detect`'s (nothing new to find)."""
        h, w = image.shape[:2]
        scale = _scale_for(h, w, max_side, self._max_upscale)
        if scale <= _scale_for(h, w, self._max_side, self._max_upscale):
            return Detections.empty()
        return self._scaled(image, regions, scale)

    def _scaled(self, image: ImageBGR, regions: FloatArray | None, scale: float) -> Detections:
        h, w = image.shape[:2]
        if regions is None:
            windows = np.array([[0, 0, w, h]], np.float32)
        else:
            windows = np.asarray(regions, np.float32).reshape(-1, 4)
        return self._search(image, windows, lambda _: scale)

    def refine(
        self, image: ImageBGR, windows: FloatArray, *, margin: int = 0, height: int | None = None
    ) -> Detections:
        """Text lines in each window, searched at ``refine_height`` (or ``height``); with
        ``margin``, the window is bordered by that many working-size pixels of its edge
        repeated (the DB detector misses a line that fills its picture: the line touches the
        border)."""
        working = self._refine_height if height is None else height

        def scale(window_h: int) -> float:
            return min(self._refine_max_upscale, working / window_h)

        return self._search(
            image, np.asarray(windows, np.float32).reshape(-1, 4), scale, margin=margin
        )

    def _search(
        self,
        image: ImageBGR,
        windows: FloatArray,
        scale_for: Callable[[int], float],
        *,
        margin: int = 0,
    ) -> Detections:
        h, w = image.shape[:2]
        boxes: list[FloatArray] = []
        scores: list[FloatArray] = []
        for x0, y0, x1, y1 in _clip_windows(windows, w, h):
            scale = scale_for(y1 - y0)
            crop: ImageBGR = image[y0:y1, x0:x1]
            pad = math.ceil(margin / scale) if margin > 0 else 0
            if pad:
                bordered = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
                crop = np.asarray(bordered, np.uint8)
            quads, sc = self._engine.detect(crop, scale)
            if len(quads):
                xyxy = np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)
                xyxy = remove_margin(xyxy, pad, x1 - x0, y1 - y0)
                boxes.append(xyxy + np.array([x0, y0, x0, y0], np.float32))
                scores.append(sc)
        if not boxes:
            return Detections.empty()
        return Detections.from_boxes(np.concatenate(boxes), np.concatenate(scores))


def remove_margin(xyxy: FloatArray, margin: int, width: int, height: int) -> FloatArray:
    """Boxes found in a picture bordered by ``margin`` pixels, in the unbordered picture's
    coordinates (``width`` x ``height``), clipped to it."""
    out = np.asarray(xyxy, np.float32).reshape(-1, 4) - np.float32(margin)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def _clip_windows(windows: FloatArray, w: int, h: int) -> list[tuple[int, int, int, int]]:
    """Integer windows inside the frame, at least 16 px a side (smaller ones are skipped)."""
    out = []
    for x0, y0, x1, y1 in windows:
        a, b = max(0, math.floor(x0)), max(0, math.floor(y0))
        c, d = min(w, math.ceil(x1)), min(h, math.ceil(y1))
        if c - a >= 16 and d - b >= 16:
            out.append((a, b, c, d))
    return out


class RapidOcrReader:
    """PlateReader: the recogniser alone, on each box padded a little, from the full frame."""

    name = "rapidocr"

    def __init__(
        self,
        engine: RapidOcrEngine,
        *,
        pad_x: float = 0.15,
        pad_y: float = 0.15,
        deskew: bool = False,
        max_deskew_deg: float = 12.0,
    ) -> None:
        self._engine = engine
        self._pad_x = pad_x
        self._pad_y = pad_y
        self._deskew = deskew
        self._max_deskew = max_deskew_deg

    @classmethod
    def from_config(cls, engine: RapidOcrEngine, cfg: PlateReaderConfig) -> RapidOcrReader:
        return cls(
            engine,
            pad_x=cfg.pad_x,
            pad_y=cfg.pad_y,
            deskew=cfg.deskew,
            max_deskew_deg=cfg.max_deskew_deg,
        )

    def read(self, image: ImageBGR, xyxy: FloatArray) -> list[tuple[str, float]]:
        crops = [
            crop_padded(image, box, self._pad_x, self._pad_y)
            for box in np.asarray(xyxy, np.float32).reshape(-1, 4)
        ]
        if self._deskew:
            crops = [deskew(c, self._max_deskew) for c in crops]
        return self._engine.recognise(crops)


def crop_padded(image: ImageBGR, box: FloatArray, pad_x: float, pad_y: float) -> ImageBGR:
    """The box grown by ``pad_x``/``pad_y`` times its height on each side, clipped to the frame
    (never empty: at least 2x2 pixels)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    bh = max(1.0, y1 - y0)
    a = int(np.clip(math.floor(x0 - pad_x * bh), 0, w - 2))
    b = int(np.clip(math.floor(y0 - pad_y * bh), 0, h - 2))
    c = int(np.clip(math.ceil(x1 + pad_x * bh), a + 2, w))
    d = int(np.clip(math.ceil(y1 + pad_y * bh), b + 2, h))
    return image[b:d, a:c]


def skew_angle(crop: ImageBGR, max_deg: float, step: float = 2.0) -> float:
    """The rotation (degrees) that makes the text rows of ``crop`` most horizontal: the angle
    whose horizontal projection of edge strength has the largest variance."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, 64.0 / max(1, gray.shape[0]))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    edges = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))
    h, w = edges.shape
    centre = (w / 2.0, h / 2.0)
    best, best_var = 0.0, -1.0
    for angle in np.arange(-max_deg, max_deg + 1e-6, step):
        m = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
        rot = cv2.warpAffine(edges, m, (w, h), flags=cv2.INTER_LINEAR)
        var = float(np.var(rot.sum(axis=1)))
        if var > best_var + 1e-6 or (abs(var - best_var) <= 1e-6 and abs(angle) < abs(best)):
            best, best_var = float(angle), var
    return best


def deskew(crop: ImageBGR, max_deg: float) -> ImageBGR:
    """``crop`` rotated by :func:`skew_angle` (unchanged when that is 0)."""
    angle = skew_angle(crop, max_deg)
    if angle == 0.0:
        return crop
    h, w = crop.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    out = cv2.warpAffine(crop, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8)
