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
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from citywatch.config.plates import PlatesConfig
from citywatch.vision.boxes import box_iou, union_box
from citywatch.vision.cadence import SearchCadence
from citywatch.vision.plates.base import (
    FormatReader,
    PlateDetector,
    PlateReader,
    StackedReader,
    WholePlateDetector,
    WindowRefiner,
    ZoomDetector,
)
from citywatch.vision.plates.formats import Candidate, PlateFormat, best, resolve
from citywatch.vision.plates.lines import (
    SIDES,
    better_read,
    equalise_contrast,
    extends,
    geometry_mask,
    grow_sideways,
    merge_lines,
)
from citywatch.vision.plates.recognisers import us_only
from citywatch.vision.plates.stacked import short_stacked_lines, stacked_pairs
from citywatch.vision.record import Detections, FloatArray, FrameRecord, ImageBGR, Vehicles
from citywatch.vision.tracking import Tracker
from citywatch.vision.vehicles.describe import VehicleDescriber

REFINE_PAD_X = 0.15  # a candidate's window for the refining search: its box grown by these
REFINE_PAD_Y = 0.3  # fractions of its width and height on each side
REFINE_MIN_LINE = 0.25  # a refined text line is at least this fraction of the window high
REFINE_MIN_SMALL_LINE = 0.15  # the same, in the larger search of a window without a line
REFINE_SPAN = 0.6  # read the candidate itself too when no line spans this much of its width
REFINE_MAX_GAP = 1.0  # inside a window, pieces of one line this far apart (x height) join
REFINE_REL_HEIGHT = 0.6  # lines less than this fraction of the window's tallest are not read
REFINE_MARGIN = 32  # a window without a line is searched again bordered by this (working px)

Retry = Literal["zoomed", "equalised"]  # how a frame without a read is searched again


EDGE_REACH_US = 0.8  # reader.edge_reach when it is left to the formats (US only)


def edge_reach_for(cfg: PlatesConfig) -> float:
    """``reader.edge_reach``, or when it is not set: :data:`EDGE_REACH_US` for US-only
    formats, else 0 (on images_eu it changed no read and cost 1.9 recogniser runs a photo)."""
    if cfg.reader.edge_reach is not None:
        return cfg.reader.edge_reach
    return EDGE_REACH_US if us_only(cfg.formats) else 0.0


