"""The hotlist's vehicle against the one seen (issue 20): a table of cases."""

from __future__ import annotations

import pytest

from citywatch.decisions.vehicle_check import (
    canonical_colour,
    canonical_kind,
    check_vehicle,
    vehicle_words,
)


@pytest.mark.parametrize(
    ("expected", "seen", "mismatch", "note"),
    [
        (("car", "white"), ("car", "red"), True,
         "hotlist says white car; seen: red car (colour differs: check the car)"),
        (("car", "white"), ("bus", "red"), True,
         "hotlist says white car; seen: red bus (type and colour differ: check the car)"),
        (("car", "white"), ("truck", "white"), True,
         "hotlist says white car; seen: white truck (type differs: check the car)"),
        (("car", "white"), ("car", "white"), False, "hotlist says white car; seen: white car"),
        # neighbours the colour namer confuses are not flagged
        (("car", "white"), ("car", "grey"), False, "hotlist says white car; seen: grey car"),
        (("car", "black"), ("car", "blue"), False, "hotlist says black car; seen: blue car"),
        (("car", "red"), ("car", "orange"), False, "hotlist says red car; seen: orange car"),
        (("car", "white"), ("car", "black"), True,
         "hotlist says white car; seen: black car (colour differs: check the car)"),
        # only what both sides say is compared
        (("car", ""), ("car", "red"), False, "hotlist says car; seen: red car"),
        (("", "white"), ("bus", "white"), False, "hotlist says white vehicle; seen: white bus"),
        (("car", "white"), ("car", ""), False, "hotlist says white car; seen: car"),
        (("car", "white"), ("", ""), False, "hotlist says white car; seen: no vehicle described"),
        ((None, None), ("car", "red"), False, ""),
        (("", ""), ("", ""), False, ""),
    ],
)  # fmt: skip
def test_check_vehicle(
    expected: tuple[str | None, str | None],
    seen: tuple[str, str],
    mismatch: bool,
    note: str,
) -> None:
    got = check_vehicle(*expected, *seen)
    assert (got.mismatch, got.note) == (mismatch, note)
    assert got.seen == vehicle_words(*seen)


@pytest.mark.parametrize(
    ("word", "kind"),
    [("Car", "car"), (" van ", "truck"), ("lorry", "truck"), ("motorbike", "motorcycle"),
     ("", ""), (None, ""), ("tank", None), ("cars", None)],
)  # fmt: skip
def test_canonical_kind(word: str | None, kind: str | None) -> None:
    assert canonical_kind(word) == kind


@pytest.mark.parametrize(
    ("word", "colour"),
    [("Silver", "grey"), ("gray", "grey"), ("WHITE", "white"), ("", ""), ("teal", None)],
)
def test_canonical_colour(word: str, colour: str | None) -> None:
    assert canonical_colour(word) == colour
