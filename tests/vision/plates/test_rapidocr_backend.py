from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.vision.plates.base import PlateDetector, PlateReader, WindowRefiner
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.formats import plate_key
from citywatch.vision.plates.rapidocr_backend import (
    RapidOcrEngine,
    RapidOcrReader,
    RapidOcrTextDetector,
    _clip_windows,
    crop_padded,
    deskew,
    remove_margin,
    skew_angle,
)


def test_crop_padded_grows_by_height_and_clips() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    crop = crop_padded(image, np.array([50, 40, 150, 60], np.float32), 0.5, 0.25)
    assert crop.shape[:2] == (30, 120)  # 20 px high: +10 each side in x, +5 in y
    edge = crop_padded(image, np.array([-10, -10, 5, 5], np.float32), 0.5, 0.5)
    assert edge.shape[0] >= 2 and edge.shape[1] >= 2
    outside = crop_padded(image, np.array([300, 300, 310, 310], np.float32), 0.1, 0.1)
    assert outside.size > 0


def test_clip_windows() -> None:
    w = np.array([[-5, -5, 50, 50], [190, 90, 260, 200], [0, 0, 10, 10]], np.float32)
    assert _clip_windows(w, 200, 100) == [(0, 0, 50, 50)]


def stripes(angle: float) -> np.ndarray:
    """Dark 'characters' on a light plate, rotated by ``angle`` degrees."""
    img = np.full((60, 200, 3), 230, np.uint8)
    for x in range(20, 180, 22):
        cv2.rectangle(img, (x, 18), (x + 12, 42), (20, 20, 20), -1)
    m = cv2.getRotationMatrix2D((100, 30), angle, 1.0)
    return cv2.warpAffine(img, m, (200, 60), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("angle", [-8.0, 0.0, 6.0])
def test_skew_angle_undoes_a_rotation(angle: float) -> None:
    assert skew_angle(stripes(angle), 12.0, step=2.0) == pytest.approx(-angle, abs=2.0)


def test_deskew_keeps_shape() -> None:
    img = stripes(6.0)
    assert deskew(img, 12.0).shape == img.shape
    flat = stripes(0.0)
    assert deskew(flat, 12.0) is flat


# --- integration: the real ONNX models --------------------------------------------------------

EU_SAMPLE = ["test_002.jpg", "test_012.jpg", "test_028.jpg", "test_062.jpg", "test_084.jpg"]


def truth(path: Path) -> tuple[str, tuple[int, int, int, int]]:
    _, x, y, w, h, plate = path.with_suffix(".txt").read_text().strip().split("\t")
    return plate, (int(x), int(y), int(w), int(h))


@pytest.fixture(scope="module")
def engine() -> RapidOcrEngine:
    return RapidOcrEngine(threads=1)


@pytest.mark.integration
def test_backend_follows_the_protocols(engine: RapidOcrEngine) -> None:
    assert isinstance(RapidOcrTextDetector(engine), PlateDetector)
    assert isinstance(RapidOcrTextDetector(engine), WindowRefiner)
    assert isinstance(RapidOcrReader(engine), PlateReader)
    assert engine.recognise([]) == []


@pytest.mark.integration
def test_detector_finds_the_plate_and_regions_give_the_same_box(
    shared_data: Path, engine: RapidOcrEngine
) -> None:
    path = shared_data / "plates" / "images_eu" / "test_002.jpg"
    image = cv2.imread(str(path))
    _, (x, y, w, h) = truth(path)
    # characters here are ~18 px high: the detector wants them enlarged (x1.5)
    det = RapidOcrTextDetector(engine, max_side=960, max_upscale=1.5)
    full = det.detect(image)
    centre = np.array([x + w / 2, y + h / 2])

    def covering(boxes: np.ndarray) -> np.ndarray:
        inside = (
            (boxes[:, 0] <= centre[0]) & (boxes[:, 2] >= centre[0])
            & (boxes[:, 1] <= centre[1]) & (boxes[:, 3] >= centre[1])
        )  # fmt: skip
        assert inside.any(), boxes
        return boxes[np.flatnonzero(inside)[0]]

    box_full = covering(full.xyxy)
    region = np.array([[x - w, y - 2 * h, x + 2 * w, y + 3 * h]], np.float32)
    box_region = covering(det.detect(image, region).xyxy)
    np.testing.assert_allclose(box_region, box_full, atol=4)
    # a region elsewhere finds nothing of the plate
    away = det.detect(image, np.array([[0, 0, 100, 100]], np.float32))
    assert not any(b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3] for b in away.xyxy)
    # the refining detector scales a tight window to a fixed height and finds the line too
    tight = np.array([[x - 0.15 * w, y - 0.3 * h, x + 1.15 * w, y + 1.3 * h]], np.float32)
    np.testing.assert_allclose(covering(det.refine(image, tight).xyxy), box_full, atol=6)
    # with a border around it, the window may be the plate itself: the line is found, in
    # frame coordinates, inside the window
    plate_only = np.array([[x, y, x + w, y + h]], np.float32)
    bordered = covering(det.refine(image, plate_only, margin=32).xyxy)
    np.testing.assert_allclose(bordered, box_full, atol=8)
    assert bordered[0] >= x and bordered[1] >= y and bordered[2] <= x + w and bordered[3] <= y + h


