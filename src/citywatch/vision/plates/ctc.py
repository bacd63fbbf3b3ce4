"""Format-constrained decoding of a CTC text recogniser's per-step probabilities.

A CTC recogniser (PP-OCR's among them) emits, for each horizontal step of the text line, a
probability for every symbol and for *blank* (nothing here).  The usual greedy decoding keeps
the most likely symbol of each step and forgets the rest; here the rest is kept:

1. :func:`slots` walks the best path and turns each run of one symbol into a *slot*: the
   probabilities of all 36 plate symbols there.  Steps where blank won but a character was
   nearly seen become *weak* slots, with the probability that a character stands there (a thin
   ``1`` or a dimly printed letter that greedy decoding drops).
2. :func:`decode` reads the slots against the plate formats: each layout position that
   demands a digit takes the most likely digit of its slot, weighted by how likely the
   recogniser found it relative to what it read (``G`` -> ``6`` only when ``6`` was seen
   there too), and each weak slot is kept or dropped by its own probability.

Everything here is pure numpy on our own types; the recogniser back end converts its output
to :class:`CharProbs` at its edge.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citywatch.vision.plates.formats import Candidate, PlateFormat, normalise
from citywatch.vision.record import FloatArray

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
WEAK_MIN = 0.05  # a blank step whose best character has at least this is a weak slot
MAX_WEAK = 3  # weak slots tried both ways (2**MAX_WEAK readings at most)
MIN_READING = 0.02  # a reading (choice of weak slots) less likely than this is not tried
KEEP_ALTERNATIVE = 0.02  # symbols at least this likely relative to the best are kept


@dataclass(frozen=True, slots=True)
class CharProbs:
    """A recogniser's output for one text line, per step ``t``: probabilities of the plate
    symbols (``chars[t, k]`` for ``ALPHABET[k]``, upper and lower case summed), of blank, of
    separators (space, dash, dot) and of anything else (other scripts, punctuation)."""

    chars: FloatArray  # (T, 36)
    blank: FloatArray  # (T,)
    gap: FloatArray  # (T,)
    other: FloatArray  # (T,)

    def __post_init__(self) -> None:
        t = self.chars.shape[0] if self.chars.ndim == 2 else -1
        if self.chars.ndim != 2 or self.chars.shape[1] != len(ALPHABET):
            raise ValueError(f"CharProbs.chars: expected shape (T, 36), got {self.chars.shape}")
        for name in ("blank", "gap", "other"):
            arr = getattr(self, name)
            if arr.shape != (t,):
                raise ValueError(f"CharProbs.{name}: expected shape ({t},), got {arr.shape}")

    def __len__(self) -> int:
        return int(self.chars.shape[0])

    def classes(self) -> FloatArray:
        """(T, 39): blank, gap, other, then the 36 symbols."""
        return np.concatenate(
            [self.blank[:, None], self.gap[:, None], self.other[:, None], self.chars], axis=1
        )


_BLANK, _GAP, _OTHER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Slot:
    """One character position of the read: ``probs`` over :data:`ALPHABET` (sums to 1),
    ``exist`` the probability a character stands here (1.0 on the best path), ``top`` the
    best path's own probability of its symbol, ``gap_before`` a separator before it."""

    probs: FloatArray
    exist: float
    top: float
    gap_before: bool

    @property
    def char(self) -> str:
        return ALPHABET[int(np.argmax(self.probs))]

    def alternatives(self) -> dict[str, float]:
        """Symbols with their probability relative to the best (which has 1.0)."""
        best = float(self.probs.max())
        rel = self.probs / max(best, 1e-12)
        return {ALPHABET[k]: float(rel[k]) for k in np.flatnonzero(rel >= KEEP_ALTERNATIVE)}


def _slot(chars: FloatArray, exist: float, top: float, gap: bool) -> Slot:
    probs = chars.max(axis=0)
    total = float(probs.sum())
    probs = probs / total if total > 0 else np.full(len(ALPHABET), 1.0 / len(ALPHABET))
    return Slot(probs.astype(np.float32), exist, top, gap)


