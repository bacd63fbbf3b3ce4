"""Which characters a national layout may drop (issue 15): a read whose characters the
recogniser was sure of keeps them and goes to the generic format whole, instead of losing one to
fit another country's layout; a plate's own band code, its crest and a doubtful artefact are
still dropped.  Reads are given as the CTC decoder gives them: per character the symbol read
(its only alternative) and how sure the recogniser was of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from citywatch.config.plates import PlatesConfig
from citywatch.vision.plates.ctc import ALPHABET, CharProbs, decode, slots
from citywatch.vision.plates.formats import (
    FORMATS,
    Candidate,
    PlateFormat,
    clean,
    drop_weight,
    normalise,
    resolve,
    spells_band,
)
from citywatch.vision.plates.layouts import SURE_DROP

SHIPPED = PlatesConfig().formats  # RS, HR, NL, DE, EU, US
SURE = 0.99


def read(
    raw: str, formats: Sequence[str | PlateFormat], doubtful: dict[int, float] | None = None
) -> list[Candidate]:
    """``normalise`` as the CTC decoder calls it: every character sure (``SURE``) but those in
    ``doubtful`` (index into the cleaned text -> the recogniser's probability)."""
    text, _ = clean(raw)
    sure = [(doubtful or {}).get(i, SURE) for i in range(len(text))]
    return normalise(raw, formats, 1.0, [{c: 1.0} for c in text], sure)


def test_the_shipped_list_is_the_one_measured() -> None:
    assert SHIPPED == ["RS", "HR", "NL", "DE", "EU", "US"]


@pytest.mark.parametrize(
    "raw",
    [
        # Romanian plates (no format of their own): before, NL sidecodes took six of the seven
        # characters (SB90TZI -> B90TZI, B121PHD -> B121PH, PH73FAM -> H73FAM)
        "SB90TZI",
        "IF05TAC",
        "B121PHD",
        "PH73FAM",
        "TR95XMI",
        "SB 90 TZI",
        # other foreign plates that fit no layout of the list whole
        "WX12345",  # Polish
    ],
)
def test_a_foreign_read_with_sure_characters_is_kept_whole(raw: str) -> None:
    text, _ = clean(raw)
    found = read(raw, SHIPPED)
    assert found, raw
    assert (found[0].text, found[0].format, found[0].trimmed) == (text, "EU", 0)


def test_before_the_fix_a_sure_character_was_dropped() -> None:
    # the same read when dropping costs nothing more for being sure (the old behaviour,
    # trim 1 in every format): the NL sidecode L-DD-LLL takes six of the seven characters
    old = [replace(f, trim=1.0) for f in resolve(SHIPPED)]
    assert read("SB90TZI", old)[0].text == "B90TZI"
    assert read("SB90TZI", SHIPPED)[0].text == "SB90TZI"


@pytest.mark.parametrize(
    ("raw", "text", "fmt"),
    [
        ("56-JTT-5", "56JTT5", "NL"),
        ("XS-NB-23", "XSNB23", "NL"),
        ("NL 99-SZG-5", "99SZG5", "NL"),  # the band's code dropped, though read surely
        ("BG 123-AB", "BG123AB", "RS"),
        ("ZG 1234-A", "ZG1234A", "HR"),
        ("HR ZG 1234-AB", "ZG1234AB", "HR"),  # HR's band: HR, not RS, though RS fits too
        ("BGK123AB", "BG123AB", "RS"),  # the crest read surely as K, dropped at its slot
        ("B AB 1234", "BAB1234", "DE"),
        ("M X 123", "MX123", "DE"),
    ],
)
def test_a_plate_of_a_listed_country_keeps_its_layout(raw: str, text: str, fmt: str) -> None:
    found = read(raw, SHIPPED)
    assert (found[0].text, found[0].format) == (text, fmt)


@pytest.mark.parametrize(
    ("raw", "doubtful", "text"),
    [
        ("I56JTT5", {0: 0.05}, "56JTT5"),  # a band or border edge read as I, barely
        ("I 56-JTT-5", {0: 0.1}, "56JTT5"),
        ("I99-XXX-9", {0: 0.1}, "99XXX9"),
        ("1ZG 1234-A", {0: 0.1}, "ZG1234A"),
    ],
)
def test_a_doubtful_extra_character_is_still_dropped(
    raw: str, doubtful: dict[int, float], text: str
) -> None:
    assert read(raw, SHIPPED, doubtful)[0].text == text
    # the same character read surely is kept: the plate is then a foreign one
    assert read(raw, SHIPPED)[0].text == clean(raw)[0]


def test_a_drop_costs_by_how_sure_the_character_was() -> None:
    nl = ["NL"]
    by_sure = [read("X56JTT5", nl, {0: p})[0] for p in (0.0, 0.5, 1.0)]
    assert [c.text for c in by_sure] == ["56JTT5"] * 3
    scores = [c.score for c in by_sure]
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] == pytest.approx(scores[0] * SURE_DROP)
    assert scores[1] == pytest.approx(scores[0] * (SURE_DROP + (1 - SURE_DROP) * 0.5))
    # the band's own code and the crest cost the same however sure they were
    for raw, fmts, k in (("NL56JTT5", nl, 1), ("BGK123AB", ["RS"], 2)):
        assert read(raw, fmts, {k: 0.0})[0].score == pytest.approx(read(raw, fmts)[0].score)


