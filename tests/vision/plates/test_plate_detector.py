"""The plate detector (``plates.detector.type: plates``, issue 15): its map's plates are found
at its own scale, each plate's line is found by the text detector and read, its second search
looks at its own larger scale, ``auto`` runs it for every format list but US-only, the shipped
file finds a plate it never saw, and a model file that is missing or is no probability-map
detector is refused with its path named.  Most tests run a tiny graph with the contract
(bright is plate) in place of the shipped file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.demo.drawing import render_plate
from citywatch.vision.plates.base import ZoomDetector
from citywatch.vision.plates.build import build_plate_models, build_plate_stage
from citywatch.vision.plates.rapidocr_backend import BackendUnavailableError
from citywatch.vision.plates.yolo import ZoomRefinedDetector
from tests.vision.plates.onnx_graphs import bright_map


def scene(plate_h: int = 60) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 1280x720 dull street with one white EU plate ``plate_h`` pixels high."""
    rng = np.random.default_rng(8)
    image = rng.normal(70, 10, (720, 1280, 3)).clip(0, 255).astype(np.uint8)
    plate = render_plate("ZG4711AB", "EU", height=plate_h)
    h, w = plate.shape[:2]
    x, y = 600, 450
    image[y : y + h, x : x + w] = plate
    return image, (x, y, x + w, y + h)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bright_map(tmp_path_factory.mktemp("det") / "bright.onnx")


def _cfg(model: Path, **detector: object) -> PlatesConfig:
    return PlatesConfig.model_validate(
        {"formats": ["HR", "EU"], "detector": {"type": "plates", "model": str(model), **detector}}
    )


def test_the_plate_is_found_whole_at_the_detectors_scale(model: Path) -> None:
    image, (x0, y0, x1, y1) = scene()
    detector, _ = build_plate_models(_cfg(model))
    assert isinstance(detector, ZoomRefinedDetector) and isinstance(detector, ZoomDetector)
    found = detector.detect(image)
    assert len(found) >= 1
    widest = int(np.argmax(found.xyxy[:, 2] - found.xyxy[:, 0]))
    bx0, by0, bx1, by1 = found.xyxy[widest]
    # at 416 px for 1280 the plate is ~20 px high: its box is the plate's, give or take the
    # 3 px of the smaller picture (and the unclip's growth)
    assert bx0 <= x0 + 12 and bx1 >= x1 - 12 and by0 <= y0 + 12 and by1 >= y1 - 12
    assert bx1 - bx0 <= 1.3 * (x1 - x0)


def test_the_stage_reads_the_line_inside_the_plate(model: Path) -> None:
    image, _ = scene()
    stage = build_plate_stage(_cfg(model), track=False)
    assert "ZG4711AB" in stage.read_plates(image).text


def test_nothing_bright_nothing_searched(model: Path) -> None:
    image, _ = scene()
    image[:] = 70
    stage = build_plate_stage(_cfg(model), track=False)
    assert len(stage.read_plates(image)) == 0


def test_the_second_search_uses_the_detectors_own_larger_scale(model: Path) -> None:
    """``detect_at`` is asked for the text detector's zoomed size; the plate detector looks at
    its own ``retry_side`` instead: a plate too small for it at 320 (4 px high) is found at
    1280, even when the size asked for is no larger than its first search's."""
    image, _ = scene(plate_h=16)
    small = build_plate_models(_cfg(model, max_side=320, retry_side=1280))[0]
    assert isinstance(small, ZoomRefinedDetector)
    at_320 = small.detect(image)
    again = small.detect_at(image, None, 320)
    assert len(again) >= 1 and len(at_320) == 0
    no_retry = build_plate_models(_cfg(model, retry_side=None))[0]
    assert not isinstance(no_retry, ZoomDetector)  # no second search of its own


