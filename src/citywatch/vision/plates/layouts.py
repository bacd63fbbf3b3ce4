"""Plate layouts (one plate shape spelled one symbol per character) and formats (named sets of
layouts or a generic rule), as data.  :mod:`citywatch.vision.plates.formats` describes the
notation, holds the known formats and fits reads to them; it re-exports these names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

_LAYOUT_RE = re.compile(r"^[LDA*\-]+$")
_REPEAT_RE = re.compile(r"([LDA])\{(\d),(\d)\}")

#: Weight of dropping a character the recogniser was sure of when nothing on the plate explains
#: it (:attr:`PlateFormat.trim`): the figure measured for US reads (crops_us), which carry no
#: band, used for every format's unexplained drops.
SURE_DROP = 0.3


@dataclass(frozen=True, slots=True)
class Layout:
    """One plate shape: ``classes`` per character, and where the boundaries and emblems are."""

    spec: str
    classes: str  # "L", "D" or "A" per character
    boundaries: frozenset[int]  # index i: a boundary before character i
    emblems: frozenset[int]  # index i: an emblem slot before character i
    weight: float = 1.0  # how common this layout is within its format (the most common: 1)

    @classmethod
    def parse(cls, spec: str, weight: float = 1.0) -> Layout:
        if not _LAYOUT_RE.match(spec):
            raise ValueError(f"plate layout {spec!r}: only L, D, A, '-' and '*' are allowed")
        classes: list[str] = []
        boundaries: set[int] = set()
        emblems: set[int] = set()
        for ch in spec:
            if ch in "LDA":
                classes.append(ch)
            else:
                if not classes:
                    raise ValueError(f"plate layout {spec!r}: starts with a boundary")
                boundaries.add(len(classes))
                if ch == "*":
                    emblems.add(len(classes))
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"plate layout {spec!r}: weight must be in (0, 1], got {weight}")
        return cls(spec, "".join(classes), frozenset(boundaries), frozenset(emblems), weight)

    def __len__(self) -> int:
        return len(self.classes)


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """A named plate format: either explicit layouts, or a generic length/mix rule."""

    name: str
    description: str
    layouts: tuple[Layout, ...] = ()
    prior: float = 1.0  # how far a fit to this format is trusted, relative to others
    letters: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # letters this format uses
    min_len: int = 0  # the generic rule: lengths and mixes that are plates
    max_len: int = 0
    need_letter: bool = False
    need_digit: bool = False
    fallback: float = 0.0  # with layouts: weight of the generic rule (0 = layouts only)
    # a character dropped to fit a layout that the plate's design does not explain (see
    # bands, crest) weighs trim + (1 - trim) x (1 - the recogniser's probability of it): a
    # sure one costs trim, one it did not see nothing (formats.drop_weight)
    trim: float = SURE_DROP
    # the country codes printed on the plate's band (the blue EU band): read as leading
    # characters, dropping them is explained
    bands: tuple[str, ...] = ()
    # whether a character dropped at an emblem slot is explained: the plates carry a crest or
    # seals there (RS, HR, DE); US emblem slots hold stars and stickers of some states only
    crest: bool = True
    # per letter the region issues less often than the others (most US states leave I, O and
    # Q out of their serials): the weight of each such letter in a plate fitted to a layout
    # (the generic rule does not use it); 1 for a letter not listed
    letter_weights: tuple[tuple[str, float], ...] = ()
    # words printed on the region's plates that are not plate numbers (US state names): a
    # read that is one of them, glyph twins folded (HAWA11), is no candidate
    not_plates: frozenset[str] = frozenset()

    @property
    def generic(self) -> bool:
        return not self.layouts


def expand(spec: str, *, max_len: int = 10) -> tuple[str, ...]:
    """Expand ``X{a,b}`` repeats into plain layouts: ``L{1,2}D`` -> ``LD``, ``LLD``."""
    parts = _REPEAT_RE.split(spec)
    # parts: literal, sym, lo, hi, literal, sym, lo, hi, ..., literal
    literals = parts[0::4]
    reps = [(parts[i], int(parts[i + 1]), int(parts[i + 2])) for i in range(1, len(parts), 4)]
    out = []
    for counts in product(*[range(lo, hi + 1) for _, lo, hi in reps]):
        s = literals[0]
        for (sym, _, _), n, lit in zip(reps, counts, literals[1:], strict=True):
            s += sym * n + lit
        if sum(ch in "LDA" for ch in s) <= max_len:
            out.append(s)
    return tuple(out)