class PlateStage:
    """Plates in frames.  With ``cfg.reader.refine`` and a detector that can
    (:class:`~citywatch.vision.plates.base.WindowRefiner`), each candidate's window is searched
    again, enlarged, for the text line inside it; ``refiner`` overrides which object does that.
    Reads are decoded against the formats ``cfg.formats`` names, or ``formats`` where given
    (formats built in code: a benchmark's variants)."""

    def __init__(
        self,
        detector: PlateDetector,
        reader: PlateReader,
        tracker: Tracker | None,
        cfg: PlatesConfig,
        *,
        refiner: WindowRefiner | None = None,
        formats: Sequence[PlateFormat] | None = None,
        vehicles: VehicleDescriber | None = None,
        idle_search: bool = True,
    ) -> None:
        self._detector = detector
        # how often moving frames are searched while nothing is read (vision/cadence.py);
        # idle_search False: every moving frame, always (a scan of stored footage)
        self.cadence = SearchCadence(
            every=cfg.idle_search_every if idle_search else 1, rest_s=cfg.tracker.lost_s
        )
        self._vehicles = vehicles  # type and colour of the vehicle holding each plate read
        self._inside_vehicles = vehicles is not None and cfg.vehicles.search == "vehicles"
        self._reader = reader
        self._tracker = tracker
        if refiner is None and cfg.reader.refine and isinstance(detector, WindowRefiner):
            refiner = detector
        self._refiner = refiner if cfg.reader.refine else None
        # the larger search of a window without a line: for whole plates only (a text
        # detector's candidate is a line already)
        whole = isinstance(detector, WholePlateDetector) and detector.finds_whole_plates
        self._zoom_height = cfg.reader.refine_zoom_height if whole else None
        self._join = cfg.reader.join_stacked
        self._filters = cfg.filters
        self._formats: tuple[PlateFormat, ...] = (
            tuple(formats) if formats is not None else resolve(cfg.formats)
        )
        self._retry_side = cfg.reader.det_retry_side
        self._retry_every_s = cfg.reader.det_retry_every_s
        zoom = bool(self._retry_side) and isinstance(detector, ZoomDetector)
        self._retries: tuple[Retry, ...] = (
            *(("zoomed",) if zoom else ()),
            *(("equalised",) if cfg.reader.det_retry_equalised else ()),
        )
        self._retry_turn = 0  # in video, which kind of search again is next
        self._last_retry_s: float | None = None  # stream time of the last search again
        self._edge_reach = edge_reach_for(cfg)
        # the most characters a read of each format can have
        self._max_chars = {
            f.name: max([f.max_len, *(len(layout) for layout in f.layouts)]) for f in self._formats
        }

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
        searches the window again with a border of :data:`REFINE_MARGIN` around it, and then
        scaled to ``reader.refine_zoom_height`` for smaller lines), and the candidate itself
        when no line spans most of it.

        The larger search is for a whole plate from a plate detector whose serial is a small
        part of it (US plates: a state name above, a slogan below, a wide frame): at the usual
        working height its characters are too small for the text detector, or it finds only
        the slogan, which the line filter drops.  A window holding a text line (every text
        detector candidate, and European plates) never gets there."""
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
                lines = self._search_window(image, windows[k], margin=REFINE_MARGIN)
            if len(lines) == 0 and self._zoom_height is not None:
                lines = self._search_window(
                    image, windows[k], height=self._zoom_height, min_line=REFINE_MIN_SMALL_LINE
                )
            for box in lines:
                boxes.append(box)
                owner.append(k)
            if len(lines) == 0 or (lines[:, 2] - lines[:, 0]).max() < REFINE_SPAN * cw[k]:
                boxes.append(coarse.xyxy[k])
                owner.append(k)
        return np.asarray(boxes, np.float32).reshape(-1, 4), owner

    def _search_window(
        self,
        image: ImageBGR,
        window: FloatArray,
        *,
        margin: int = 0,
        height: int | None = None,
        min_line: float = REFINE_MIN_LINE,
    ) -> FloatArray:
        """:meth:`_lines` of one window searched again by the refiner (bordered by
        ``margin``, scaled to ``height``)."""
        assert self._refiner is not None
        again = self._refiner.refine(image, window[None], margin=margin, height=height)
        return self._lines(merge_lines(again, max_gap=REFINE_MAX_GAP), window, min_line=min_line)

    def _lines(
        self, fine: Detections, window: FloatArray, *, min_line: float = REFINE_MIN_LINE
    ) -> FloatArray:
        """The text lines (xyxy, at most three, widest and surest first) of ``fine`` that can be
        a plate's serial in ``window``: centred inside it, plate-shaped, at least ``min_line``
        of its height, not much lower than the window's tallest line."""
        x0, y0, x1, y1 = (float(v) for v in window)
        centres = (fine.xyxy[:, :2] + fine.xyxy[:, 2:]) / 2.0
        aspect = fine.widths / np.maximum(fine.heights, 1e-6)
        inside = (
            (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
            & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
            & (aspect >= self._filters.min_aspect) & (aspect <= self._filters.max_aspect)
            & (fine.heights >= min_line * (y1 - y0))
        )  # fmt: skip
        idx = np.flatnonzero(inside)
        if self._join and len(idx):
            short = short_stacked_lines(fine.xyxy, window, idx, self._filters.min_aspect, min_line)
            idx = np.concatenate([idx, short])
        if len(idx):
            # a plate's serial is its tallest text: state names, slogans, dealer frames are
            # smaller
            idx = idx[fine.heights[idx] >= REFINE_REL_HEIGHT * fine.heights[idx].max()]
        idx = idx[np.argsort(-(fine.widths[idx] * fine.score[idx]), kind="stable")][:3]
        return fine.xyxy[idx].reshape(-1, 4)

    def _read(
        self, image: ImageBGR, boxes: FloatArray, *, quick: bool = False
    ) -> list[Candidate | None]:
        """The best plate candidate of each box (None where nothing fits a format); ``quick``:
        one recogniser run per box (see :class:`~citywatch.vision.plates.base.FormatReader`)."""
        if isinstance(self._reader, FormatReader):
            found = self._reader.read_formatted(image, boxes, self._formats, quick=quick)
            out = [c[0] if c else None for c in found]
        else:
            out = [best(raw, self._formats, conf) for raw, conf in self._reader.read(image, boxes)]
        self._check_count(len(out), len(boxes), "boxes")
        return out

    def _check_count(self, got: int, asked: int, what: str) -> None:
        """A reader returns one read per box (or pair) it was asked for."""
        if got != asked:
            raise RuntimeError(
                f"plate reader {self._reader.name!r} returned {got} reads for {asked} {what}"
            )

    def _read_lines(self, image: ImageBGR, boxes: FloatArray) -> list[Candidate | None]:
        """:meth:`_read`, and where two boxes are the lines of one stacked plate
        (:mod:`~citywatch.vision.plates.stacked`) and the reader can, the pair read as one
        too (each crop recognised once for both): where the pair's read scores better than
        each line alone, the upper line's row becomes both lines' box and read and the lower
        line's read is dropped (``boxes`` changed in place)."""
        pairs = stacked_pairs(boxes) if self._join else []
        if not pairs or not isinstance(self._reader, StackedReader):
            return self._read(image, boxes)
        lines, joined = self._reader.read_lines_and_pairs(image, boxes, pairs, self._formats)
        self._check_count(len(lines), len(boxes), "boxes")
        self._check_count(len(joined), len(pairs), "stacked pairs")
        reads = [c[0] if c else None for c in lines]
        for (i, j), cands in zip(pairs, joined, strict=True):
            alone = max((r.score for r in (reads[i], reads[j]) if r is not None), default=0.0)
            if cands and cands[0].score > alone:
                boxes[i] = union_box(boxes[i], boxes[j])
                reads[i], reads[j] = cands[0], None
        return reads

    def _read_wider(
        self, image: ImageBGR, box: FloatArray, cand: Candidate
    ) -> tuple[FloatArray, Candidate] | None:
        """A better read of a plate whose text box may have cut off a character at an edge:
        ``box`` grown by ``reach`` box heights on each side in turn and read once, and the
        surer of the grown reads that :func:`extends` the read ``cand``; None when there is
        none, or when ``cand`` already has as many characters as its format allows.

        Measured on images_us with formats US.  Half a (the tuning half; a reach of 0.6 to
        1.0 does alike): 5LTA600, read TA600 from a box that ended at a wide gap, is read
        whole and nothing else changes, exact 0.797 -> 0.814.  Held out: half b 0.808 ->
        0.846 (7AWV401 and 627WWI; 627WWI only because the tight read's edge character may
        differ, a rule seen to matter on half b only), all 0.802 -> 0.829.  images_eu (0.963)
        and the NL clips (15/15, no false alert) unchanged.  Cost: 1.3 (half a) to 1.8 (half
        b) more recogniser runs per US photo, 1.9 per EU photo."""
        if len(cand.text) >= self._max_chars.get(cand.format, 0):
            return None
        width = image.shape[1]
        grown = np.stack([grow_sideways(box, s, self._edge_reach, width) for s in SIDES])
        best: tuple[FloatArray, Candidate] | None = None
        reads = self._read(image, grown, quick=True)
        for side, wide, read in zip(SIDES, grown, reads, strict=True):
            if (
                read is not None
                and read.score >= self._filters.min_score
                and extends(cand.text, read.text, side)
                and (best is None or read.score > best[1].score)
            ):
                best = (wide, read)
        return best

    def read_plates(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        """Every plate read in ``image`` (or in ``regions`` of it), best ``text_score`` first,
        one per candidate; no tracking.  For stills, evaluation and tests.  When nothing is
        read, the frame is searched again at ``det_retry_side`` (plates too small for the
        first search), then with its contrast equalised (``det_retry_equalised``: plates in
        shade), each where set."""
        plates, _ = self._search(image, regions, retries=self._retries)
        return plates

    def _search(
        self, image: ImageBGR, regions: FloatArray | None, *, retries: Sequence[Retry]
    ) -> tuple[Detections, bool]:
        """The plates read, and whether the frame was searched again: when nothing was read,
        by each of ``retries`` in turn until something is (``zoomed``: scaled to
        ``det_retry_side``; ``equalised``: at the first scale with its contrast equalised)."""
        plates = self._read_candidates(image, self._coarse(image, regions))
        searched = False
        for kind in retries:
            if len(plates):
                break
            if kind == "zoomed":
                plates = self._read_candidates(
                    image, self._coarse(image, regions, self._retry_side)
                )
            else:
                bright = equalise_contrast(image)
                plates = self._read_candidates(bright, self._coarse(bright, regions))
            searched = True
        return plates, searched

    def _next_retry(self) -> tuple[Retry, ...]:
        """In video, the one search again this frame may have: the kinds take turns."""
        if not self._retries:
            return ()
        kind = self._retries[self._retry_turn % len(self._retries)]
        self._retry_turn += 1
        return (kind,)

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
        boxes = np.array(boxes, np.float32)  # a copy: grown boxes replace their rows
        reads = self._read_lines(image, boxes)
        chosen: dict[int, tuple[Candidate, int]] = {}  # candidate window -> (read, box)
        for i, cand in enumerate(reads):
            if cand is None or cand.score < self._filters.min_score:
                continue
            if owner[i] not in chosen or better_read(cand, chosen[owner[i]][0]):
                chosen[owner[i]] = (cand, i)
        if self._edge_reach > 0:
            for k, (cand, i) in list(chosen.items()):
                wider = self._read_wider(image, boxes[i], cand)
                if wider is not None:
                    boxes[i], read = wider
                    chosen[k] = (read, i)
        ranked = sorted(chosen.items(), key=lambda kv: (-kv[1][0].score, kv[0]))
        kept: list[tuple[int, Candidate, int]] = []
        for k, (cand, i) in ranked:
            # two windows may hold the same plate: keep the better read of it
            if all(box_iou(boxes[i : i + 1], boxes[j : j + 1])[0, 0] < 0.5 for *_, j in kept):
                kept.append((k, cand, i))
        return Detections.from_boxes(
            boxes[[i for *_, i in kept]].reshape(-1, 4),
            coarse.score[[k for k, *_ in kept]],
            text=tuple(cand.text for _, cand, _ in kept),
            text_score=[min(1.0, cand.score) for _, cand, _ in kept],
        )

    def process(self, record: FrameRecord) -> FrameRecord:
        """Fill ``record.plates`` (tracked).  Only moving regions are searched when the motion
        gate ran; nothing when it saw no motion.  A frame without a read is searched again at
        most once per ``det_retry_every_s`` of stream time, zoomed in and with its contrast
        equalised taking turns (a still gets both)."""
        start = time.perf_counter()
        motion = record.motion
        vehicles: Vehicles | None = None
        still = motion is not None and not motion.moving
        if still:
            self.cadence.still()
        if still or not self.cadence.due(record.frame.pts_s):
            plates = _with_text(Detections.empty(), [], [])
        else:
            image = record.frame.image
            regions = motion.regions if motion is not None and len(motion.regions) else None
            if self._inside_vehicles and self._vehicles is not None:
                vehicles = self._vehicles.detect(image)
                regions = inside_vehicles(regions, vehicles.xyxy, image.shape[1], image.shape[0])
            pts = record.frame.pts_s
            retries = self._next_retry() if self._retry_due(pts) else ()
            if regions is not None and len(regions) == 0:  # vehicles searched, none found
                plates = _with_text(Detections.empty(), [], [])
                retried = False
            else:
                plates, retried = self._search(image, regions, retries=retries)
            if retried:
                self._last_retry_s = pts
            self.cadence.saw(pts, len(plates) > 0)
        if self._tracker is not None:
            plates = self._tracker.update(plates, record.frame.pts_s)
        record.plates = plates
        if self._vehicles is not None and len(plates):
            t0 = time.perf_counter()
            record.vehicles = self._vehicles.describe(record.frame.image, plates, vehicles)
            record.timings_ms["vehicles"] = (time.perf_counter() - t0) * 1000.0
        record.timings_ms["plates"] = (time.perf_counter() - start) * 1000.0
        return record


VEHICLE_PAD = 0.05  # a vehicle box is searched grown by this fraction of its size each side


def inside_vehicles(
    regions: FloatArray | None, vehicles: FloatArray, width: int, height: int
) -> FloatArray:
    """Where plates are searched when only vehicles are: each vehicle box (grown by
    :data:`VEHICLE_PAD`) cut to each moving region it overlaps (all of it without motion
    regions); empty when no vehicle is (or none moves)."""
    v = np.asarray(vehicles, np.float32).reshape(-1, 4)
    pad = np.stack([v[:, 2] - v[:, 0], v[:, 3] - v[:, 1]] * 2, axis=1) * VEHICLE_PAD
    grown = v + pad * np.array([-1, -1, 1, 1], np.float32)
    grown = np.clip(grown, 0, [width, height, width, height]).astype(np.float32)
    if regions is None:
        return np.asarray(grown, np.float32)
    r = np.asarray(regions, np.float32).reshape(-1, 4)
    cut = np.concatenate(
        [
            np.maximum(grown[:, None, :2], r[None, :, :2]),
            np.minimum(grown[:, None, 2:], r[None, :, 2:]),
        ],
        axis=2,
    ).reshape(-1, 4)
    keep = (cut[:, 2] - cut[:, 0] >= 8) & (cut[:, 3] - cut[:, 1] >= 8)
    return np.asarray(cut[keep], np.float32)


def _with_text(dets: Detections, texts: list[str], scores: list[float]) -> Detections:
    return replace(dets, text=tuple(texts), text_score=np.asarray(scores, np.float32))
