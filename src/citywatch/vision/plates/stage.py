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
from types import MappingProxyType

import numpy as np

from citywatch.config.plates import PlateFilterConfig, PlatesConfig
from citywatch.vision.plates.base import PlateDetector, PlateReader
from citywatch.vision.plates.formats import PlateFormat, best, resolve
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.record import Detections, FloatArray, FrameRecord, ImageBGR
from citywatch.vision.tracking import Tracker


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
    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        tracker: Tracker | None,
        cfg: PlatesConfig,
    ) -> None:
        self._detector = detector
        self._reader = reader
        self._tracker = tracker
        self._filters = cfg.filters
        self._formats: tuple[PlateFormat, ...] = resolve(cfg.formats)

    def read_plates(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        """Every plate read in ``image`` (or in ``regions`` of it), best ``text_score`` first;
        no tracking.  For stills, evaluation and tests."""
        h = image.shape[0]
        found = merge_lines(self._detector.detect(image, regions))
        found = found.select(geometry_mask(found, h, self._filters))
        if len(found) > self._filters.max_boxes:
            found = found.select(np.argsort(-found.score, kind="stable")[: self._filters.max_boxes])
        if len(found) == 0:
            return _with_text(Detections.empty(), [], [])
        reads = self._reader.read(image, found.xyxy)
        if len(reads) != len(found):
            raise RuntimeError(
                f"plate reader {self._reader.name!r} returned {len(reads)} reads "
                f"for {len(found)} boxes"
            )
        keep: list[int] = []
        texts: list[str] = []
        scores: list[float] = []
        for i, (raw, conf) in enumerate(reads):
            cand = best(raw, self._formats, conf)
            if cand is None or cand.score < self._filters.min_score:
                continue
            keep.append(i)
            texts.append(cand.text)
            scores.append(min(1.0, cand.score))
        plates = _with_text(found.select(np.asarray(keep, np.int64)), texts, scores)
        order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
        return plates.select(order.astype(np.int64))

    def process(self, record: FrameRecord) -> FrameRecord:
        start = time.perf_counter()
        motion = record.motion
        t = record.frame.pts_s
        if motion is not None and not motion.moving:
            plates = _with_text(Detections.empty(), [], [])
        else:
            regions = motion.regions if motion is not None and len(motion.regions) else None
            plates = self.read_plates(record.frame.image, regions)
        if self._tracker is not None:
            plates = self._tracker.update(plates, t)
        record.plates = plates
        record.timings_ms["plates"] = (time.perf_counter() - start) * 1000.0
        return record


def _with_text(dets: Detections, texts: list[str], scores: list[float]) -> Detections:
    return replace(dets, text=tuple(texts), text_score=np.asarray(scores, np.float32))


def _build_rapidocr(cfg: PlatesConfig) -> tuple[PlateDetector, PlateReader]:
    from citywatch.vision.plates.rapidocr_backend import (
        RapidOcrEngine,
        RapidOcrReader,
        RapidOcrTextDetector,
    )

    engine = RapidOcrEngine.from_config(cfg.reader)
    detector = RapidOcrTextDetector.from_config(engine, cfg.reader)
    return detector, RapidOcrReader.from_config(engine, cfg.reader)


BACKENDS: Mapping[str, Callable[[PlatesConfig], tuple[PlateDetector, PlateReader]]] = (
    MappingProxyType({"rapidocr": _build_rapidocr})
)


def build_plate_stage(cfg: PlatesConfig, *, track: bool = True) -> PlateStage:
    """The stage the config describes: back end by ``cfg.reader.type``, plate tracker."""
    builder = BACKENDS.get(cfg.reader.type)
    if builder is None:
        raise ValueError(
            f"plates.reader.type {cfg.reader.type!r} is not a known back end; "
            f"known: {', '.join(BACKENDS)}"
        )
    detector, reader = builder(cfg)
    tracker = PlateTracker.from_config(cfg.tracker) if track else None
    return PlateStage(detector, reader, tracker, cfg)
