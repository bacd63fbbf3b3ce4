"""Where one photo's time goes in the shipped plate stage (``models_plates.py --breakdown``).

The shipped default stage (:func:`~citywatch.vision.plates.build.build_plate_stage` with only
``formats`` set) runs :meth:`PlateStage.read_plates` on every photo, and timers wrapped around
its parts (on the instances only: the code that runs is the code cameras run) split its CPU
time into the parts below.  The timers read the calling thread's CPU clock, not the wall
clock: with one onnxruntime thread (the default) the models run on the calling thread, and
CPU time moves far less than wall time with the load other work puts on a shared host
(``wall`` is given beside ``total`` for that reason).

* ``text_det_first``  -- the DB text detector's first search of the whole frame (its ONNX
  run and its DB post-processing); where the stage finds plates with citywatch's plate
  detector (``detector.type`` ``plates``, what ``auto`` runs for every list but US-only), that
  detector's first search instead, as ``plate_det_first``;
* ``text_det_again``  -- its searches again of a frame without a read (zoomed to
  ``det_retry_side``, contrast equalised); ``plate_det_again`` the plate detector's (at its
  ``detector.retry_side``);
* ``text_det_refine`` -- the same detector on the windows around candidates (``refine``);
  of both, ``text_det_post`` is the DB post-processing (reported beside, inside them) and
  ``text_det_runs`` the detector's runs per photo;
* ``filtering``       -- candidate filtering: merging pieces of a line, the geometry filter,
  choosing the lines inside each window (:meth:`PlateStage._coarse` and ``_refine`` less the
  detector runs inside them);
* ``rec_onnx``        -- the recogniser's ONNX runs (``rec_runs``: session runs per photo,
  ``rec_crops``: crops read per photo, each stretch of a box counting once);
* ``rec_prep``        -- resizing and normalising the crops, and folding the model's 6,625
  classes into plate symbols;
* ``decoding``        -- format-constrained decoding of the probabilities, merging reads
  (and cutting the crops out of the frame: array slices);
* ``other``           -- the rest (contrast equalising for the search again, ranking,
  suppressing duplicates, Python glue).

The timers cost a few microseconds per call; ``total`` is the CPU time of the whole call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from citywatch.config.plates import PlatesConfig
from citywatch.eval.common import Metrics
from citywatch.eval.plates import PlateImageReport, load_photos, score_photo
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_stage, detector_kind
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.plates.yolo import RefinedDetector

PARTS = (
    "plate_det_first",
    "plate_det_again",
    "text_det_first",
    "text_det_again",
    "text_det_refine",
    "filtering",
    "rec_onnx",
    "rec_prep",
    "decoding",
    "other",
)


class Clock:
    """Seconds spent per part of one photo, with a stack so nested parts are not counted
    twice: time inside a nested timer belongs to the nested part only."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._stack: list[tuple[str, float]] = []  # (part, start of its own stretch)

    def wrap(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.thread_time()
            if self._stack:  # the enclosing part pauses
                outer, since = self._stack[-1]
                self.spent[outer] += now - since
            self._stack.append((part, now))
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.thread_time()
                _, since = self._stack.pop()
                self.spent[part] += end - since
                if self._stack:
                    outer, _ = self._stack[-1]
                    self._stack[-1] = (outer, end)

        return timed

    def inner(self, key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed into ``spent[key]`` without leaving the enclosing part (a share of
        it, reported beside the parts)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[key] += time.thread_time() - t0

        return timed

    def reset(self) -> None:
        self.spent.clear()
        self.counts.clear()


class _Session:
    """An onnxruntime session whose ``run`` is timed (and counted with the batch size)."""

    def __init__(self, session: Any, clock: Clock, part: str, *, exclusive: bool = True) -> None:
        self._session = session
        self._clock = clock
        self._part = part
        self.run = clock.wrap(part, self._run) if exclusive else clock.inner(part, self._run)

    def _run(self, names: Any, feeds: dict[str, Any]) -> Any:
        self._clock.counts[f"{self._part}_runs"] += 1
        self._clock.counts[f"{self._part}_crops"] += int(next(iter(feeds.values())).shape[0])
        return self._session.run(names, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def instrument(stage: PlateStage, clock: Clock) -> None:
    """Wrap the parts of the shipped stage (the plate or text detector, the text detector's
    refining search, the CTC reader) in timers.  Reaches into private attributes on purpose:
    this measures the code as it is."""
    det: Any = stage._detector  # RapidOcrTextDetector, or a plate detector with its refiner
    kind = "text_det"
    if isinstance(det, RefinedDetector):
        plates: Any = det._detector  # the plate detector (a DB map detector)
        plates._engine._det = _Session(plates._engine._det, clock, "plate_det", exclusive=False)
        det = det._refiner  # the text detector that refines its boxes
        kind = "plate_det"
    engine: Any = det._engine
    reader: Any = stage._reader  # CtcPlateReader
    rec: Any = reader._rec  # CtcRecogniser
    # the detector's phases: whole frame (coarse) or windows (refine)
    searcher: Any = stage._detector
    first = clock.wrap(f"{kind}_first", searcher.detect)
    again = clock.wrap(f"{kind}_again", searcher.detect)

    def detect(*args: Any, **kwargs: Any) -> Any:  # the first call of a photo is its first search
        clock.counts["detect_calls"] += 1
        return (first if clock.counts["detect_calls"] == 1 else again)(*args, **kwargs)

    searcher.detect = detect
    searcher.detect_at = clock.wrap(f"{kind}_again", searcher.detect_at)
    det.refine = clock.wrap("text_det_refine", det.refine)
    stage._coarse = clock.wrap("filtering", stage._coarse)  # type: ignore[method-assign]
    stage._refine = clock.wrap("filtering", stage._refine)  # type: ignore[method-assign]
    stage._read = clock.wrap("decoding", stage._read)  # type: ignore[method-assign]
    rec.probabilities = clock.wrap("rec_prep", rec.probabilities)
    rec._session = _Session(rec._session, clock, "rec_onnx")
    # inside the detector's phases: how many runs, and how much of it is DB post-processing
    engine._det = _Session(engine._det, clock, "text_det", exclusive=False)
    engine._post = clock.inner("text_det_post", engine._post)


def measure(
    folder: Path, formats: list[str], subset: Literal["all", "a", "b"]
) -> tuple[Metrics, list[Metrics]]:
    """Per-part CPU ms per photo of the shipped stage on ``folder`` (mean over its photos), with the
    scored exact rate so the breakdown is of a stage that reads what it should; and per photo
    rows (for a look at the slow ones)."""
    cfg = PlatesConfig.model_validate({"formats": formats})
    stage = build_plate_stage(cfg, track=False)
    clock = Clock()
    instrument(stage, clock)
    read_plates = clock.wrap("other", stage.read_plates)
    photos = load_photos(folder, subset)
    report = PlateImageReport()
    sums: dict[str, float] = defaultdict(float)
    per_photo: list[Metrics] = []
    read_plates(load_image(photos[0].image))  # warm-up: first-run allocations
    for photo in photos:
        image = load_image(photo.image)
        clock.reset()
        t0, w0 = time.thread_time(), time.perf_counter()
        plates = read_plates(image)
        total = (time.thread_time() - t0) * 1000.0
        wall = (time.perf_counter() - w0) * 1000.0
        report.outcomes.extend(score_photo(photo, plates, stage.formats))
        report.ms.append(total)
        row: Metrics = {"photo": photo.image.name, "wall": round(wall, 2), "total": round(total, 2)}
        for part in PARTS:
            ms = clock.spent.get(part, 0.0) * 1000.0
            sums[part] += ms
            row[part] = round(ms, 2)
        row["text_det_post"] = round(clock.spent.get("text_det_post", 0.0) * 1000.0, 2)
        sums["text_det_post"] += row["text_det_post"]  # type: ignore[operator]
        for key in ("rec_onnx_runs", "rec_onnx_crops", "text_det_runs", "plate_det_runs"):
            sums[key] += clock.counts.get(key, 0)
            row[key] = clock.counts.get(key, 0)
        sums["total"] += total
        sums["wall"] += wall
        per_photo.append(row)
    n = len(photos)
    m = report.metrics(folder.name, subset)
    out: Metrics = {
        "set": folder.name,
        "formats": ",".join(formats),
        "detector": detector_kind(cfg),
        "photos": n,
        "exact_rate": m["exact_rate"],
    }
    out["wall"] = round(sums["wall"] / n, 1)
    out["total"] = round(sums["total"] / n, 1)
    for part in PARTS:
        out[part] = round(sums[part] / n, 1)
    out["text_det_post"] = round(sums["text_det_post"] / n, 1)
    out["text_det_runs"] = round(sums["text_det_runs"] / n, 2)
    out["plate_det_runs"] = round(sums["plate_det_runs"] / n, 2)
    out["rec_runs"] = round(sums["rec_onnx_runs"] / n, 2)
    out["rec_crops"] = round(sums["rec_onnx_crops"] / n, 2)
    return out, per_photo