@pytest.mark.integration
def test_reader_reads_a_ground_truth_crop(shared_data: Path, engine: RapidOcrEngine) -> None:
    path = shared_data / "plates" / "images_eu" / "test_028.jpg"
    plate, (x, y, w, h) = truth(path)
    image = cv2.imread(str(path))
    reader = RapidOcrReader(engine, deskew=True)
    [(text, conf)] = reader.read(image, np.array([[x, y, x + w, y + h]], np.float32))
    assert plate_key(text) == plate  # the EU band may read as a non-Latin glyph: dropped
    assert 0.5 < conf <= 1.0


@pytest.mark.integration
def test_read_plates_on_eu_images(shared_data: Path) -> None:
    cfg = PlatesConfig(formats=["SK", "CZ", "EU"])
    stage = build_plate_stage(cfg, track=False)
    for name in EU_SAMPLE:
        path = shared_data / "plates" / "images_eu" / name
        plate, _ = truth(path)
        found = stage.read_plates(cv2.imread(str(path)))
        assert len(found) >= 1, name
        assert found.text[0] == plate, (name, found.text)


class ScaleEngine:
    """Stands in for RapidOcrEngine: records the scales the detector asks for."""

    def __init__(self) -> None:
        self.scales: list[float] = []

    def detect(self, image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        self.scales.append(scale)
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)


@pytest.mark.parametrize(
    ("shape", "retry_side", "scales"),
    [
        ((720, 1280), 960, [0.5, 0.75]),  # a 720p frame: searched again at 3/4 size
        ((480, 640), 960, [1.0]),  # never enlarged (max_upscale 1): no second search
        ((720, 1280), 640, [0.5]),  # not larger: no second search
    ],
)
def test_detect_at_searches_only_at_a_larger_scale(
    shape: tuple[int, int], retry_side: int, scales: list[float]
) -> None:
    from typing import cast

    engine = ScaleEngine()
    det = RapidOcrTextDetector(cast(RapidOcrEngine, engine), max_side=640)
    image = np.zeros((*shape, 3), np.uint8)
    det.detect(image)
    found = det.detect_at(image, None, retry_side)
    assert len(found) == 0
    assert engine.scales == pytest.approx(scales)


def test_remove_margin_shifts_and_clips_boxes() -> None:
    found = np.array([[40, 35, 90, 60], [10, 20, 140, 95]], np.float32)
    out = remove_margin(found, 32, 100, 50)
    np.testing.assert_allclose(out, [[8, 3, 58, 28], [0, 0, 100, 50]])
    assert remove_margin(np.zeros((0, 4), np.float32), 8, 10, 10).shape == (0, 4)
    np.testing.assert_allclose(remove_margin(found, 0, 200, 200), found)
