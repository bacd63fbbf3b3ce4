"""The Brazilian format (issue 15): Mercosur LLLNLNN and the older grey LLL-NNNN, as a table."""

from __future__ import annotations

import pytest

from citywatch.vision.plates.formats import FORMATS, best, normalise


@pytest.mark.parametrize(
    ("raw", "text", "fixes", "trimmed"),
    [
        ("BRA2E19", "BRA2E19", 0, 0),  # Mercosur as printed (no separator)
        ("bra2e19", "BRA2E19", 0, 0),
        ("ABC1C34", "ABC1C34", 0, 0),  # an old plate converted to Mercosur (2 -> C)
        ("ABC-1234", "ABC1234", 0, 0),  # the older grey plate
        ("ABC·1234", "ABC1234", 0, 0),
        ("ABC 1234", "ABC1234", 0, 0),
        ("BRA2EI9", "BRA2E19", 1, 0),  # I where Mercosur demands a digit
        ("8RA2E19", "BRA2E19", 1, 0),  # 8 where it demands a letter
        ("ABC-12S4", "ABC1254", 1, 0),
        ("BRA2E19X", "BRA2E19", 0, 1),  # a surplus character at the end
        ("BRASIL BRA2E19", None, 0, 0),  # the band's word is too long to trim away
    ],
)
def test_br_reads(raw: str, text: str | None, fixes: int, trimmed: int) -> None:
    cand = best(raw, ["BR"])
    if text is None:
        assert cand is None or cand.text != "BRA2E19"
        return
    assert cand is not None, raw
    assert (cand.text, cand.format, cand.fixes, cand.trimmed) == (text, "BR", fixes, trimmed)


@pytest.mark.parametrize(
    "raw",
    ["BRA2E1", "AB34567", "1234567", "ABCDEFG", "AB-1234", "ABCK-123"],
)
def test_br_rejects(raw: str) -> None:
    assert normalise(raw, ["BR"]) == []


def test_br_layouts() -> None:
    br = FORMATS["BR"]
    assert [lay.classes for lay in br.layouts] == ["LLLDLDD", "LLLDDDD"]
    # the grey plate's dash is a group boundary; Mercosur prints none
    assert [sorted(lay.boundaries) for lay in br.layouts] == [[], [3]]


def test_mercosur_and_grey_readings_of_one_plate() -> None:
    # a 5th character that reads as a digit fits the grey layout exactly; Mercosur only by a
    # repair, so the exact fit comes first
    found = normalise("RIO2418", ["BR"])
    assert found[0].text == "RIO2418"
    assert "RIO2A18" in [c.text for c in found]


def test_br_behind_eu_generic() -> None:
    # with the generic European rule listed too, the BR layouts still win a Mercosur read
    cand = best("BRA2E19", ["BR", "EU"])
    assert cand is not None and cand.format == "BR"
