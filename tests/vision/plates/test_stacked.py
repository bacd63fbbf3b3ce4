"""Stacked (two-line) plates read whole by the one-line reader (issue 15): which line boxes
pair up, how two lines' probabilities join, and the shipped stage reading drawn stacked plates
of three formats whole, where each line alone is not the plate."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.vision.boxes import union_box
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.ctc import CharProbs, decode, slots
from citywatch.vision.plates.formats import FORMATS
from citywatch.vision.plates.stacked import (
    is_stacked,
    join_lines,
    short_stacked_lines,
    stacked_pairs,
)

UPPER = np.array([100, 100, 160, 130], np.float32)  # 60x30


@pytest.mark.parametrize(
    ("lower", "expected", "why"),
    [
        ([95, 134, 175, 164], True, "under it, a small gap, the same columns"),
        ([100, 125, 170, 155], True, "the boxes overlap a little (grown boxes do)"),
        ([100, 160, 170, 190], False, "a gap wider than 0.8 of a line"),
        ([100, 105, 170, 135], False, "overlapping by most of a line: the same line"),
        ([165, 134, 225, 164], False, "beside it, no shared columns"),
        ([140, 134, 200, 164], False, "a third of the columns shared"),
        ([100, 134, 160, 200], False, "more than twice as tall"),
        ([60, 134, 260, 164], False, "a plate-long line: the lines hold too many characters"),
        ([100, 60, 160, 90], False, "above it, not under it"),
    ],
)
def test_which_lines_are_two_lines_of_one_plate(
    lower: list[float], expected: bool, why: str
) -> None:
    assert is_stacked(UPPER, np.array(lower, np.float32)) is expected, why


def test_each_line_pairs_once_with_its_closest_partner() -> None:
    boxes = np.array(
        [
            [100, 100, 160, 130],  # 0: upper line
            [98, 134, 166, 164],  # 1: its lower line, same height and columns
            [110, 134, 190, 184],  # 2: also under 0, but taller and off-centre
            [400, 100, 460, 130],  # 3: elsewhere, alone
        ],
        np.float32,
    )
    assert stacked_pairs(boxes) == [(0, 1)]
    assert stacked_pairs(boxes[[0, 3]]) == []
    assert stacked_pairs(np.zeros((0, 4), np.float32)) == []


def test_a_line_too_narrow_alone_is_kept_only_over_or_under_a_plate_line() -> None:
    window = np.array([80, 80, 240, 200], np.float32)
    lines = np.array(
        [
            [100, 140, 200, 170],  # 0: a plate-shaped line (kept)
            [130, 106, 165, 136],  # 1: ZG over it, 35x30: too narrow alone
            [300, 106, 335, 136],  # 2: as narrow, outside the window
            [135, 172, 155, 198],  # 3: 20x26 under it: narrower than any line of characters
        ],
        np.float32,
    )
    kept = np.array([0], np.int64)
    assert short_stacked_lines(lines, window, kept, 1.2, 0.2).tolist() == [1]
    assert short_stacked_lines(lines, window, np.zeros(0, np.int64), 1.2, 0.2).tolist() == []
    # a line must still be a fair share of the window high
    assert short_stacked_lines(lines, window, kept, 1.2, 0.3).tolist() == []


def _line(text: str) -> CharProbs:
    """Sure probabilities of ``text``: each character over two steps, a blank between."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    rows = []
    for ch in text:
        for _ in range(2):
            row = np.zeros(36, np.float32)
            row[alphabet.index(ch)] = 1.0
            rows.append(row)
        rows.append(np.zeros(36, np.float32))
    chars = np.stack(rows)
    blank = (chars.sum(axis=1) == 0).astype(np.float32)
    zeros = np.zeros(len(rows), np.float32)
    return CharProbs(chars, blank, zeros, zeros.copy())


def test_joined_lines_read_upper_first_with_a_gap_between() -> None:
    upper, lower = _line("KAAB"), _line("123")
    joined = join_lines(upper, lower)
    assert len(joined) == len(upper) + 1 + len(lower)
    assert joined.gap[len(upper)] == 1.0 and joined.chars[len(upper)].sum() == 0.0
    best = decode(slots(joined), [FORMATS["DE"]])[0]
    assert best.text == "KAAB123"
    # each line alone is no German plate
    assert not any(c.text == "KAAB123" for c in decode(slots(upper), [FORMATS["DE"]]))
    assert np.array_equal(union_box(UPPER, np.array([90, 134, 150, 164])), [90, 100, 160, 164])


