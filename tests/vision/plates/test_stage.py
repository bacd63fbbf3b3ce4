from __future__ import annotations

import numpy as np
import pytest

from citywatch.config.plates import PlateFilterConfig, PlatesConfig
from citywatch.vision.plates.base import PlateDetector, PlateReader, WindowRefiner
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.lines import (
    Side,
    equalise_contrast,
    extends,
    geometry_mask,
    grow_sideways,
    merge_lines,
)
from citywatch.vision.plates.stage import REFINE_MARGIN, PlateStage, edge_reach_for
from citywatch.vision.plates.tracking import PlateTracker
from citywatch.vision.record import Detections, FloatArray, Frame, FrameRecord, ImageBGR, Motion


class FakeDetector:
    """Returns fixed boxes (those inside the regions, when regions are given)."""

    name = "fake"

    def __init__(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        self.calls: list[FloatArray | None] = []

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        self.calls.append(regions)
        keep = np.ones(len(self.boxes), bool)
        if regions is not None:
            keep[:] = False
            for x0, y0, x1, y1 in regions:
                b = self.boxes
                keep |= (b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 2] <= x1) & (b[:, 3] <= y1)
        return Detections.from_boxes(self.boxes[keep], np.full(int(keep.sum()), 0.9))


class FakeRefiner(FakeDetector):
    """A WindowRefiner: finds its fixed boxes inside the windows it is given, and the
    ``bordered`` ones only when it searches with a margin."""

    def __init__(
        self,
        boxes: list[tuple[float, float, float, float]],
        bordered: list[tuple[float, float, float, float]] | None = None,
        zoomed: list[tuple[float, float, float, float]] | None = None,
    ) -> None:
        super().__init__(boxes)
        self.bordered = FakeDetector(bordered or [])
        self.zoomed = FakeDetector(zoomed or [])
        self.margins: list[int] = []
        self.heights: list[int | None] = []

    def refine(
        self, image: ImageBGR, windows: FloatArray, *, margin: int = 0, height: int | None = None
    ) -> Detections:
        self.margins.append(margin)
        self.heights.append(height)
        if height is not None:
            return self.zoomed.detect(image, windows)
        if margin:
            return self.bordered.detect(image, windows)
        return self.detect(image, windows)


class FakeReader:
    """Reads the text stored for a box (keyed by its left edge)."""

    name = "fake"

    def __init__(self, texts: dict[int, tuple[str, float]]) -> None:
        self.texts = texts
        self.read_boxes: list[FloatArray] = []

    def read(self, image: ImageBGR, xyxy: FloatArray) -> list[tuple[str, float]]:
        self.read_boxes.append(xyxy)
        return [self.texts.get(int(b[0]), ("", 0.0)) for b in xyxy]


def cfg(**filters: float) -> PlatesConfig:
    c = PlatesConfig(formats=["NL", "EU"])
    c.filters = PlateFilterConfig(**filters)
    return c


IMAGE = np.zeros((480, 640, 3), np.uint8)
PLATE = (200.0, 400.0, 400.0, 440.0)  # 5:1
SIGN = (50.0, 50.0, 250.0, 90.0)
TALL = (500.0, 100.0, 520.0, 300.0)  # 1:10, a pole


def make_record(k: int, motion: Motion | None = None) -> FrameRecord:
    return FrameRecord(Frame("cam", k, 0.2 * k, 1000.0 + k, IMAGE), motion=motion)


def test_fakes_follow_the_protocols() -> None:
    assert isinstance(FakeDetector([]), PlateDetector)
    assert not isinstance(FakeDetector([]), WindowRefiner)
    assert isinstance(FakeRefiner([]), WindowRefiner)
    assert isinstance(FakeReader({}), PlateReader)


def test_a_refining_detector_refines_unless_config_says_no() -> None:
    det = FakeRefiner([PLATE])
    reader = FakeReader({200: ("56-JTT-5", 0.9)})
    PlateStage(det, reader, None, cfg()).read_plates(IMAGE)
    assert len(det.calls) == 2  # detect, then refine
    off = cfg()
    off.reader.refine = False
    det2 = FakeRefiner([PLATE])
    PlateStage(det2, reader, None, off).read_plates(IMAGE)
    assert len(det2.calls) == 1


