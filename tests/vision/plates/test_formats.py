from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from citywatch.config.plates import PlateFormatName
from citywatch.vision.plates.formats import (
    FORMATS,
    RANK_PENALTY,
    Layout,
    best,
    clean,
    edit_distance,
    expand,
    letter_weights,
    normalise,
    plate_key,
    resolve,
)

ALL = ["RS", "HR", "NL", "DE", "SK", "CZ", "BR", "EU", "US"]


@pytest.mark.parametrize(
    ("raw", "text", "gaps"),
    [
        ("56-JTT-5", "56JTT5", {2, 5}),
        ("  rk·755aj ", "RK755AJ", {2}),
        ("ZG 1234-AB", "ZG1234AB", {2, 6}),
        ("粤沪853FL", "853FL", set()),
        ("ŠĆ-Đ12", "SCD12", {2}),
        ("АВ123", "AB123", set()),  # Cyrillic look-alikes
        ("-AB-", "AB", set()),  # gaps at the ends are not gaps
        ("", "", set()),
    ],
)
def test_clean(raw: str, text: str, gaps: set[int]) -> None:
    assert clean(raw) == (text, frozenset(gaps))


def test_plate_key_strips_separators() -> None:
    assert plate_key("ns 123-ab") == "NS123AB"


def test_layout_parse() -> None:
    lay = Layout.parse("LL*DDD-LL")
    assert lay.classes == "LLDDDLL"
    assert lay.boundaries == {2, 5}
    assert lay.emblems == {2}
    assert len(lay) == 7
    with pytest.raises(ValueError, match="only L, D, A"):
        Layout.parse("LLX")
    with pytest.raises(ValueError, match="starts with a boundary"):
        Layout.parse("-LL")


def test_expand() -> None:
    assert expand("L{1,2}-D") == ("L-D", "LL-D")
    assert "LLL*LL-DDDD" not in expand("L{1,3}*L{1,2}-D{1,4}", max_len=8)
    assert "LLL*LL-DDD" in expand("L{1,3}*L{1,2}-D{1,4}", max_len=8)


@pytest.mark.parametrize(
    ("raw", "formats", "text", "fmt"),
    [
        # Serbia
        ("BG123AB", ["RS"], "BG123AB", "RS"),
        ("NS 123-AB", ["RS"], "NS123AB", "RS"),
        ("BG 1O23-A8", ["RS"], "BG1023AB", "RS"),  # O->0 among digits, 8->B among letters
        # Croatia
        ("ZG 1234-AB", ["HR"], "ZG1234AB", "HR"),
        ("ZG 123-A", ["HR"], "ZG123A", "HR"),
        ("2G 1234-AB", ["HR"], "ZG1234AB", "HR"),  # Z read as 2 in the city code
        # Netherlands sidecodes
        ("56-JTT-5", ["NL"], "56JTT5", "NL"),
        ("56-JTT-S", ["NL"], "56JTT5", "NL"),  # the gaps pick sidecode 7, which wants a digit
        ("XS-NB-23", ["NL"], "XSNB23", "NL"),
        ("99-XXX-9", ["NL"], "99XXX9", "NL"),
        ("9-XXX-99", ["NL"], "9XXX99", "NL"),
        ("XXX-99-X", ["NL"], "XXX99X", "NL"),
        ("NL 99-SZG-5", ["NL"], "99SZG5", "NL"),  # EU band code dropped
        # Germany
        ("B AB 1234", ["DE"], "BAB1234", "DE"),
        ("M X 123", ["DE"], "MX123", "DE"),
        # Slovakia / Czechia, crest or sticker read as a character
        ("RK-755AJ", ["SK"], "RK755AJ", "SK"),
        ("LM-298A1", ["SK"], "LM298AI", "SK"),
        ("BZM822-27", ["SK"], "BZM2227", "SK"),
        ("1B189839", ["CZ"], "1B19839", "CZ"),
        ("4B3:9376", ["CZ"], "4B39376", "CZ"),
        # generic
        ("M5-XSX", ["EU"], "M5XSX", "EU"),
        ("7ABC123", ["US"], "7ABC123", "US"),
    ],
)
def test_normalise_best(raw: str, formats: list[str], text: str, fmt: str) -> None:
    cand = best(raw, formats)
    assert cand is not None, raw
    assert (cand.text, cand.format) == (text, fmt)
    assert 0.0 < cand.score <= 1.0


@pytest.mark.parametrize(
    ("raw", "formats"),
    [
        ("PEUGEOT", ["RS", "HR", "NL", "SK", "CZ", "EU"]),  # no digit
        ("2014-05-1306:11:43", ALL),  # a time stamp: too long
        ("AB", ALL),
        ("ZGX 12345-AB", ["NL"]),  # 10 characters: too many to trim to a sidecode
        ("!!!", ALL),
        ("12-34-56-78", ["NL"]),  # 8 digits: every sidecode needs more than two repairs
    ],
)
def test_normalise_rejects(raw: str, formats: list[str]) -> None:
    assert normalise(raw, formats) == []


def test_fix_only_where_the_layout_says() -> None:
    # O in a letter position stays O; O in a digit position becomes 0
    assert best("RK-O99AO", ["SK"]).text == "RK099AO"  # type: ignore[union-attr]
    # generic formats fix nothing
    assert best("RKO99AO", ["EU"]).text == "RKO99AO"  # type: ignore[union-attr]


