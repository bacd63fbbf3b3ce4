"""`citywatch eval plates`: comparison, breakdowns, and a few real photos read end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.eval.plates import (
    PhotoTruth,
    PlateImageReport,
    PlateOutcome,
    TruePlate,
    plate_format,
    plate_shape,
    same_plate,
    score_photo,
)
from citywatch.vision.plates.formats import resolve
from citywatch.vision.record import Detections


@pytest.mark.parametrize(
    ("text", "shape"),
    [("AB1C2D", "LLDLDL"), ("7EAV033", "DLLLDDD"), ("56-JTT-5", "DDLLLD"), ("", "")],
)
def test_plate_shape(text: str, shape: str) -> None:
    assert plate_shape(text) == shape


@pytest.mark.parametrize(
    ("read", "truth", "same"),
    [("RK340A0", "RK340AO", True), ("rk 340-ao", "RK340AO", True), ("RK340A", "RK340AO", False),
     ("RK34OAI", "RK340A1", False), ("", "RK340AO", False)],
)  # fmt: skip
def test_same_plate_folds_only_o_and_0(read: str, truth: str, same: bool) -> None:
    assert same_plate(read, truth) is same


def test_plate_format_uses_the_given_formats() -> None:
    assert plate_format("AB1C2D", resolve(["US"])) == "US"
    assert plate_format("AB1C2D", resolve(["NL", "HR"])) == "other"
    assert plate_format("RK340AO", resolve(["HR", "SK"])) == "HR/SK"


def outcome(truth: str, exact: bool, fmt: str = "US") -> PlateOutcome:
    return PlateOutcome(
        "x.jpg", truth, truth if exact else "", 0.5, exact, exact, 1.0 * exact, fmt,
        plate_shape(truth),
    )  # fmt: skip


def test_breakdowns_by_format_and_shape() -> None:
    report = PlateImageReport(ms=[10.0] * 7)
    report.outcomes = [
        outcome("AB1C2D", True), outcome("XY2Z3Q", True), outcome("CD4E5F", False),
        outcome("1ABC234", True), outcome("ABC1234", False, "other"),
        outcome("ABC123", False), outcome("ABCD12", True),
    ]  # fmt: skip
    shapes = report.by_shape(min_plates=3)
    assert shapes[0] == ("LLDLDL", pytest.approx(2 / 3), 3)
    assert shapes[-1] == ("other", pytest.approx(2 / 4), 4)
    m = report.metrics("set")
    assert m["plates_fitting_no_format"] == 1
    assert m["exact_rate_shape_LLDLDL"] == pytest.approx(2 / 3)
    assert m["plates_US"] == 6 and m["exact_rate_other"] == 0.0
    assert m["exact_rate"] == pytest.approx(4 / 7)
    assert "cpu_ms_per_image" not in m  # not measured
    report.cpu_ms = [4.0, 6.0]
    assert report.metrics()["cpu_ms_per_image"] == pytest.approx(5.0)


def test_score_photo_reports_the_best_read_near_the_plate() -> None:
    photo = PhotoTruth(Path("p.jpg"), (TruePlate("AB1C2D", (100, 100, 160, 130)),))
    plates = Detections.from_boxes(
        np.array([[98, 101, 158, 128], [102, 99, 161, 131], [400, 300, 460, 330]], np.float32),
        np.ones(3, np.float32),
        text=("AB1C2O", "AB1C2D", "AB1C2D"),
        text_score=[0.4, 0.6, 0.9],
    )
    (o,) = score_photo(photo, plates, resolve(["US"]))
    assert (o.read, o.exact, o.found, o.plate_format, o.shape) == (
        "AB1C2D", True, True, "US", "LLDLDL"
    )  # fmt: skip


# Real photos: plates whose reading depends on the region's formats, glyph twins and the second
# stretch (each was read wrong before those); a few, so the test stays quick.
REAL = [
    ("images_eu", "test_038.jpg", ["HR", "RS", "DE", "SK", "CZ", "EU"]),
    ("images_eu", "test_008.jpg", ["HR", "RS", "DE", "SK", "CZ", "EU"]),
    ("images_us", "us2.jpg", ["US"]),
    ("images_us", "wts-lg-000045.jpg", ["US"]),
]


@pytest.mark.integration
@pytest.mark.parametrize(("folder", "name", "formats"), REAL)
def test_real_photos_read_their_plate(
    shared_data: Path, folder: str, name: str, formats: list[str]
) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from citywatch.eval.plates import evaluate_photos, parse_truth
    from citywatch.vision.plates.build import build_plate_stage

    image = shared_data / "plates" / folder / name
    photo = PhotoTruth(image, parse_truth(image.with_suffix(".txt")))
    stage = build_plate_stage(PlatesConfig(formats=formats), track=False)  # type: ignore[arg-type]
    report = evaluate_photos([photo], stage.read_plates, formats=stage.formats)
    (o,) = report.outcomes
    assert o.exact, f"{name}: read {o.read!r}, truth {o.truth!r}"
    assert len(report.cpu_ms) == 1 and report.cpu_ms[0] > 0