def test_reads_plates_and_drops_other_text() -> None:
    det = FakeDetector([PLATE, SIGN, TALL])
    reader = FakeReader({200: ("56-JTT-S", 0.95), 50: ("PARKING", 0.99), 500: ("1", 0.9)})
    stage = PlateStage(det, reader, None, cfg())
    plates = stage.read_plates(IMAGE)
    assert plates.text == ("56JTT5",)
    assert plates.text_score is not None and 0.5 < plates.text_score[0] <= 1.0
    np.testing.assert_allclose(plates.xyxy[0], PLATE)
    # the pole never reached the reader: geometry filtered it
    assert all(int(b[0]) != 500 for b in reader.read_boxes[0])


def test_formats_given_in_code_replace_the_named_ones() -> None:
    from dataclasses import replace

    from citywatch.vision.plates.formats import FORMATS

    det = FakeDetector([PLATE])
    reader = FakeReader({200: ("NEVADA", 0.95)})
    us = FORMATS["US"]
    named = PlateStage(det, reader, None, PlatesConfig(formats=["US"]))
    assert named.formats == (us,) and len(named.read_plates(IMAGE)) == 0  # a state's name
    plain = replace(us, not_plates=frozenset())
    custom = PlateStage(det, reader, None, PlatesConfig(formats=["US"]), formats=(plain,))
    assert custom.formats == (plain,)
    assert len(custom.read_plates(IMAGE)) == 1  # read as a vanity plate (repaired: NEV40A)


def test_low_scores_are_dropped() -> None:
    det = FakeDetector([PLATE])
    stage = PlateStage(det, FakeReader({200: ("56-JTT-5", 0.2)}), None, cfg(min_score=0.35))
    assert len(stage.read_plates(IMAGE)) == 0


def test_best_first_and_max_boxes() -> None:
    # five plates on five rows (far apart: nothing merges)
    boxes = [(10.0 + 10 * i, 10.0 + 60 * i, 90.0 + 10 * i, 30.0 + 60 * i) for i in range(5)]
    texts = {10 + 10 * i: ("56-JTT-5", 0.5 + 0.1 * i) for i in range(5)}
    det = FakeDetector(boxes)
    reader = FakeReader(texts)
    plates = PlateStage(det, reader, None, cfg(max_boxes=3)).read_plates(IMAGE)
    assert len(reader.read_boxes[0]) == 3
    assert plates.text_score is not None
    assert list(plates.text_score) == sorted(plates.text_score, reverse=True)


def test_process_skips_frames_without_motion() -> None:
    det = FakeDetector([PLATE])
    stage = PlateStage(det, FakeReader({200: ("56-JTT-5", 0.9)}), PlateTracker(), cfg())
    rec = stage.process(make_record(0, Motion(moving=False, fraction=0.0)))
    assert len(rec.plates) == 0 and det.calls == []
    assert "plates" in rec.timings_ms


def test_process_reads_only_moving_regions() -> None:
    det = FakeDetector([PLATE, SIGN])
    reader = FakeReader({200: ("56-JTT-5", 0.9), 50: ("XS-NB-23", 0.9)})
    stage = PlateStage(det, reader, PlateTracker(), cfg())
    region = np.array([[150, 350, 450, 470]], np.float32)
    rec = stage.process(make_record(0, Motion(moving=True, fraction=0.1, regions=region)))
    assert det.calls[0] is not None
    np.testing.assert_array_equal(det.calls[0], region)
    assert rec.plates.text == ("56JTT5",)
    assert rec.plates.track_id[0] >= 1


def test_process_without_motion_gate_searches_everything_and_tracks() -> None:
    det = FakeDetector([PLATE])
    stage = PlateStage(det, FakeReader({200: ("56-JTT-5", 0.9)}), PlateTracker(), cfg())
    ids = [int(stage.process(make_record(k)).plates.track_id[0]) for k in range(3)]
    assert det.calls == [None, None, None]
    assert len(set(ids)) == 1