def test_repairs_cost_score() -> None:
    clean_read = best("RK-755AJ", ["SK"])
    fixed = best("RK-755A1", ["SK"])
    trimmed = best("HRK-755AJ", ["SK"])
    assert clean_read is not None and fixed is not None and trimmed is not None
    assert clean_read.fixes == 0 and fixed.fixes == 1 and trimmed.trimmed == 1
    assert clean_read.score > fixed.score
    assert clean_read.score > trimmed.score


def test_confidence_and_case_scale_score() -> None:
    a = best("RK-755AJ", ["SK"], confidence=0.5)
    b = best("RK-755AJ", ["SK"], confidence=1.0)
    lower = best("Rk-755aj", ["SK"], confidence=1.0)
    assert a is not None and b is not None and lower is not None
    assert a.score == pytest.approx(b.score * 0.5)
    assert lower.score < b.score


def test_short_reads_score_lower() -> None:
    short = best("AB12", ["EU"])
    long = best("AB123", ["EU"])
    assert short is not None and long is not None and short.score < long.score


def test_candidates_sorted_and_unique() -> None:
    found = normalise("HRK·708A1", ALL)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert len({c.text for c in found}) == len(found)


def test_format_order_breaks_ties() -> None:
    # "BG123AB" fits RS and SK equally: the earlier format in the list wins
    first = best("BG123AB", ["RS", "SK"])
    second = best("BG123AB", ["SK", "RS"])
    assert first is not None and second is not None
    assert (first.format, second.format) == ("RS", "SK")
    assert first.score == pytest.approx(second.score)
    # it is the rank weight that orders them: a format's readings weigh RANK_PENALTY less for
    # each place it stands later (SK's own second reading, alone and behind RS and HR)
    alone = {c.text: c.score for c in normalise("BG123AB", ["SK"])}
    for place, fmts in ((1, ["RS", "SK"]), (2, ["RS", "HR", "SK"])):
        later = {c.text: (c.format, c.score) for c in normalise("BG123AB", fmts)}
        assert later["BG12348"] == ("SK", pytest.approx(alone["BG12348"] * RANK_PENALTY**place))


def test_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown plate format 'XX'.*known: RS"):
        resolve(["XX"])


def test_config_literal_matches_the_table() -> None:
    assert set(get_args(PlateFormatName)) == set(FORMATS)


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("", "", 0), ("ABC", "ABC", 0), ("ABC", "ABD", 1), ("ABC", "AC", 1), ("", "AB", 2)],
)
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b) == d == edit_distance(b, a)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([("A", 10), ("B", 10)], ()),  # both far above 1/26 of the letters counted
        ([("A", 500), ("B", 10), ("I", 12)], ("B", "I")),  # B and I below 1/26
        ([], ()),
    ],
)
def test_letter_weights_temper_the_share_of_rare_letters(
    counts: list[tuple[str, int]], expected: tuple[str, ...]
) -> None:
    got = dict(letter_weights(counts))
    assert tuple(got) == expected
    total = sum(n for _, n in counts)
    for letter, n in counts:
        share = 26 * n / total
        assert (letter in got) == (share < 1)
        if letter in got:
            assert got[letter] == pytest.approx(share ** (1 / 3))
            assert 0 < got[letter] < 1


def test_us_letter_prior_sends_twins_to_the_digit_but_keeps_clear_letters() -> None:
    us = FORMATS["US"]
    weights = dict(us.letter_weights)
    # most states leave I, O and Q out of their serials: they weigh least
    assert max(weights["I"], weights["O"], weights["Q"]) < min(
        w for c, w in weights.items() if c not in "IOQ"
    )
    plain = replace(us, letter_weights=())
    # DZ1555 (LL DDDD) against its I/1 twin DZI555 (LLL DDD, the more common layout): the
    # layout alone prefers the letter; the letter prior turns it to the digit read
    assert best("DZ1555", [plain]).text == "DZI555"  # type: ignore[union-attr]
    assert best("DZ1555", [us]).text == "DZ1555"  # type: ignore[union-attr]
    # a read that needs its I to fit a common layout still keeps it
    assert best("ABI123", [us]).text == "ABI123"  # type: ignore[union-attr]
    # the generic rule (vanity plates) is not weighed by letter
    vanity = normalise("IQIQI", [us])
    assert vanity and vanity[0].text == "IQIQI"
    assert vanity[0].score == pytest.approx(normalise("IQIQI", [plain])[0].score)


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("NEVADA", False),  # the state's name, the largest text on many vanity plates
        ("HAWA11", False),  # HAWAII with the recogniser's I/1 twins
        ("0HI0", False),  # OHIO
        ("New York", False),  # separators dropped first
        ("IOWA12", True),  # a name inside a longer read is not the name
        ("BUKTLST", True),  # a vanity plate
        ("7ABC123", True),
    ],
)
def test_us_state_names_are_not_plates(raw: str, read: bool) -> None:
    assert bool(normalise(raw, ["US"])) == read
    # without the list of names every one of these reads fits the US format
    assert normalise(raw, [replace(FORMATS["US"], not_plates=frozenset())])
