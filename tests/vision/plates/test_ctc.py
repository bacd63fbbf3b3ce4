"""Format-constrained decoding of CTC probabilities (ctc.py), glyph twins (formats.py) and the
reader's early stop (ppocr.py), on hand-made probabilities: no model needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytest

from citywatch.vision.plates.ctc import ALPHABET, CharProbs, decode, greedy, slots
from citywatch.vision.plates.formats import normalise, resolve
from citywatch.vision.plates.ppocr import CtcPlateReader, CtcRecogniser, merge_candidates


def probs(steps: Sequence[str | dict[str, float]]) -> CharProbs:
    """One CTC step per item: ``"_"`` blank, ``" "`` a separator, a symbol at 0.9 (rest
    blank), or a dict of symbol -> probability (rest blank)."""
    n = len(steps)
    chars = np.zeros((n, len(ALPHABET)), np.float32)
    blank = np.zeros(n, np.float32)
    gap = np.zeros(n, np.float32)
    for t, s in enumerate(steps):
        dist = {s: 0.9} if isinstance(s, str) and s not in "_ " else s
        if s == "_":
            blank[t] = 1.0
        elif s == " ":
            gap[t] = 1.0
        else:
            assert isinstance(dist, dict)
            for ch, p in dist.items():
                chars[t, ALPHABET.index(ch)] = p
            blank[t] = 1.0 - sum(dist.values())
    return CharProbs(chars, blank, gap, np.zeros(n, np.float32))


def spaced(text: str) -> list[str | dict[str, float]]:
    out: list[str | dict[str, float]] = []
    for ch in text:
        out += [ch, "_"]
    return out


def test_greedy_reads_the_best_path() -> None:
    text, conf = greedy(slots(probs(["R", "R", "_", "K", " ", "3", "_"])))
    assert text == "RK 3"
    assert conf == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("steps", "formats", "best"),
    [
        # a digit where every NL sidecode needs one, seen by the recogniser as second choice
        ([{"S": 0.6, "5": 0.3}, "_", *spaced("6JTT5")], ["NL"], "56JTT5"),
        # a G where a US serial needs a digit: 6 because the recogniser found it nearly as
        # likely ...
        ([*spaced("YD"), {"G": 0.5, "6": 0.4}, "_", *spaced("L3C")], ["US"], "YD6L3C"),
        # ... but not when it barely saw it: then the read stands as a non-serial plate
        ([*spaced("YD"), {"G": 0.85, "6": 0.05}, "_", *spaced("L3C")], ["US"], "YDGL3C"),
        # a weak (mostly blank) thin 1 that greedy decoding drops, restored by the layout
        ([*spaced("AB"), {"1": 0.45}, "_", *spaced("C2D")], ["US"], "AB1C2D"),
        # ... and not invented where the layout does not need it
        ([*spaced("ABC"), {"1": 0.1}, "_", *spaced("1234")], ["US"], "ABC1234"),
    ],
)
def test_decode_follows_probabilities_and_layouts(
    steps: list[str | dict[str, float]], formats: list[str], best: str
) -> None:
    found = decode(slots(probs(steps)), resolve(formats))
    assert found and found[0].text == best


@pytest.mark.parametrize(
    ("raw", "alts", "formats", "best"),
    [
        # O and 0 (I and 1) are drawn alike: a sure 0 where a letter must stand is an O, not a
        # reason to drop the character
        ("RK340A0", {6: {"0": 1.0}}, ["HR", "SK"], "RK340AO"),
        ("LM298A1", {6: {"1": 1.0}}, ["HR", "SK"], "LM298AI"),
        # no twin: a sure 8 where a letter must stand is not repaired at twin weight
        ("RK340A8", {6: {"8": 1.0}}, ["HR", "SK"], "RK340A"),
    ],
)
def test_glyph_twins_repair_at_high_weight(
    raw: str, alts: dict[int, dict[str, float]], formats: list[str], best: str
) -> None:
    per_char = [alts.get(i, {ch: 1.0}) for i, ch in enumerate(raw)]
    found = normalise(raw, formats, 0.9, per_char, [0.99] * len(raw))
    assert found[0].text == best


class CountingRecogniser:
    """Stands in for CtcRecogniser: a fixed read per crop width, counting calls."""

    def __init__(self, reads: dict[int, list[str | dict[str, float]]]) -> None:
        self.reads = reads
        self.calls: list[tuple[int, float]] = []

    def probabilities(self, crops: Sequence[Any], *, stretch: float = 1.0) -> list[CharProbs]:
        self.calls.append((len(crops), stretch))
        return [probs(self.reads[c.shape[1]]) for c in crops]


def test_reader_skips_other_stretches_for_sure_plates() -> None:
    image = np.zeros((100, 400, 3), np.uint8)
    # box widths 100 and 200 (crops padded by 0): one clear NL plate, one doubtful read
    rec = CountingRecogniser({100: spaced("56JTT5"), 200: [*spaced("56JT"), {"T": 0.3}, "_"]})
    reader = CtcPlateReader(
        cast(CtcRecogniser, rec), pad_x=0, pad_y=0, stretches=(1.0, 1.4), sure_score=0.75
    )
    boxes = np.array([[0, 0, 100, 20], [0, 40, 200, 60]], np.float32)
    out = reader.read_formatted(image, boxes, resolve(["NL"]))
    assert out[0][0].text == "56JTT5"
    assert rec.calls == [(2, 1.0), (1, 1.4)]  # only the doubtful box read again
    always = CountingRecogniser(rec.reads)
    CtcPlateReader(
        cast(CtcRecogniser, always), pad_x=0, pad_y=0, stretches=(1.0, 1.4), sure_score=1.0
    ).read_formatted(image, boxes, resolve(["NL"]))
    assert always.calls == [(2, 1.0), (2, 1.4)]


def test_reader_reads_unfit_text_once_unless_asked() -> None:
    image = np.zeros((100, 400, 3), np.uint8)
    # width 100: text that fits no NL layout; width 200: a doubtful plate
    doubtful = [*spaced("56J"), {"T": 0.5, "7": 0.4}, "_", *spaced("T5")]
    rec = CountingRecogniser({100: spaced("HELLOWORLD"), 200: doubtful})
    boxes = np.array([[0, 0, 100, 20], [0, 40, 200, 60]], np.float32)
    kwargs: dict[str, Any] = {"pad_x": 0, "pad_y": 0, "stretches": (1.0, 1.4), "sure_score": 0.9}
    out = CtcPlateReader(cast(CtcRecogniser, rec), reread_unfit=False, **kwargs).read_formatted(
        image, boxes, resolve(["NL"])
    )
    assert out[0] == [] and out[1][0].text == "56JTT5" and out[1][0].score < 0.9
    assert rec.calls == [(2, 1.0), (1, 1.4)]  # only the doubtful plate read again
    again = CountingRecogniser(rec.reads)
    CtcPlateReader(cast(CtcRecogniser, again), reread_unfit=True, **kwargs).read_formatted(
        image, boxes, resolve(["NL"])
    )
    assert again.calls == [(2, 1.0), (2, 1.4)]


def test_merge_candidates_rewards_agreement() -> None:
    from citywatch.vision.plates.formats import Candidate

    a = [Candidate("AB1C2D", "US", 0.6), Candidate("AB1C2O", "US", 0.7)]
    b = [Candidate("AB1C2D", "US", 0.6)]
    merged = merge_candidates([a, b])
    assert merged[0].text == "AB1C2D"
    assert merged[0].score == pytest.approx(0.6)
    assert merged[1].score == pytest.approx(0.35)