def test_reader_returning_wrong_count_is_an_error() -> None:
    class BadReader(FakeReader):
        def read(self, image: ImageBGR, xyxy: FloatArray) -> list[tuple[str, float]]:
            return []

    stage = PlateStage(FakeDetector([PLATE]), BadReader({}), None, cfg())
    with pytest.raises(RuntimeError, match="returned 0 reads for 1 boxes"):
        stage.read_plates(IMAGE)


def test_geometry_mask() -> None:
    d = Detections.from_boxes([PLATE, TALL, (0, 0, 40, 5), (0, 0, 400, 200)], [1, 1, 1, 1])
    mask = geometry_mask(d, 480, PlateFilterConfig())
    assert mask.tolist() == [True, False, False, False]


@pytest.mark.parametrize(
    ("line_height", "kept"),
    [(50, True), (79, True), (81, False)],  # in a 200 px high close-up: up to 0.4 of it
)
def test_a_close_up_plate_line_is_kept(line_height: int, kept: bool) -> None:
    d = Detections.from_boxes([(20, 40, 20 + 3 * line_height, 40 + line_height)], [1])
    assert geometry_mask(d, 200, PlateFilterConfig()).tolist() == [kept]


def test_merge_lines_joins_plate_fragments_only() -> None:
    # "RK" "101" "AO" on one line, a sticker line below, a far box on the same line
    d = Detections.from_boxes(
        [(100, 50, 130, 70), (136, 51, 180, 70), (186, 50, 210, 69), (100, 90, 200, 105),
         (400, 50, 430, 70)],
        [0.6, 0.8, 0.7, 0.9, 0.5],
    )  # fmt: skip
    out = merge_lines(d)
    assert len(out) == 3
    rows = {tuple(np.round(b).astype(int).tolist()) for b in out.xyxy}
    assert (100, 50, 210, 70) in rows
    merged = int(np.flatnonzero(out.xyxy[:, 2] == 210)[0])
    assert 0.6 < out.score[merged] < 0.8


def test_unknown_backend_is_named() -> None:
    c = PlatesConfig()
    object.__setattr__(c.reader, "type", "nope")
    with pytest.raises(ValueError, match="'nope' is not a known back end"):
        build_plate_stage(c)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="min_aspect"):
        PlateFilterConfig(min_aspect=5, max_aspect=2)
    with pytest.raises(ValueError, match="Extra inputs"):
        PlatesConfig.model_validate({"bogus": 1})
    with pytest.raises(ValueError, match="two different"):
        PlatesConfig(confusions=["OO"])
    with pytest.raises(ValueError):
        PlatesConfig.model_validate({"formats": ["XX"]})


US_PLATE = (300.0, 200.0, 400.0, 250.0)  # a whole plate, 2:1
US_LINE = (310.0, 215.0, 390.0, 237.0)  # its big characters
US_STATE = (330.0, 202.0, 370.0, 212.0)  # the state name above, small


def test_refiner_reads_the_line_inside_a_candidate() -> None:
    det = FakeDetector([US_PLATE])
    refiner = FakeRefiner([US_LINE, US_STATE])
    reader = FakeReader({300: ("CALIFORNIA 7ABC123", 0.9), 310: ("7ABC123", 0.9)})
    stage = PlateStage(det, reader, None, cfg_us(), refiner=refiner)
    plates = stage.read_plates(IMAGE)
    assert plates.text == ("7ABC123",)
    np.testing.assert_allclose(plates.xyxy[0], US_LINE)
    # the refiner searched the candidate's window, grown around the candidate
    [windows] = refiner.calls
    assert windows is not None and windows[0][0] < 300 and windows[0][3] > 250
    # the tiny state-name line was no line at all (under a quarter of the window high), and
    # the line spans most of the candidate, so the candidate itself was not read
    assert sorted(int(b[0]) for b in reader.read_boxes[0]) == [310]


