"""Recognisers reading together (ensemble.py): per-step probabilities averaged, decoded once;
on hand-made probabilities, no model needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from citywatch.vision.plates.ctc import CharProbs, decode, slots
from citywatch.vision.plates.ensemble import MeanRecogniser, mean_probs
from citywatch.vision.plates.formats import resolve
from citywatch.vision.plates.ppocr import CtcPlateReader, RecogniserError
from citywatch.vision.record import ImageBGR
from tests.vision.plates.test_ctc import probs, spaced


class Fixed:
    """A recogniser that reads every crop as ``read`` (and counts its runs)."""

    def __init__(self, read: CharProbs, name: str) -> None:
        self.read = read
        self.path = Path(name)
        self.crops = 0

    def probabilities(self, crops: Sequence[ImageBGR], *, stretch: float = 1.0) -> list[CharProbs]:
        self.crops += len(crops)
        return [self.read for _ in crops]


def unsure(text: str, at: int, wrong: str, p_wrong: float) -> CharProbs:
    """``text`` read clearly but at character ``at``, where ``wrong`` is seen with
    ``p_wrong`` and the true character with 0.85 - ``p_wrong``."""
    steps = spaced(text)
    steps[2 * at] = {wrong: p_wrong, text[at]: 0.85 - p_wrong}
    return probs(steps)


def test_mean_probs_is_the_stepwise_mean() -> None:
    a = probs(["_", "A", "_", {"B": 0.6, "8": 0.3}, "_"])
    b = probs(["_", {"A": 0.5, "4": 0.4}, "_", "8", " "])
    m = mean_probs([a, b])
    assert np.allclose(m.chars, (a.chars + b.chars) / 2)
    assert np.allclose(m.blank, (a.blank + b.blank) / 2)
    assert np.allclose(m.gap, [0, 0, 0, 0, 0.5])
    assert mean_probs([a]) is a


def test_mean_probs_refuses_reads_of_other_lengths() -> None:
    with pytest.raises(ValueError, match="step counts"):
        mean_probs([probs(["A", "_"]), probs(["A"])])


# Each member misreads one character (a letter for a letter, a digit for a digit, so no format
# repairs it); the other sees it right, so the mean reads the plate.  Rows: the plate, member
# a's doubt (position, wrong character, its probability), member b's.
CASES = [
    ("4EEU387", (2, "F", 0.6), (5, "6", 0.6)),
    ("6WHS906", (4, "2", 0.55), (1, "M", 0.6)),
    ("DH5X9P", (1, "U", 0.65), (4, "8", 0.6)),
]


@pytest.mark.parametrize(("plate", "doubt_a", "doubt_b"), CASES)
def test_the_mean_reads_what_neither_member_reads_alone(
    plate: str, doubt_a: tuple[int, str, float], doubt_b: tuple[int, str, float]
) -> None:
    us = resolve(["US"])
    a, b = unsure(plate, *doubt_a), unsure(plate, *doubt_b)
    best = [decode(slots(p), us)[0].text for p in (a, b)]
    assert plate not in best  # each member alone misreads it
    read = MeanRecogniser([Fixed(a, "a.onnx"), Fixed(b, "b.onnx")]).probabilities([_crop()])[0]
    assert decode(slots(read), us)[0].text == plate


def test_the_plate_reader_reads_through_an_ensemble() -> None:
    plate = "4GLS168"
    a, b = Fixed(unsure(plate, 0, "L", 0.5), "a"), Fixed(unsure(plate, 5, "B", 0.5), "b")
    reader = CtcPlateReader(MeanRecogniser([a, b]), stretches=(1.0, 1.4), sure_score=1.0)
    box = np.array([[10, 10, 90, 30]], np.float32)
    got = reader.read_formatted(np.zeros((40, 100, 3), np.uint8), box, resolve(["US"]))
    assert got[0][0].text == plate
    assert a.crops == b.crops == 2  # each member read the box once per stretch


def test_members_that_cut_a_crop_differently_are_refused_naming_both_files() -> None:
    long, short = Fixed(probs(spaced("ABC123")), "wide.onnx"), Fixed(probs(["A"]), "narrow.onnx")
    with pytest.raises(RecogniserError, match=r"wide\.onnx \(12 steps\).*narrow\.onnx \(1 steps\)"):
        MeanRecogniser([long, short]).probabilities([_crop()])


def test_an_ensemble_needs_two_members() -> None:
    with pytest.raises(ValueError, match="two recognisers"):
        MeanRecogniser([Fixed(probs(["A"]), "one")])


def _crop() -> ImageBGR:
    return np.zeros((20, 60, 3), np.uint8)