def test_auto_finds_plates_with_ours_except_for_us_only_lists() -> None:
    from citywatch.vision.plates.build import PLATE_DETECTOR, detector_kind

    assert PLATE_DETECTOR.is_file()
    assert detector_kind(PlatesConfig()) == "plates"  # the shipped list (RS, HR, NL, DE, EU, US)
    assert detector_kind(PlatesConfig(formats=["HR", "EU"])) == "plates"
    assert detector_kind(PlatesConfig(formats=["US"])) == "text"
    assert (
        detector_kind(
            PlatesConfig.model_validate({"formats": ["US"], "detector": {"type": "plates"}})
        )
        == "plates"
    )
    shipped, _ = build_plate_models(PlatesConfig(formats=["HR", "EU"]))
    assert isinstance(shipped, ZoomRefinedDetector)
    text, _ = build_plate_models(PlatesConfig(formats=["US"]))
    assert not isinstance(text, ZoomRefinedDetector)


@pytest.mark.parametrize(
    ("formats", "given", "expected"),
    [
        (["HR", "EU"], None, 0.5),  # no US: the stricter threshold
        (["NL"], None, 0.5),
        (["RS", "HR", "NL", "DE", "EU", "US"], None, 0.3),  # the shipped list holds US
        (["US"], None, 0.3),
        (["HR", "EU"], 0.4, 0.4),  # a given threshold always wins
        (["RS", "US"], 0.6, 0.6),
    ],
)
def test_the_box_threshold_follows_the_formats_unless_given(
    formats: list[str], given: float | None, expected: float
) -> None:
    from citywatch.vision.plates.build import plate_box_thresh

    cfg = PlatesConfig.model_validate({"formats": formats, "detector": {"box_thresh": given}})
    assert plate_box_thresh(cfg) == expected


def test_the_built_detector_keeps_only_boxes_above_its_threshold(model: Path) -> None:
    """The threshold reaches the detector: a box whose mean probability lies between 0.3 and
    0.5 is kept by a list with US and dropped by one without."""
    image = np.zeros((240, 320, 3), np.uint8)
    image[100:140, 60:260] = 150  # the stand-in graph maps this grey to about 0.4
    kept = {}
    for formats in (["HR", "EU"], ["HR", "EU", "US"]):
        cfg = PlatesConfig.model_validate(
            {"formats": formats, "detector": {"type": "plates", "model": str(model),
                                              "map_thresh": 0.2}}
        )  # fmt: skip
        kept[len(formats)] = len(build_plate_models(cfg)[0].detect(image))
    assert kept == {2: 0, 3: 1}


def test_the_shipped_detector_finds_and_reads_a_plate_it_never_saw() -> None:
    image, (x0, y0, x1, y1) = scene(plate_h=44)  # about 14 px high at 416
    cfg = PlatesConfig(formats=["HR", "EU"])
    found = build_plate_models(cfg)[0].detect(image)
    assert any(
        b[0] <= x0 + 15 and b[2] >= x1 - 15 and b[1] <= y1 and b[3] >= y0 for b in found.xyxy
    )
    assert "ZG4711AB" in build_plate_stage(cfg, track=False).read_plates(image).text


def test_a_wrong_model_is_named(tmp_path: Path) -> None:
    from citywatch.vision.plates.recognisers import shipped_path

    wrong = shipped_path("plate-crnn")  # a recogniser: [N, 1, 32, W] in, sequences out
    with pytest.raises(BackendUnavailableError, match=r"plate_crnn\.onnx.*not a DB"):
        build_plate_models(_cfg(wrong))
    with pytest.raises(BackendUnavailableError, match=r"nowhere\.onnx"):
        build_plate_models(_cfg(tmp_path / "nowhere.onnx"))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["wts-lg-000155.jpg", "wts-lg-000091.jpg"])
def test_a_us_plate_whose_serial_is_small_is_read_by_the_larger_line_search(
    shared_data: Path, name: str
) -> None:
    """Two US photos whose whole plate the shipped detector finds, but in whose window the
    line search at the usual height finds no serial (a wide dealer frame; the serial is under
    a quarter of the window high): read with the shipped format list only by the larger
    search of a window without a line."""
    from citywatch.eval.plates import parse_truth
    from citywatch.vision.images import load_image

    image_path = shared_data / "plates" / "images_us" / name
    truth = parse_truth(image_path.with_suffix(".txt"))[0].text
    image = load_image(image_path)
    reads = {}
    for zoom in (None, 160):
        cfg = PlatesConfig.model_validate({"reader": {"refine_zoom_height": zoom}})
        reads[zoom] = build_plate_stage(cfg, track=False).read_plates(image).text
    assert truth in reads[160]
    assert truth not in reads[None]