def test_refiner_falls_back_to_the_candidate() -> None:
    det = FakeDetector([PLATE])
    refiner = FakeRefiner([])  # finds nothing
    reader = FakeReader({200: ("56-JTT-5", 0.9)})
    plates = PlateStage(det, reader, None, cfg(), refiner=refiner).read_plates(IMAGE)
    assert plates.text == ("56JTT5",)
    np.testing.assert_allclose(plates.xyxy[0], PLATE)
    # the empty window was searched a second time, with a border, before falling back; a
    # text detector's candidate is a line, so it is not searched larger
    assert refiner.margins == [0, REFINE_MARGIN]
    assert refiner.heights == [None, None]


US_SMALL_LINE = (315.0, 220.0, 385.0, 236.0)  # a serial 16 px high in an 80 px window


class WholePlates(FakeDetector):
    """A plate detector's candidates: whole plates, not text lines."""

    finds_whole_plates = True


@pytest.mark.parametrize(
    ("zoom", "found", "read", "heights"),
    [
        # only the larger search finds the small serial, and keeps it (0.2 of the window)
        (160, [US_SMALL_LINE], "7ABC123", [None, None, 160]),
        # a line under 0.15 of the window is no serial even there: the candidate is read
        (160, [(330.0, 220.0, 370.0, 230.0)], "9XYZ999", [None, None, 160]),
        # no larger search: the candidate itself is read
        (None, [US_SMALL_LINE], "9XYZ999", [None, None]),
    ],
)
def test_a_window_without_a_line_is_searched_larger_for_a_small_serial(
    zoom: int | None,
    found: list[tuple[float, float, float, float]],
    read: str,
    heights: list[int | None],
) -> None:
    c = cfg_us()
    c.reader.refine_zoom_height = zoom
    # at the usual height the refiner finds the small serial too, but it is under a quarter
    # of the window high: no line there
    refiner = FakeRefiner([US_SMALL_LINE], zoomed=found)
    # the whole plate reads as something else (its frame and state name get in the way)
    reader = FakeReader({300: ("9XYZ999", 0.5), 315: ("7ABC123", 0.9), 330: ("7ABC", 0.9)})
    plates = PlateStage(WholePlates([US_PLATE]), reader, None, c, refiner=refiner).read_plates(
        IMAGE
    )
    assert plates.text == (read,)
    assert refiner.heights == heights
    np.testing.assert_allclose(plates.xyxy[0], US_SMALL_LINE if read == "7ABC123" else US_PLATE)


def test_refine_zoom_height_must_exceed_refine_height() -> None:
    with pytest.raises(ValueError, match="refine_zoom_height"):
        PlatesConfig.model_validate({"reader": {"refine_height": 160, "refine_zoom_height": 160}})
    assert PlatesConfig.model_validate({"reader": {"refine_zoom_height": None}})


def test_a_window_without_a_line_is_searched_again_with_a_border() -> None:
    det = FakeDetector([US_PLATE])
    # the line fills its window: found only when the window has a border around it
    refiner = FakeRefiner([], bordered=[US_LINE])
    reader = FakeReader({300: ("CALIFORNIA 7ABC123", 0.9), 310: ("7ABC123", 0.9)})
    plates = PlateStage(det, reader, None, cfg_us(), refiner=refiner).read_plates(IMAGE)
    assert plates.text == ("7ABC123",)
    np.testing.assert_allclose(plates.xyxy[0], US_LINE)
    assert refiner.margins == [0, REFINE_MARGIN]
    # the line spans the candidate: the candidate itself is not read
    assert sorted(int(b[0]) for b in reader.read_boxes[0]) == [310]


def test_a_window_with_a_line_is_searched_once() -> None:
    refiner = FakeRefiner([US_LINE], bordered=[US_STATE])
    reader = FakeReader({310: ("7ABC123", 0.9)})
    stage = PlateStage(FakeDetector([US_PLATE]), reader, None, cfg_us(), refiner=refiner)
    assert stage.read_plates(IMAGE).text == ("7ABC123",)
    assert refiner.margins == [0]