class CountingRecogniser:
    """Reads a crop by the grey level at its centre (one text per level) and counts the crops
    it recognises at each stretch."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.seen: dict[float, list[int]] = {}

    def probabilities(self, crops: list[np.ndarray], *, stretch: float = 1.0) -> list[CharProbs]:
        levels = [int(c[c.shape[0] // 2, c.shape[1] // 2, 0]) for c in crops]
        self.seen.setdefault(stretch, []).extend(levels)
        return [_line(self.texts[v]) for v in levels]


def test_lines_and_their_pairs_are_read_with_each_crop_recognised_once_per_stretch() -> None:
    from citywatch.vision.plates.ppocr import CtcPlateReader

    image = np.zeros((200, 400, 3), np.uint8)
    boxes = np.array([[20, 20, 120, 50], [20, 60, 120, 90], [200, 100, 380, 140]], np.float32)
    for level, (x0, y0, x1, y1) in zip((10, 20, 30), boxes.astype(int), strict=True):
        image[y0:y1, x0:x1] = level
    rec = CountingRecogniser({10: "KAAB", 20: "123", 30: "ZG123AB"})
    # never sure: every item is read at both stretches
    reader = CtcPlateReader(rec, stretches=(1.0, 1.4), sure_score=2.0)  # type: ignore[arg-type]
    formats = [FORMATS["DE"], FORMATS["HR"], FORMATS["EU"]]
    lines, pairs = reader.read_lines_and_pairs(image, boxes, [(0, 1)], formats)
    assert lines[2][0].text == "ZG123AB"
    assert [c[0].text for c in pairs] == ["KAAB123"]
    # three crops, each recognised once at each stretch (not again for the pair)
    assert {s: sorted(v) for s, v in rec.seen.items()} == {1.0: [10, 20, 30], 1.4: [10, 20, 30]}
    # each line reads as it does alone
    assert reader.read_formatted(image, boxes, formats) == lines
    with pytest.raises(ValueError, match="stacked pair"):
        reader.read_lines_and_pairs(image, boxes, [(0, 3)], formats)


@pytest.fixture(scope="module")
def fonts(shared_data: Path) -> object:
    from citywatch.training.plate_render import load_fonts

    folder = shared_data / "plates" / "fonts"
    if not folder.is_dir():
        pytest.skip(f"plate fonts not found at {folder}")
    return load_fonts(folder)


def _scene(fonts: object, style: str, layout: str, groups: list[str]) -> np.ndarray:
    """A dull 640x480 street with one stacked plate of ``style`` drawn face-on."""
    from citywatch.training.plate_render import draw_plate
    from citywatch.training.plate_styles import STYLES

    plate = draw_plate(
        {s.name: s for s in STYLES}[style],
        layout,
        groups,
        fonts,
        random.Random(5),  # type: ignore[arg-type]
    )
    image = np.full((480, 640, 3), 70, np.uint8)
    small = cv2.resize(plate.rgb[:, :, ::-1], None, fx=0.5, fy=0.5)
    h, w = small.shape[:2]
    image[200 : 200 + h, 250 : 250 + w] = small
    return image


@pytest.mark.parametrize(
    ("style", "layout", "groups", "formats", "text"),
    [
        ("DE-2", "LL*LL-DDD", ["KA", "AB", "123"], ["DE", "EU"], "KAAB123"),
        ("HR-2", "LL-DDD*LL", ["ZG", "123", "AB"], ["HR", "EU"], "ZG123AB"),
        ("US-2", "LL-DDDD", ["AB", "1234"], ["US"], "AB1234"),
    ],
)
def test_the_stage_reads_a_stacked_plate_whole(
    fonts: object, style: str, layout: str, groups: list[str], formats: list[str], text: str
) -> None:
    image = _scene(fonts, style, layout, groups)
    joined = build_plate_stage(PlatesConfig(formats=formats), track=False).read_plates(image)
    assert list(joined.text) == [text]
    y0, y1 = joined.xyxy[0][1], joined.xyxy[0][3]
    assert y1 - y0 > 45  # the box holds both lines (each about 30 px high)
    off = PlatesConfig.model_validate({"formats": formats, "reader": {"join_stacked": False}})
    alone = build_plate_stage(off, track=False).read_plates(image)
    assert text not in alone.text
