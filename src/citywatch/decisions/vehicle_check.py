"""Does the vehicle seen with a plate hit look like the one the hotlist entry describes?

A plate on a vehicle of the wrong kind is a cloned plate or a misread: worth an operator's
attention.  :func:`check_vehicle` (pure) compares the entry's expected kind and colour with the
voted ones of the read and words it for a person: ``"hotlist says white car; seen: red car"``.

Only a *kind* that differs, or a colour far from the expected one, is a mismatch.  Named
colours are right on about two labelled dev cars in three (``docs/vehicles.md``): white and
grey are confused both ways, grey is called blue, dark blue, green and brown black; so
neighbours on that confusion (:data:`NEAR_COLOURS`) are not flagged, and a colour is never a
reason to drop an alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from citywatch.vision.vehicles.base import KINDS
from citywatch.vision.vehicles.colour import COLOURS

#: Words an operator may type for a kind, to the kind the detector reports.
KIND_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        **{k: k for k in KINDS},
        "van": "truck",
        "lorry": "truck",
        "pickup": "truck",
        "motorbike": "motorcycle",
        "coach": "bus",
    }
)
#: Words an operator may type for a colour, to the named colour.
COLOUR_ALIASES: Mapping[str, str] = MappingProxyType(
    {**{c: c for c in COLOURS}, "gray": "grey", "silver": "grey", "beige": "brown"}
)
#: Colour pairs the namer confuses often on the dev cars: not flagged as a mismatch.
NEAR_COLOURS: frozenset[frozenset[str]] = frozenset(
    frozenset(p)
    for p in (
        ("white", "grey"),
        ("grey", "black"),
        ("grey", "blue"),
        ("black", "blue"),
        ("black", "green"),
        ("black", "brown"),
        ("grey", "brown"),
        ("red", "orange"),
        ("orange", "yellow"),
        ("orange", "brown"),
    )
)


def canonical_kind(word: str | None) -> str | None:
    """The kind ``word`` names (``"Van"`` -> ``"truck"``), ``""`` for none given, None when
    it names no kind."""
    key = (word or "").strip().lower()
    return "" if not key else KIND_ALIASES.get(key)


def canonical_colour(word: str | None) -> str | None:
    """The colour ``word`` names (``"silver"`` -> ``"grey"``), ``""`` for none, None when
    it names no colour."""
    key = (word or "").strip().lower()
    return "" if not key else COLOUR_ALIASES.get(key)


def vehicle_words(kind: str | None, colour: str | None) -> str:
    """``"white car"``, ``"car"``, ``"white vehicle"`` or ``""``."""
    if not kind and not colour:
        return ""
    return f"{colour} {kind or 'vehicle'}" if colour else str(kind)


@dataclass(frozen=True, slots=True)
class VehicleCheck:
    expected: str  # the hotlist entry's vehicle in words ("" when it records none)
    seen: str  # the read's vehicle in words ("" when no vehicle held the plate)
    mismatch: bool  # the kind differs, or the colour is far from the expected one
    note: str  # for the operator; "" when the entry records no vehicle


def check_vehicle(
    expected_kind: str | None,
    expected_colour: str | None,
    seen_kind: str | None,
    seen_colour: str | None,
) -> VehicleCheck:
    """Compare the hotlist's vehicle with the one seen (all four may be empty or None)."""
    expected = vehicle_words(expected_kind, expected_colour)
    seen = vehicle_words(seen_kind, seen_colour)
    if not expected:
        return VehicleCheck("", seen, False, "")
    kind_differs = bool(expected_kind and seen_kind and expected_kind != seen_kind)
    colour_differs = bool(
        expected_colour
        and seen_colour
        and expected_colour != seen_colour
        and frozenset((expected_colour, seen_colour)) not in NEAR_COLOURS
    )
    mismatch = kind_differs or colour_differs
    what = [w for w, d in (("type", kind_differs), ("colour", colour_differs)) if d]
    note = f"hotlist says {expected}; seen: {seen or 'no vehicle described'}"
    if mismatch:
        note += f" ({' and '.join(what)} differ{'s' if len(what) == 1 else ''}: check the car)"
    return VehicleCheck(expected, seen, mismatch, note)
