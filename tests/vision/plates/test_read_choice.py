"""Which read of a candidate window the plate stage keeps (issue 15): the surer, but on a tie
the one that holds the other with characters added at an edge (a line box that ends before
the plate's last character reads a cut plate about as surely as the whole window reads it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.formats import Candidate, best, resolve
from citywatch.vision.plates.lines import TIE, better_read
from citywatch.vision.plates.stage import PlateStage
from tests.vision.plates.test_stage import IMAGE, PLATE, FakeDetector, FakeReader, FakeRefiner


def _c(text: str, score: float) -> Candidate:
    return Candidate(text, "EU", score)


@pytest.mark.parametrize(
    ("new", "old", "kept_new"),
    [
        (_c("B310VLV", 0.7222), _c("B310VL", 0.7230), True),  # a tie: the whole plate
        (_c("B310VL", 0.7230), _c("B310VLV", 0.7222), False),  # ... in either order
        (_c("VW4X4WP", 0.70), _c("4X4WP", 0.705), True),  # cut on the left
        (_c("B310VLV", 0.70), _c("B310VL", 0.72), False),  # not a tie: the surer
        (_c("B310VLV", 0.74), _c("B310VL", 0.72), True),
        (_c("B310XLV", 0.7222), _c("B310VL", 0.7230), False),  # changes a character inside
        (_c("AB123CD", 0.7200), _c("XY987ZW", 0.7205), False),  # unrelated: the surer
        (_c("AB123CD", 0.7205), _c("XY987ZW", 0.7200), True),
        (_c("B310VL", 0.72), _c("B310VL", 0.72), False),  # the same: the first stays
    ],
)
def test_the_better_read_of_one_window(new: Candidate, old: Candidate, kept_new: bool) -> None:
    assert better_read(new, old) is kept_new


def test_a_tie_is_within_the_margin_only() -> None:
    wide, cut = _c("B310VLV", 0.70), _c("B310VL", 0.70 + TIE + 0.001)
    assert not better_read(wide, cut)
    assert better_read(wide, cut, tie=2 * TIE)


LINE = (250.0, 405.0, 350.0, 435.0)  # inside PLATE's window, too short to stand for it


def test_the_stage_keeps_the_whole_windows_read_over_a_cut_lines_on_a_tie() -> None:
    formats = ["HR", "RS", "DE", "SK", "CZ", "EU"]
    window, line = ("B310VLV", 0.999), ("B310VL", 1.0)  # both the generic EU layout
    a = best(window[0], resolve(formats), window[1])
    b = best(line[0], resolve(formats), line[1])
    assert a is not None and b is not None and 0 < b.score - a.score <= TIE
    reader = FakeReader({200: window, 250: line})
    stage = PlateStage(
        FakeDetector([PLATE]),
        reader,
        None,
        PlatesConfig(formats=formats),
        refiner=FakeRefiner([LINE]),
    )
    plates = stage.read_plates(IMAGE)
    assert plates.text == ("B310VLV",)
    np.testing.assert_allclose(plates.xyxy[0], PLATE)
    # both were read: the line, and the window because the line spans too little of it
    assert sorted(int(b[0]) for b in reader.read_boxes[0]) == [200, 250]


def test_a_photo_whose_line_box_cuts_the_first_letters_is_read_whole(shared_data: Path) -> None:
    photo = shared_data / "plates" / "images_eu" / "eu7.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    stage = build_plate_stage(
        PlatesConfig(formats=["HR", "RS", "DE", "SK", "CZ", "EU"]), track=False
    )
    plates = stage.read_plates(load_image(photo))
    # before the tie rule the line box's 4X4WP (0.001 surer) was kept
    assert "VW4X4WP" in plates.text
