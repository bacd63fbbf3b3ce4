"""The plate stage of the per-camera pipeline: find text, keep what can be a plate, read it, track.

``PlateStage.process(record)`` fills ``record.plates``: one row per plate read in the frame, with
``text`` the best normalised candidate (no separators, upper case) and ``text_score`` its score
(OCR confidence times format fit, 0..1), and ``track_id`` from the plate tracker.  When the motion
gate ran, only moving regions are searched, and nothing at all when nothing moves.  Text that is
not a plate is dropped twice: by box geometry before reading (aspect ratio, height), and by
:func:`~citywatch.vision.plates.formats.normalise` after (character count and layout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from citywatch.config.plates import PlateFilterConfig, PlatesConfig
from citywatch.config.root import ModelsConfig
from citywatch.vision.boxes import box_iou
from citywatch.vision.plates.base import (
    FormatReader,
    PlateDetector,
    PlateReader,
    WindowRefiner,
    ZoomDetector,
)
from citywatch.vision.plates.formats import Candidate, PlateFormat, best, resolve
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.record import Detections, FloatArray, FrameRecord, ImageBGR
from citywatch.vision.tracking import Tracker

DEFAULT_CACHE_DIR = ModelsConfig().cache_dir
REFINE_PAD_X = 0.15  # a candidate's window for the refining search: its box grown by these
REFINE_PAD_Y = 0.3  # fractions of its width and height on each side
REFINE_MIN_LINE = 0.25  # a refined text line is at least this fraction of the window high
REFINE_SPAN = 0.6  # read the candidate itself too when no line spans this much of its width
REFINE_MAX_GAP = 1.0  # inside a window, pieces of one line this far apart (x height) join
REFINE_REL_HEIGHT = 0.6  # lines less than this fraction of the window's tallest are not read
REFINE_MARGIN = 32  # a window without a line is searched again bordered by this (working px)


def geometry_mask(dets: Detections, frame_h: int, cfg: PlateFilterConfig) -> np.ndarray:
    """Boxes whose shape can hold a one-line plate."""
    w, h = dets.widths, dets.heights
    aspect = w / np.maximum(h, 1e-6)
    return (
        (aspect >= cfg.min_aspect)
        & (aspect <= cfg.max_aspect)
        & (h >= cfg.min_height_px)
        & (h <= cfg.max_height_frac * frame_h)
    )


def merge_lines(dets: Detections, *, max_gap: float = 1.0, min_overlap: float = 0.6) -> Detections:
    """Join text boxes that sit side by side on one line (a plate split at its gaps or its
    crest: ``RK`` ``101`` ``AO``) into one box each; the score is the mean, weighted by width.

    Two boxes join when their vertical overlap is at least ``min_overlap`` of the shorter one's
    height and the horizontal gap between them is at most ``max_gap`` times that height.
    """
    if len(dets) < 2:
        return dets
    boxes = [b.astype(np.float64) for b in dets.xyxy]
    weights = [float(w) for w in dets.widths]
    scores = [float(s) * w for s, w in zip(dets.score, weights, strict=True)]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                h = min(a[3] - a[1], b[3] - b[1])
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                gap = max(a[0], b[0]) - min(a[2], b[2])
                if h > 0 and overlap >= min_overlap * h and gap <= max_gap * h:
                    boxes[i] = np.array(
                        [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    )
                    weights[i] += weights[j]
                    scores[i] += scores[j]
                    del boxes[j], weights[j], scores[j]
                    merged = True
                    break
            if merged:
                break
    return Detections.from_boxes(
        np.asarray(boxes, np.float32),
        np.asarray([s / max(w, 1e-6) for s, w in zip(scores, weights, strict=True)], np.float32),
    )


class PlateStage:
    """Plates in frames.  With ``cfg.reader.refine`` and a detector that can
    (:class:`~citywatch.vision.plates.base.WindowRefiner`), each candidate's window is searched
    again, enlarged, for the text line inside it; ``refiner`` overrides which object does that."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        tracker: Tracker | None,
        cfg: PlatesConfig,
        *,
        refiner: WindowRefiner | None = None,
    ) -> None:
        self._detector = detector
        self._reader = reader
        self._tracker = tracker
        if refiner is None and cfg.reader.refine and isinstance(detector, WindowRefiner):
            refiner = detector
        self._refiner = refiner if cfg.reader.refine else None
        self._filters = cfg.filters
        self._formats: tuple[PlateFormat, ...] = resolve(cfg.formats)
        self._retry_side = cfg.reader.det_retry_side
        self._retry_every_s = cfg.reader.det_retry_every_s
        self._last_retry_s: float | None = None  # stream time of the last search again

    @property
    def formats(self) -> tuple[PlateFormat, ...]:
        """The plate formats reads are decoded against, in order of preference."""
        return self._formats

    def _coarse(
        self, image: ImageBGR, regions: FloatArray | None, max_side: int | None = None
    ) -> Detections:
        if max_side is not None and isinstance(self._detector, ZoomDetector):
            found = self._detector.detect_at(image, regions, max_side)
        else:
            found = self._detector.detect(image, regions)
        found = merge_lines(found)
        found = found.select(geometry_mask(found, image.shape[0], self._filters))
        if len(found) > self._filters.max_boxes:
            found = found.select(np.argsort(-found.score, kind="stable")[: self._filters.max_boxes])
        return found

    def _refine(self, image: ImageBGR, coarse: Detections) -> tuple[FloatArray, list[int]]:
        """Boxes to read, and for each the index of the candidate it belongs to: the text lines
        the refiner finds in each candidate's window (at most three; where it finds none, it
        searches the window again with a border of :data:`REFINE_MARGIN` around it), and the
        candidate itself when no line spans most of it."""
        assert self._refiner is not None
        h, w = image.shape[:2]
        cw, ch = coarse.widths, coarse.heights
        windows = np.stack(
            [
                np.maximum(0, coarse.xyxy[:, 0] - REFINE_PAD_X * cw),
                np.maximum(0, coarse.xyxy[:, 1] - REFINE_PAD_Y * ch),
                np.minimum(w, coarse.xyxy[:, 2] + REFINE_PAD_X * cw),
                np.minimum(h, coarse.xyxy[:, 3] + REFINE_PAD_Y * ch),
            ],
            axis=1,
        ).astype(np.float32)
        fine = merge_lines(self._refiner.refine(image, windows), max_gap=REFINE_MAX_GAP)
        boxes: list[FloatArray] = []
        owner: list[int] = []
        for k in range(len(windows)):
            lines = self._lines(fine, windows[k])
            if len(lines) == 0:
                # the line may fill the window: search it again with a border around it
                again = self._refiner.refine(image, windows[k : k + 1], margin=REFINE_MARGIN)
                lines = self._lines(merge_lines(again, max_gap=REFINE_MAX_GAP), windows[k])
            for box in lines:
                boxes.append(box)
                owner.append(k)
            if len(lines) == 0 or (lines[:, 2] - lines[:, 0]).max() < REFINE_SPAN * cw[k]:
                boxes.append(coarse.xyxy[k])
                owner.append(k)
        return np.asarray(boxes, np.float32).reshape(-1, 4), owner

    def _lines(self, fine: Detections, window: FloatArray) -> FloatArray:
        """The text lines (xyxy, at most three, widest and surest first) of ``fine`` that can be
        a plate's serial in ``window``: centred inside it, plate-shaped, not much lower than
        the window's tallest line."""
        x0, y0, x1, y1 = (float(v) for v in window)
        centres = (fine.xyxy[:, :2] + fine.xyxy[:, 2:]) / 2.0
        aspect = fine.widths / np.maximum(fine.heights, 1e-6)
        inside = (
            (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
            & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
            & (aspect >= self._filters.min_aspect) & (aspect <= self._filters.max_aspect)
            & (fine.heights >= REFINE_MIN_LINE * (y1 - y0))
        )  # fmt: skip
        idx = np.flatnonzero(inside)
        if len(idx):
            # a plate's serial is its tallest text: state names, slogans, dealer frames are
            # smaller
            idx = idx[fine.heights[idx] >= REFINE_REL_HEIGHT * fine.heights[idx].max()]
        idx = idx[np.argsort(-(fine.widths[idx] * fine.score[idx]), kind="stable")][:3]
        return fine.xyxy[idx].reshape(-1, 4)

    def _read(self, image: ImageBGR, boxes: FloatArray) -> list[Candidate | None]:
        """The best plate candidate of each box (None where nothing fits a format)."""
        if isinstance(self._reader, FormatReader):
            found = self._reader.read_formatted(image, boxes, self._formats)
            out = [c[0] if c else None for c in found]
        else:
            out = [best(raw, self._formats, conf) for raw, conf in self._reader.read(image, boxes)]
        if len(out) != len(boxes):
            raise RuntimeError(
                f"plate reader {self._reader.name!r} returned {len(out)} reads "
                f"for {len(boxes)} boxes"
            )
        return out

    def read_plates(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        """Every plate read in ``image`` (or in ``regions`` of it), best ``text_score`` first,
        one per candidate; no tracking.  For stills, evaluation and tests.  When nothing is
        read and ``det_retry_side`` is set, the frame is searched again at that larger scale
        (plates too small for the first search)."""
        plates, _ = self._search(image, regions, retry=True)
        return plates

    def _search(
        self, image: ImageBGR, regions: FloatArray | None, *, retry: bool
    ) -> tuple[Detections, bool]:
        """The plates read, and whether the frame was searched again zoomed in."""
        plates = self._read_candidates(image, self._coarse(image, regions))
        if (
            len(plates) == 0
            and retry
            and self._retry_side
            and isinstance(self._detector, ZoomDetector)
        ):
            plates = self._read_candidates(image, self._coarse(image, regions, self._retry_side))
            return plates, True
        return plates, False

    def _retry_due(self, pts_s: float) -> bool:
        last = self._last_retry_s
        return last is None or pts_s < last or pts_s - last >= self._retry_every_s

    def _read_candidates(self, image: ImageBGR, coarse: Detections) -> Detections:
        if len(coarse) == 0:
            return _with_text(Detections.empty(), [], [])
        if self._refiner is None:
            boxes, owner = coarse.xyxy, list(range(len(coarse)))
        else:
            boxes, owner = self._refine(image, coarse)
        chosen: dict[int, tuple[float, str, int]] = {}  # candidate -> (score, text, box)
        for i, cand in enumerate(self._read(image, boxes)):
            if cand is None or cand.score < self._filters.min_score:
                continue
            if owner[i] not in chosen or cand.score > chosen[owner[i]][0]:
                chosen[owner[i]] = (cand.score, cand.text, i)
        ranked = sorted(chosen.items(), key=lambda kv: (-kv[1][0], kv[0]))
        kept: list[tuple[int, float, str, int]] = []
        for k, (score, text, i) in ranked:
            # two windows may hold the same plate: keep the better read of it
            if all(box_iou(boxes[i : i + 1], boxes[j : j + 1])[0, 0] < 0.5 for *_, j in kept):
                kept.append((k, score, text, i))
        plates = Detections.from_boxes(
            boxes[[i for *_, i in kept]].reshape(-1, 4),
            coarse.score[[k for k, *_ in kept]],
            text=tuple(text for _, _, text, _ in kept),
            text_score=[min(1.0, score) for _, score, _, _ in kept],
        )
        return plates

    def process(self, record: FrameRecord) -> FrameRecord:
        """Fill ``record.plates`` (tracked).  Only moving regions are searched when the motion
        gate ran; nothing when it saw no motion.  A frame without a read is searched again
        zoomed in at most once per ``det_retry_every_s`` of stream time."""
        start = time.perf_counter()
        motion = record.motion
        if motion is not None and not motion.moving:
            plates = _with_text(Detections.empty(), [], [])
        else:
            regions = motion.regions if motion is not None and len(motion.regions) else None
            pts = record.frame.pts_s
            plates, retried = self._search(record.frame.image, regions, retry=self._retry_due(pts))
            if retried:
                self._last_retry_s = pts
        if self._tracker is not None:
            plates = self._tracker.update(plates, record.frame.pts_s)
        record.plates = plates
        record.timings_ms["plates"] = (time.perf_counter() - start) * 1000.0
        return record


def _with_text(dets: Detections, texts: list[str], scores: list[float]) -> Detections:
    return replace(dets, text=tuple(texts), text_score=np.asarray(scores, np.float32))


def _build_rapidocr(cfg: PlatesConfig, cache_dir: Path) -> tuple[PlateDetector, PlateReader]:
    """RapidOCR's text detector finds text (or refines a plate detector's boxes); the reader
    is the CTC recogniser with format-constrained decoding (the model named by
    ``reader.recogniser``, or ``reader.rec_model``), or RapidOCR's greedy reader."""
    from citywatch.vision.plates.ppocr import CtcPlateReader, CtcRecogniser
    from citywatch.vision.plates.rapidocr_backend import (
        RapidOcrEngine,
        RapidOcrReader,
        RapidOcrTextDetector,
    )

    r = cfg.reader
    engine = RapidOcrEngine.from_config(r)
    text = RapidOcrTextDetector.from_config(engine, r)
    detector: PlateDetector = text
    if cfg.detector.type == "yolo":
        from citywatch.vision.plates.yolo import RefinedDetector, YoloPlateDetector

        detector = RefinedDetector(YoloPlateDetector.from_config(cfg.detector), text)
    reader: PlateReader
    if r.decoder == "constrained":
        from citywatch.vision.plates.recognisers import reader_model

        _, model = reader_model(r.recogniser, r.rec_model, cfg.formats, cache_dir)
        rec = CtcRecogniser(model, keys_path=r.rec_keys, threads=r.threads)
        reader = CtcPlateReader(
            rec,
            pad_x=r.pad_x,
            pad_y=r.pad_y,
            stretches=r.stretches,
            sure_score=r.sure_score,
            reread_unfit=r.reread_unfit,
        )
    else:
        reader = RapidOcrReader.from_config(engine, r)
    return detector, reader


PlateBackend = Callable[[PlatesConfig, Path], tuple[PlateDetector, PlateReader]]
BACKENDS: Mapping[str, PlateBackend] = MappingProxyType({"rapidocr": _build_rapidocr})


def build_plate_models(
    cfg: PlatesConfig, cache_dir: Path = DEFAULT_CACHE_DIR
) -> tuple[PlateDetector, PlateReader]:
    """The detector and reader of the back end ``cfg.reader.type``; ``cache_dir`` is
    ``models.cache_dir`` (where prepared models are)."""
    builder = BACKENDS.get(cfg.reader.type)
    if builder is None:
        raise ValueError(
            f"plates.reader.type {cfg.reader.type!r} is not a known back end; "
            f"known: {', '.join(BACKENDS)}"
        )
    return builder(cfg, cache_dir)


def build_plate_stage(
    cfg: PlatesConfig, *, track: bool = True, cache_dir: Path = DEFAULT_CACHE_DIR
) -> PlateStage:
    """The stage the config describes: back end by ``cfg.reader.type``, plate tracker."""
    detector, reader = build_plate_models(cfg, cache_dir)
    tracker = PlateTracker.from_config(cfg.tracker) if track else None
    return PlateStage(detector, reader, tracker, cfg)