def test_same_plate_from_two_candidates_is_reported_once() -> None:
    # two candidates that do not merge (too little vertical overlap), both windows holding
    # the one line the refiner finds
    det = FakeDetector([PLATE, (180.0, 430.0, 420.0, 470.0)])
    refiner = FakeRefiner([PLATE])
    reader = FakeReader({200: ("56-JTT-5", 0.9)})
    plates = PlateStage(det, reader, None, cfg(), refiner=refiner).read_plates(IMAGE)
    assert len(reader.read_boxes[0]) == 2  # read once per candidate ...
    assert plates.text == ("56JTT5",)  # ... reported once


def cfg_us() -> PlatesConfig:
    return PlatesConfig(formats=["US"])


class ZoomingDetector(FakeDetector):
    """A ZoomDetector: its fixed boxes at the normal scale, ``small`` ones only zoomed in."""

    def __init__(
        self,
        boxes: list[tuple[float, float, float, float]],
        small: list[tuple[float, float, float, float]],
    ) -> None:
        super().__init__(boxes)
        self.small = FakeDetector(small)
        self.zoomed: list[int] = []

    def detect_at(self, image: ImageBGR, regions: FloatArray | None, max_side: int) -> Detections:
        self.zoomed.append(max_side)
        return self.small.detect(image, regions)


@pytest.mark.parametrize(
    ("boxes", "texts", "retry", "zoomed", "read"),
    [
        # nothing readable at the normal scale: searched again zoomed in, and the plate read
        ([SIGN], {200: ("56-JTT-5", 0.9)}, 960, [960], ("56JTT5",)),
        # a plate read at once: no second search
        ([PLATE], {200: ("56-JTT-5", 0.9)}, 960, [], ("56JTT5",)),
        # retry switched off
        ([SIGN], {200: ("56-JTT-5", 0.9)}, None, [], ()),
    ],
)
def test_second_search_only_when_nothing_was_read(
    boxes: list[tuple[float, float, float, float]],
    texts: dict[int, tuple[str, float]],
    retry: int | None,
    zoomed: list[int],
    read: tuple[str, ...],
) -> None:
    from citywatch.vision.plates.base import ZoomDetector

    det = ZoomingDetector(boxes, [PLATE])
    assert isinstance(det, ZoomDetector)
    c = cfg()
    c.reader.refine = False
    c.reader.det_retry_side = retry
    stage = PlateStage(det, FakeReader(texts), None, c)
    plates = stage.read_plates(IMAGE)
    assert det.zoomed == zoomed
    assert plates.text == read


class DarkDetector(ZoomingDetector):
    """Finds the plate only in a picture other than ``dark`` (the frame with its contrast
    equalised); never anything zoomed in."""

    def __init__(self, dark: ImageBGR) -> None:
        super().__init__([SIGN], [])
        self.dark = dark
        self.seen: list[ImageBGR] = []

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections:
        self.seen.append(image)
        if np.array_equal(image, self.dark):
            return super().detect(image, regions)
        return Detections.from_boxes(np.asarray([PLATE], np.float32), np.array([0.9]))


@pytest.mark.parametrize(
    ("zoom", "equalised", "searches", "read"),
    [
        (960, True, 2, ("56JTT5",)),  # normal, zoomed, equalised: read in the third
        (None, True, 2, ("56JTT5",)),  # no zoom: equalised straight after the first
        (960, False, 1, ()),  # switched off: normal and zoomed only
    ],
)
def test_a_frame_without_a_read_is_searched_again_with_contrast_equalised(
    zoom: int | None, equalised: bool, searches: int, read: tuple[str, ...]
) -> None:
    dark = np.random.default_rng(1).integers(20, 40, size=(480, 640, 3)).astype(np.uint8)
    det = DarkDetector(dark)
    c = cfg()
    c.reader.refine = False
    c.reader.det_retry_side = zoom
    c.reader.det_retry_equalised = equalised
    plates = PlateStage(det, FakeReader({200: ("56-JTT-5", 0.9)}), None, c).read_plates(dark)
    assert plates.text == read
    assert len(det.seen) == searches  # calls at the normal scale (zoomed ones are apart)
    assert det.zoomed == ([960] if zoom else [])
    if equalised:
        np.testing.assert_array_equal(det.seen[-1], equalise_contrast(dark))


