"""Vehicle detector, colour naming and the plate -> vehicle rule."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.config.vehicles import VehiclesConfig
from citywatch.vision.onnx_session import OnnxModelError
from citywatch.vision.record import Detections, Vehicles
from citywatch.vision.vehicles.colour import hue_name, name_colour
from citywatch.vision.vehicles.describe import VehicleDescriber, holding
from citywatch.vision.vehicles.onnx_coco import OnnxCocoVehicleDetector, packaged_model
from citywatch.vision.vehicles.registry import (
    VehicleBackendError,
    build_describer_or_none,
    build_vehicle_detector,
)
from tests.vision.vehicles.foreign import write_voc_detector


def _vehicles(*boxes: tuple[float, float, float, float], kinds: tuple[str, ...] = ()) -> Vehicles:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Vehicles(xyxy, np.full(len(xyxy), 0.9, np.float32), kinds or ("car",) * len(xyxy))


@pytest.mark.parametrize(
    ("boxes", "plate", "want"),
    [
        ([], (10, 10, 20, 15), None),
        ([(0, 0, 100, 100)], (40, 80, 60, 90), 0),
        ([(0, 0, 100, 100)], (140, 80, 160, 90), None),  # plate outside every box
        # two boxes hold the centre: the one the plate sits in the middle of
        ([(0, 0, 100, 100), (40, 0, 200, 100)], (40, 80, 60, 90), 0),
        ([(0, 0, 100, 100), (40, 0, 200, 100)], (110, 80, 130, 90), 1),
        # same offset: the smaller box (a car in front of a lorry)
        ([(0, 0, 400, 400), (150, 150, 250, 250)], (190, 200, 210, 210), 1),
    ],
)
def test_holding(
    boxes: list[tuple[float, ...]], plate: tuple[float, ...], want: int | None
) -> None:
    assert holding(_vehicles(*boxes), np.asarray(plate, np.float32)) == want  # type: ignore[arg-type]


def _car(body_bgr: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """A 200x200 grey street, a car body of ``body_bgr`` with a white plate on it."""
    img = np.full((200, 200, 3), 90, np.uint8)
    img[40:180, 20:180] = body_bgr
    img[140:155, 75:125] = 245  # the plate
    return img, (20, 40, 180, 180), (75, 140, 125, 155)


@pytest.mark.parametrize(
    ("bgr", "name"),
    [
        ((235, 235, 235), "white"),
        ((130, 130, 130), "grey"),
        ((25, 25, 25), "black"),
        ((30, 30, 200), "red"),
        ((180, 60, 20), "blue"),
        ((40, 140, 40), "green"),
        ((20, 210, 230), "yellow"),
        ((30, 60, 90), "brown"),
    ],
)
def test_name_colour(bgr: tuple[int, int, int], name: str) -> None:
    img, vehicle, plate = _car(bgr)
    colour, share = name_colour(img, vehicle, plate)
    assert colour == name
    assert 0.5 <= share <= 1.0


def test_white_car_in_shade_is_white() -> None:
    """Lightness is judged against the plate's: a dim white car with a dim plate is white."""
    img, vehicle, plate = _car((150, 150, 150))
    img[140:155, 75:125] = 160
    assert name_colour(img, vehicle, plate)[0] == "white"


def test_shadow_and_glass_are_left_out_but_a_black_car_stays_black() -> None:
    """Dark pixels (shadow under the bumper, glass, tyres) would drag a white body's median
    lightness to grey; they are left out unless nearly all of the body is dark."""
    img, vehicle, plate = _car((235, 235, 235))
    img[115:180, 20:180] = 25  # the lower 60 % of the body region in deep shadow
    img[140:155, 75:125] = 245  # the plate, lit
    assert name_colour(img, vehicle, plate)[0] == "white"
    img, vehicle, plate = _car((25, 25, 25))
    img[82:100, 20:180] = 200  # a bright reflection across a black car
    assert name_colour(img, vehicle, plate)[0] == "black"


def test_hue_names() -> None:
    assert hue_name(40.0, 5.0, 50.0) == "red"
    assert hue_name(-30.0, 30.0, 60.0) == "green"
    assert hue_name(0.0, -40.0, 50.0) == "blue"