def test_us_emblem_slots_explain_nothing() -> None:
    # US emblem slots hold the stars and stickers of some states only: a sure character there
    # costs as one at the ends does (as measured on crops_us), unlike RS's crest
    assert not FORMATS["US"].crest and FORMATS["RS"].crest
    assert FORMATS["US"].bands == ()
    for raw, fmt, text, weight in (
        ("ABK1234", "US", "AB1234", FORMATS["US"].trim),
        ("BGK123AB", "RS", "BG123AB", 1.0),
    ):
        sure = {c.text: c.score for c in read(raw, [fmt], {2: 1.0})}
        doubtful = {c.text: c.score for c in read(raw, [fmt], {2: 0.0})}
        assert sure[text] == pytest.approx(doubtful[text] * weight)


@pytest.mark.parametrize(
    ("trim", "sure", "weight"),
    [(0.3, 1.0, 0.3), (0.3, 0.0, 1.0), (0.3, 0.5, 0.65), (1.0, 1.0, 1.0), (1.0, 0.2, 1.0)],
)
def test_drop_weight(trim: float, sure: float, weight: float) -> None:
    # the probability that the dropped character is not part of the plate: not seen at all, or
    # seen surely and an artefact all the same (trim); trim 1: a format that opts out
    assert drop_weight(trim, sure) == pytest.approx(weight)


@pytest.mark.parametrize(
    ("dropped", "bands", "spelled"),
    [
        ("NL", ("NL",), True),
        ("SRB", ("SRB",), True),
        ("5RB", ("SRB",), True),  # the S read as its digit look-alike
        ("0", ("D",), True),
        ("N", ("NL",), False),  # a part of the code explains nothing
        ("LN", ("NL",), False),
        ("X", ("D",), False),
        ("D", (), False),
    ],
)
def test_spells_band(dropped: str, bands: tuple[str, ...], spelled: bool) -> None:
    assert spells_band(dropped, bands) is spelled


def _line(text: str, p: float = 0.95) -> CharProbs:
    """CTC probabilities of ``text``: each character at ``p``, a blank step after it."""
    n = 2 * len(text)
    chars = np.zeros((n, len(ALPHABET)), np.float32)
    blank = np.ones(n, np.float32)
    for i, ch in enumerate(text):
        chars[2 * i, ALPHABET.index(ch)] = p
        blank[2 * i] = 1.0 - p
    return CharProbs(chars, blank, np.zeros(n, np.float32), np.zeros(n, np.float32))


@pytest.mark.parametrize(("text", "fmt"), [("SB90TZI", "EU"), ("B121PHD", "EU"), ("56JTT5", "NL")])
def test_the_ctc_decoder_keeps_a_sure_read_whole(text: str, fmt: str) -> None:
    found = decode(slots(_line(text)), resolve(SHIPPED))
    assert (found[0].text, found[0].format) == (text, fmt)