def slots(cp: CharProbs, *, weak: float = WEAK_MIN) -> list[Slot]:
    """The slots of one line (see the module doc).  A run of *other* counts as a separator
    (a crest or a sticker read as some glyph)."""
    cls = cp.classes()
    best = cls.argmax(axis=1)
    out: list[Slot] = []
    gap = False
    t, n = 0, len(best)
    while t < n:
        k = int(best[t])
        end = t
        while end + 1 < n and best[end + 1] == k:
            end += 1
        if k in (_GAP, _OTHER):
            gap = bool(out)
        elif k == _BLANK:
            # a weak character: blank won, but some symbol came close, and it is not the
            # fading edge of the neighbouring run of the same symbol
            mass = cp.chars[t : end + 1].max(axis=1)
            if mass.max() >= weak:
                s = t + int(mass.argmax())
                sym = int(cp.chars[s].argmax())
                left = int(best[t - 1]) - 3 if t > 0 else -1
                right = int(best[end + 1]) - 3 if end + 1 < n else -1
                if sym not in (left, right):
                    exist = float(mass.max() / (mass.max() + cp.blank[s]))
                    out.append(_slot(cp.chars[s : s + 1], exist, float(mass.max()), gap))
                    gap = False
        else:
            top = float(cp.chars[t : end + 1, k - 3].max())
            out.append(_slot(cp.chars[t : end + 1], 1.0, top, gap))
            gap = False
        t = end + 1
    return out


def greedy(slots_: Sequence[Slot]) -> tuple[str, float]:
    """The best path as text (a space where the line had a separator) and its confidence (the
    mean probability of its symbols), as a plain recogniser would report it."""
    strong = [s for s in slots_ if s.exist >= 1.0]
    text = "".join((" " if s.gap_before else "") + s.char for s in strong)
    conf = float(np.mean([s.top for s in strong])) if strong else 0.0
    return text, conf


@dataclass(frozen=True, slots=True)
class Reading:
    """The slots with a choice of weak ones: text (spaces at gaps), per-character
    alternatives, and the probability of the choice."""

    raw: str
    alternatives: tuple[dict[str, float], ...]
    sure: tuple[float, ...]  # per character: the probability it is what was read
    weight: float


def readings(slots_: Sequence[Slot], *, max_weak: int = MAX_WEAK) -> list[Reading]:
    """Each way to keep or drop the (at most ``max_weak`` most likely) weak slots, with its
    probability; less likely weak slots are dropped.  Most likely first."""
    weak = [i for i, s in enumerate(slots_) if s.exist < 1.0]
    weak = sorted(weak, key=lambda i: -slots_[i].exist)[:max_weak]
    out = []
    for keep in itertools.product((True, False), repeat=len(weak)):
        chosen = {i for i, k in zip(weak, keep, strict=True) if k}
        weight = 1.0
        for i, k in zip(weak, keep, strict=True):
            weight *= slots_[i].exist if k else 1.0 - slots_[i].exist
        if weight < MIN_READING:
            continue
        raw: list[str] = []
        alts = []
        sure = []
        gap = False
        for i, s in enumerate(slots_):
            gap = gap or s.gap_before
            if s.exist < 1.0 and i not in chosen:
                continue
            raw.append((" " if gap and raw else "") + s.char)
            alts.append(s.alternatives())
            sure.append(s.top * s.exist)
            gap = False
        if raw:
            out.append(Reading("".join(raw), tuple(alts), tuple(sure), weight))
    return sorted(out, key=lambda r: -r.weight)


def decode(
    slots_: Sequence[Slot], formats: Sequence[PlateFormat], *, max_weak: int = MAX_WEAK
) -> list[Candidate]:
    """Plate candidates of one line, best first: every reading of the slots fitted to the
    formats with probability-weighted repairs; a candidate's score is the line's confidence
    times the reading's probability times the format fit."""
    _, conf = greedy(slots_)
    if not slots_:
        return []
    conf = conf or float(np.mean([s.top for s in slots_]))
    found: dict[str, Candidate] = {}
    for r in readings(slots_, max_weak=max_weak):
        for c in normalise(r.raw, formats, conf * r.weight, r.alternatives, r.sure):
            if c.text not in found or c.score > found[c.text].score:
                found[c.text] = c
    return sorted(found.values(), key=lambda c: (-c.score, c.text))