def test_equalising_raises_the_contrast_of_a_dark_picture() -> None:
    import cv2

    dark = np.random.default_rng(0).integers(15, 35, size=(240, 320, 3)).astype(np.uint8)
    strokes = np.zeros(dark.shape[:2], np.uint8)
    cv2.putText(strokes, "CG2H2U", (40, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 4)
    dark[strokes > 0] = 48  # faint characters on a dark plate
    before = dark.copy()
    bright = equalise_contrast(dark)
    assert bright.shape == dark.shape and bright.dtype == np.uint8
    np.testing.assert_array_equal(dark, before)  # the frame itself is not changed

    def contrast(image: ImageBGR) -> float:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(float)
        return float(grey[strokes > 0].mean() - grey[strokes == 0].mean())

    assert contrast(bright) > 1.5 * contrast(dark)  # measured 1.7x


def test_refiner_reads_only_the_tallest_lines_of_a_window() -> None:
    # a state name above the serial, high enough to count as a line but much smaller than it
    slogan = (330.0, 185.0, 370.0, 207.0)
    serial = (310.0, 210.0, 390.0, 250.0)
    det = FakeDetector([US_PLATE])
    refiner = FakeRefiner([serial, slogan])
    reader = FakeReader({310: ("7ABC123", 0.9)})
    c = cfg_us()
    c.reader.det_retry_side = None
    PlateStage(det, reader, None, c, refiner=refiner).read_plates(IMAGE)
    heights = sorted(float(b[3] - b[1]) for b in reader.read_boxes[0])
    assert heights == [40.0]


@pytest.mark.parametrize(
    ("every_s", "again_frames"),
    [
        (1.0, [0, 5, 10]),  # frames 0.2 s apart: once per second of stream time
        (0.0, list(range(12))),  # every frame without a read
    ],
)
def test_video_searches_again_at_most_once_per_interval(
    every_s: float, again_frames: list[int]
) -> None:
    det = ZoomingDetector([SIGN], [])  # never anything readable, even zoomed in
    c = cfg()
    c.idle_search_every = 1  # every moving frame searched (tests/vision/test_cadence.py: less)
    c.reader.refine = False
    c.reader.det_retry_side = 960
    c.reader.det_retry_every_s = every_s
    stage = PlateStage(det, FakeReader({}), None, c)
    again: list[tuple[int, str]] = []
    for k in range(12):
        zoomed, searched = len(det.zoomed), len(det.calls)
        stage.process(make_record(k, Motion(True, 0.5)))
        if len(det.zoomed) > zoomed:
            again.append((k, "zoomed"))
        elif len(det.calls) > searched + 1:  # a second search at the first scale
            again.append((k, "equalised"))
    assert [k for k, _ in again] == again_frames
    # one search again per frame at most, the two kinds taking turns
    kinds = [kind for _, kind in again]
    assert kinds == (["zoomed", "equalised"] * 12)[: len(again_frames)]
    # stills are searched again every time, both ways
    zoomed, searched = len(det.zoomed), len(det.calls)
    for _ in range(3):
        stage.read_plates(IMAGE)
    assert len(det.zoomed) == zoomed + 3
    assert len(det.calls) == searched + 6
    # a stream that starts again (earlier time stamps) is not held back
    stage.process(make_record(0, Motion(True, 0.5)))
    assert len(det.zoomed) + len(det.calls) > zoomed + 3 + searched + 6 + 1


@pytest.mark.parametrize(
    ("tight", "wider", "side", "expected"),
    [
        ("AWV401", "7AWV401", "left", True),  # a character beyond the left edge
        ("TA600", "5LTA600", "left", True),  # two, beyond a gap
        ("6271", "627WWI", "right", True),  # the cut-off W was read as 1
        ("LGLS168", "4GLS168", "left", False),  # a character replaced, none added
        ("AWV401", "7AWV401", "right", False),  # added at the other edge
        ("LGLS168", "GLS168", "left", False),  # not longer
        ("RON464", "1RDN464", "left", False),  # changed inside
        ("SB3X6N", "SB3X6NI", "left", False),
        ("SB3X6N", "SB3X6NI", "right", True),
    ],
)
def test_extends(tight: str, wider: str, side: Side, expected: bool) -> None:
    assert extends(tight, wider, side) is expected


def test_grow_sideways_stays_in_the_frame() -> None:
    box = np.array([10.0, 400.0, 210.0, 440.0], np.float32)
    np.testing.assert_allclose(grow_sideways(box, "left", 0.8, 640), [0, 400, 210, 440])
    np.testing.assert_allclose(grow_sideways(box, "right", 0.8, 640), [10, 400, 242, 440])
    np.testing.assert_allclose(grow_sideways(box, "right", 0.8, 230), [10, 400, 230, 440])


def us_cfg(edge_reach: float = 0.8) -> PlatesConfig:
    c = PlatesConfig(formats=["US"])
    c.reader.edge_reach = edge_reach
    return c


@pytest.mark.parametrize(
    ("texts", "edge_reach", "read"),
    [
        # the box (left edge 200, 40 high) cut off the 7: grown left by 32 px it reads whole
        ({200: ("AWV401", 0.95), 168: ("7AWV401", 0.9)}, 0.8, "7AWV401"),
        ({200: ("AWV401", 0.95), 168: ("7AWV401", 0.9)}, 0.0, "AWV401"),
        # grown, the box pulls in a bolt and misreads what it read before: kept
        ({200: ("AWV401", 0.95), 168: ("1AXV401", 0.9)}, 0.8, "AWV401"),
        # grown, nothing fits a plate: kept
        ({200: ("AWV401", 0.95), 168: ("", 0.0)}, 0.8, "AWV401"),
    ],
)
def test_a_plate_read_short_is_read_again_grown(
    texts: dict[int, tuple[str, float]], edge_reach: float, read: str
) -> None:
    reader = FakeReader(texts)
    plates = PlateStage(FakeDetector([PLATE]), reader, None, us_cfg(edge_reach)).read_plates(IMAGE)
    assert plates.text == (read,)
    grown = read != texts[200][0]
    np.testing.assert_allclose(plates.xyxy[0], (168.0, 400, 400, 440) if grown else PLATE)
    assert len(reader.read_boxes) == (2 if edge_reach else 1)


def test_a_plate_read_as_long_as_its_format_allows_is_not_read_again() -> None:
    reader = FakeReader({200: ("7AWV401", 0.95), 168: ("17AWV401", 0.9)})
    plates = PlateStage(FakeDetector([PLATE]), reader, None, us_cfg()).read_plates(IMAGE)
    assert plates.text == ("7AWV401",)
    assert len(reader.read_boxes) == 1


@pytest.mark.parametrize(
    ("formats", "edge_reach", "used"),
    [
        (["US"], None, 0.8),  # left to the formats: on for US plates
        (["HR", "RS", "DE", "EU"], None, 0.0),  # off elsewhere (no read changed, only cost)
        (["US", "EU"], None, 0.0),
        (["EU"], 0.5, 0.5),  # set: used as set
        (["US"], 0.0, 0.0),
    ],
)
def test_edge_reach_left_unset_follows_the_formats(
    formats: list[str], edge_reach: float | None, used: float
) -> None:
    cfg = PlatesConfig.model_validate({"formats": formats, "reader": {"edge_reach": edge_reach}})
    assert edge_reach_for(cfg) == used
    reader = FakeReader({200: ("AWV401", 0.95), 168: ("7AWV401", 0.9)})
    PlateStage(FakeDetector([PLATE]), reader, None, cfg).read_plates(IMAGE)
    assert len(reader.read_boxes) == (2 if used else 1)