def test_empty_region_names_nothing() -> None:
    img = np.zeros((50, 50, 3), np.uint8)
    assert name_colour(img, (10, 10, 11, 11), (10, 10, 11, 11)) == ("", 0.0)


def test_packaged_detector_finds_the_car(shared_data: Path) -> None:
    det = build_vehicle_detector(VehiclesConfig())
    assert det.name == "picodet"
    img = cv2.imread(str(shared_data / "plates" / "images_eu" / "eu11.jpg"))
    found = det.detect(img)
    plate = np.array([0, 0, 0, 0], np.float32)
    for line in (shared_data / "plates" / "images_eu" / "eu11.txt").read_text().splitlines():
        _, x, y, w, h, _text = line.split("\t")
        plate = np.array([int(x), int(y), int(x) + int(w), int(y) + int(h)], np.float32)
    j = holding(found, plate)
    assert j is not None and found.kind[j] == "car" and found.score[j] > 0.5
    assert (found.xyxy[:, 2] <= img.shape[1]).all() and (found.xyxy[:, 3] <= img.shape[0]).all()


def test_packaged_model_ships_with_its_licence() -> None:
    path = packaged_model()
    assert path.is_file()
    assert (path.parent / "LICENSE.picodet").is_file()
    assert "d7852a15" in (path.parent / "SOURCE.md").read_text()


def test_foreign_file_is_refused_naming_it() -> None:
    yunet = packaged_model().parents[2] / "faces" / "models" / "yunet_n_dynamic.onnx"
    with pytest.raises(OnnxModelError, match=r"yunet_n_dynamic.onnx.*square input"):
        OnnxCocoVehicleDetector("picodet", yunet)


def test_wrong_class_count_is_refused(tmp_path: Path) -> None:
    """A GFL-shaped graph with 20 classes (a VOC model) is not a COCO detector."""
    path = write_voc_detector(tmp_path / "voc.onnx")
    with pytest.raises(OnnxModelError, match=r"voc.onnx.*80 COCO classes"):
        OnnxCocoVehicleDetector("picodet", path)
    cfg = VehiclesConfig(model_path=path)
    with pytest.raises(VehicleBackendError, match=r"voc.onnx"):
        build_vehicle_detector(cfg)


def test_unbuildable_detector_leaves_plates_without_vehicles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = VehiclesConfig(model_path=tmp_path / "missing.onnx")
    with caplog.at_level(logging.ERROR):
        assert build_describer_or_none(cfg) is None
    assert "missing.onnx" in caplog.text and "without vehicle type" in caplog.text
    assert build_describer_or_none(VehiclesConfig(enabled=False)) is None


def test_other_families_need_a_file() -> None:
    with pytest.raises(ValueError, match=r"yolox.*model_path"):
        PlatesConfig.model_validate({"vehicles": {"type": "yolox"}})
    with pytest.raises(ValueError, match="extra"):
        PlatesConfig.model_validate({"vehicles": {"colour": "red"}})


class _Fake:
    name = "fake"

    def __init__(self, found: Vehicles | Exception) -> None:
        self.found = found
        self.calls = 0

    def detect(self, image: np.ndarray) -> Vehicles:
        self.calls += 1
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


def test_describer_names_the_colour_of_vehicles_holding_plates() -> None:
    img, vehicle, plate = _car((30, 30, 200))
    fake = _Fake(_vehicles(vehicle, (0, 0, 10, 10), kinds=("car", "bus")))
    out = VehicleDescriber(fake).describe(img, Detections.from_boxes([plate], [0.9]))
    assert out.kind == ("car", "bus")
    assert out.colour == ("red", "")  # the bus holds no plate: not described


def test_describer_that_fails_is_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    fake = _Fake(RuntimeError("bad output"))
    describer = VehicleDescriber(fake)
    img, _, plate = _car((30, 30, 200))
    with caplog.at_level(logging.ERROR):
        assert len(describer.describe(img, Detections.from_boxes([plate], [0.9]))) == 0
        assert len(describer.describe(img, Detections.from_boxes([plate], [0.9]))) == 0
    assert fake.calls == 1 and "bad output" in caplog.text
