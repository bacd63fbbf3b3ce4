"""`citywatch eval vehicles` (issue 20): labels, the dev/holdout halves, confusion tables, and
the command through the real app (on ../shared/data when present; a foreign detector file
fails naming it)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.eval.common import wilson
from citywatch.eval.plates import TruthError
from citywatch.eval.vehicles import (
    VehicleLabel,
    VehicleOutcome,
    confusion,
    describe_labelled,
    load_labels,
    pairs_of,
    vehicle_metrics,
)
from citywatch.vision.record import Vehicles
from citywatch.vision.vehicles.describe import VehicleDescriber
from tests.eval.cli_app import invoke_eval
from tests.vision.vehicles.foreign import write_voc_detector

REPO = Path(__file__).resolve().parents[2]


def _outcome(row: int, label: tuple[str, str], got: tuple[str, str]) -> VehicleOutcome:
    lab = VehicleLabel(row, f"p{row}.jpg", "AB1", *label)
    return VehicleOutcome(lab, *got, ms=10.0 + row, problem="" if got[0] else "missed")


def test_metrics_per_half_count_a_missed_vehicle_as_wrong() -> None:
    outcomes = [
        _outcome(0, ("car", "white"), ("car", "grey")),  # dev
        _outcome(1, ("car", "white"), ("car", "white")),  # holdout
        _outcome(2, ("truck", "red"), ("car", "red")),  # dev
        _outcome(3, ("car", "black"), ("", "")),  # holdout, no vehicle found
        _outcome(4, ("bus", ""), ("bus", "blue")),  # dev, colour not labelled
    ]
    m = vehicle_metrics(outcomes, "t")
    assert (m["labelled"], m["vehicle_found"], m["type_n"], m["colour_n"]) == (5, 4, 5, 4)
    assert (m["type_accuracy"], m["type_accuracy_dev"], m["type_accuracy_holdout"]) == (
        0.6,
        0.667,
        0.5,
    )
    assert (m["colour_accuracy"], m["colour_accuracy_dev"], m["colour_accuracy_holdout"]) == (
        0.5,
        0.5,
        0.5,
    )
    assert m["colour_accuracy_of_found"] == 0.667
    table = confusion(pairs_of(outcomes, "colour"))
    assert table.rows == ["black", "red", "white"]
    assert table.columns == ["(none)", "black", "grey", "red", "white"]
    assert table.counts == [[1, 0, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 1, 0, 1]]


def test_wilson_interval_matches_the_formula_and_narrows_with_n() -> None:
    lo, hi = wilson(8, 10)  # textbook value: 0.490 .. 0.943
    assert (round(lo, 3), round(hi, 3)) == (0.49, 0.943)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    wide, narrow = wilson(54, 80), wilson(540, 800)
    assert wide[0] < narrow[0] < 0.675 < narrow[1] < wide[1]


def test_metrics_give_intervals_and_the_second_labellers_figures() -> None:
    def car(row: int, colour: str, second: str, named: str) -> VehicleOutcome:
        return VehicleOutcome(VehicleLabel(row, "p.jpg", "AB1", "car", colour, second), "car",
                              named, 5.0)  # fmt: skip

    outcomes = [
        car(0, "white", "grey", "grey"),  # dev: labellers differ, not in the agreed figure
        car(1, "grey", "grey", "grey"),  # holdout: agreed, right
        car(2, "red", "red", "brown"),  # dev: agreed, wrong
        car(3, "blue", "", "blue"),  # holdout: not looked at twice
        car(4, "green", "green", "green"),  # dev: agreed, right
    ]
    m = vehicle_metrics(outcomes)
    assert (m["colour_accuracy"], m["colour_accuracy_lo"], m["colour_accuracy_hi"]) == (
        0.6,
        round(wilson(3, 5)[0], 3),
        round(wilson(3, 5)[1], 3),
    )
    assert m["colour_accuracy_dev_lo"] == round(wilson(1, 3)[0], 3)
    assert (m["colour_second_n"], m["colour_labellers_agree"]) == (4, 0.75)
    assert (m["colour_accuracy_agreed"], m["colour_accuracy_agreed_dev"]) == (0.667, 0.5)
    assert m["colour_accuracy_agreed_holdout"] == 1.0
    assert "colour_labellers_agree" not in vehicle_metrics(outcomes[3:4])


def test_labels_are_checked_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "labels.csv"
    bad.write_text("image,plate,kind\nx.jpg,AB1,car\n")
    with pytest.raises(TruthError, match=r"labels.csv: missing column\(s\) colour"):
        load_labels(bad)
    bad.write_text("image,plate,kind,colour\n,AB1,car,red\n")
    with pytest.raises(TruthError, match=r"labels\.csv line 2: an image and a plate"):
        load_labels(bad)
    with pytest.raises(TruthError, match=r"nope\.csv: cannot read"):
        load_labels(tmp_path / "nope.csv")
    good = tmp_path / "good.csv"
    good.write_text("image,plate,kind,colour\na.jpg,AB1,Car,White\nb.jpg,CD2,,\n")
    labels = load_labels(good)
    assert [(v.kind, v.colour, v.half) for v in labels] == [
        ("car", "white", "dev"),
        ("", "", "holdout"),
    ]
    good.write_text("image,plate,kind,colour,colour_second\na.jpg,AB1,car,white, Grey\n")
    assert load_labels(good)[0].colour_second == "grey"


class _OneCar:
    name = "one-car"

    def detect(self, image: np.ndarray) -> Vehicles:
        return Vehicles(
            np.array([[20, 20, 180, 140]], np.float32), np.array([0.9], np.float32), ("car",)
        )


def test_describe_labelled_runs_the_live_describer(tmp_path: Path) -> None:
    img = np.zeros((160, 200, 3), np.uint8)
    img[20:140, 20:180] = (30, 30, 200)  # a red car
    img[110:125, 80:120] = 235  # its plate
    cv2.imwrite(str(tmp_path / "car.png"), img)
    (tmp_path / "car.txt").write_text("car.png\t80\t110\t40\t15\tAB1\n")
    labels = [VehicleLabel(0, "car.png", "AB1", "car", "red"),
              VehicleLabel(1, "car.png", "ZZ9", "car", "red"),
              VehicleLabel(2, "gone.png", "AB1", "car", "red")]  # fmt: skip
    out = describe_labelled(labels, tmp_path, VehicleDescriber(_OneCar()))
    assert (out[0].kind, out[0].colour, out[0].problem) == ("car", "red", "")
    assert "truth plate box not found" in out[1].problem
    assert "gone.png" in out[2].problem and out[2].kind == ""
    with pytest.raises(TruthError, match="does not exist"):
        describe_labelled(labels, tmp_path / "nowhere", VehicleDescriber(_OneCar()))


def test_eval_vehicles_on_six_labelled_photos(shared_data: Path, tmp_path: Path) -> None:
    rows = (REPO / "bench" / "vehicles" / "labels.csv").read_text().splitlines()[:7]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    config = tmp_path / "citywatch.yaml"
    config.write_text("plates:\n  formats: [EU]\n")
    out = tmp_path / "v.json"
    args = ["eval", "vehicles", "--images", str(shared_data / "plates"), "--labels", str(labels)]
    result = invoke_eval(config, [*args, "--json", str(out), "--plot", str(tmp_path)])
    assert result.exit_code == 0, result.output
    m = json.loads(out.read_text())
    assert m["labelled"] == 6 and m["vehicle_found"] >= 5
    assert m["type_accuracy"] >= 0.5 and 0 <= m["colour_accuracy"] <= 1
    assert "colour_accuracy_holdout" in result.output and "black" in result.output
    assert (tmp_path / "vehicle_colours.png").is_file()


def test_eval_vehicles_with_a_foreign_detector_fails_naming_it(tmp_path: Path) -> None:
    voc = write_voc_detector(tmp_path / "voc.onnx")
    config = tmp_path / "citywatch.yaml"
    config.write_text(f"plates:\n  vehicles:\n    model_path: {voc}\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("image,plate,kind,colour\na.jpg,AB1,car,red\n")
    result = invoke_eval(
        config, ["eval", "vehicles", "--images", str(tmp_path), "--labels", str(labels)]
    )
    assert result.exit_code != 0
    assert "voc.onnx" in result.output and "80 COCO classes" in result.output
    assert "Traceback" not in result.output
