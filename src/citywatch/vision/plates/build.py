"""Building the plate models and stage a config describes: the back end by
``plates.reader.type`` (RapidOCR's text detector and the CTC recogniser), the detector by
``plates.detector.type`` (:func:`detector_kind`: citywatch's plate detector, the text
detector, or a user's YOLO-style model), and the stage with its plate tracker."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from citywatch.config.plates import PlatesConfig
from citywatch.config.root import default_models_dir
from citywatch.vision.plates.base import PlateDetector, PlateReader
from citywatch.vision.plates.recognisers import us_only
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.plates.tracking import PlateTracker

if TYPE_CHECKING:
    from citywatch.vision.plates.rapidocr_backend import RapidOcrTextDetector


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
    kind = detector_kind(cfg)
    if kind == "yolo":
        from citywatch.vision.plates.yolo import RefinedDetector, YoloPlateDetector

        detector = RefinedDetector(YoloPlateDetector.from_config(cfg.detector), text)
    elif kind == "plates":
        detector = _plate_map_detector(cfg, text)
    reader: PlateReader
    if r.decoder == "constrained":
        from citywatch.vision.plates.recognisers import reader_model

        _, model = reader_model(r.recogniser, r.rec_model, cfg.formats, cache_dir)
        rec = CtcRecogniser(model, keys_path=r.rec_keys, threads=r.threads)
        reader = CtcPlateReader.from_config(rec, r)
    else:
        reader = RapidOcrReader.from_config(engine, r)
    return detector, reader


#: citywatch's plate detector (its card in docs/models.md, its origin beside it)
PLATE_DETECTOR = Path(__file__).resolve().parent / "models" / "plate_det.onnx"


def detector_kind(cfg: PlatesConfig) -> str:
    """The detector ``cfg`` runs: ``auto`` is ``plates`` for every format list but US-only,
    where the text detector reads more plates (docs/models.md)."""
    if cfg.detector.type != "auto":
        return cfg.detector.type
    return "text" if us_only(cfg.formats) else "plates"


def mixed_regions_note(formats: Sequence[str]) -> str | None:
    """Advice for a format list that holds US with other regions' formats (the shipped
    default does), else None.  Such a list reads every region worse than the region's own
    list would: US plates go through the plate detector and the European reader instead of
    the text detector and PP-OCRv6 small, and European plates are searched with the looser box
    threshold US plates need (figures in docs/models.md)."""
    others = [f for f in formats if f != "US"]
    if "US" not in formats or not others:
        return None
    return (
        f"plates.formats lists US with {', '.join(others)}: a mixed list reads each region "
        "worse than its own list (development photos: US 0.70 exact against 0.86 with [US] "
        "alone, European 0.96 against 0.98 with their own formats, at more CPU per frame).  "
        "List only the formats of the plates your cameras see (docs/models.md)"
    )


def plate_box_thresh(cfg: PlatesConfig) -> float:
    """The plate detector's box threshold: ``detector.box_thresh``, or when unset 0.5 for
    format lists without US and 0.3 for lists with it (the detector is less sure of US
    plates: docs/models.md)."""
    if cfg.detector.box_thresh is not None:
        return cfg.detector.box_thresh
    return 0.3 if "US" in cfg.formats else 0.5


def _plate_map_detector(cfg: PlatesConfig, text: RapidOcrTextDetector) -> PlateDetector:
    """citywatch's plate detector (or ``detector.model``, e.g. one ``citywatch train
    plate-detector`` made) at ``detector.max_side``; each plate's text line is found by the
    text detector (``reader.refine``), and a frame without a read is searched again by the
    plate detector at its own ``detector.retry_side``."""
    from citywatch.vision.plates.rapidocr_backend import RapidOcrEngine, RapidOcrTextDetector
    from citywatch.vision.plates.yolo import RefinedDetector, ZoomRefinedDetector

    d, r = cfg.detector, cfg.reader
    engine = RapidOcrEngine(
        threads=r.threads,
        det_thresh=d.map_thresh,
        det_box_thresh=plate_box_thresh(cfg),
        det_unclip_ratio=d.unclip_ratio,
        providers=list(r.det_providers),
        det_model=d.model or PLATE_DETECTOR,
        what="plate detector",
    )
    plates = RapidOcrTextDetector(engine, max_side=d.max_side)
    if d.retry_side is None:
        return RefinedDetector(plates, text)
    return ZoomRefinedDetector(plates, text, d.retry_side)


PlateBackend = Callable[[PlatesConfig, Path], tuple[PlateDetector, PlateReader]]
BACKENDS: Mapping[str, PlateBackend] = MappingProxyType({"rapidocr": _build_rapidocr})


def build_plate_models(
    cfg: PlatesConfig, cache_dir: Path | None = None
) -> tuple[PlateDetector, PlateReader]:
    """The detector and reader of the back end ``cfg.reader.type``; ``cache_dir`` is
    ``models.cache_dir`` (where prepared models are; None: its default)."""
    builder = BACKENDS.get(cfg.reader.type)
    if builder is None:
        raise ValueError(
            f"plates.reader.type {cfg.reader.type!r} is not a known back end; "
            f"known: {', '.join(BACKENDS)}"
        )
    return builder(cfg, default_models_dir() if cache_dir is None else cache_dir)


def build_plate_stage(
    cfg: PlatesConfig, *, track: bool = True, cache_dir: Path | None = None
) -> PlateStage:
    """The stage the config describes: back end by ``cfg.reader.type``, plate tracker."""
    detector, reader = build_plate_models(cfg, cache_dir)
    tracker = PlateTracker.from_config(cfg.tracker) if track else None
    return PlateStage(detector, reader, tracker, cfg)
