"""Plate formats as data, and the pure function that turns a raw OCR string into plate candidates.

A format is a list of *layouts*.  A layout spells one plate shape, one symbol per character:

* ``L`` a letter, ``D`` a digit, ``A`` either;
* ``-`` a group boundary (a dash or a gap on the plate: it is not a character);
* ``*`` an *emblem slot*: a boundary where the plate carries a crest, a seal or a sticker that OCR
  often reads as one extra character (``RK 755AJ`` with the crest read as ``RK8755AJ``).

:func:`normalise` cleans the raw read (upper case, ASCII, separators and noise dropped), fits it to
each layout of the requested formats, and repairs what a layout makes certain: a ``0`` where a
letter must stand becomes ``O``, an ``S`` where a digit must stand becomes ``5`` (the confusion
tables below).  It may also drop up to two surplus characters: at the start (the blue EU band's
country code), at the end, or at an emblem slot.  Each repair lowers the candidate's score.
A dropped character the plate does not explain (anything but the format's own band code at the
start, or its crest at an emblem slot) also costs by how sure the recogniser was of it
(:attr:`PlateFormat.trim`): a national layout may shed a doubtful border or band artefact, but
a read whose characters are all sure keeps them, and so a foreign plate (``SB90TZI``, a
Romanian one, against the NL sidecode ``L-DD-LLL``) goes to the generic format whole instead
of losing its first or last character to fit another country's layout.
Generic formats (``EU``) fix nothing: they only say which lengths and mixes are plates.  A
format may have both: layouts, and a generic rule that is used at a lower weight (``fallback``)
when no layout fits (``US``: the states' serial formats, then any 4-7 letters and digits).
A format may also weigh the letters its region issues rarely (``US``: I, O and Q, which most
states leave out of their serials) and name words printed on its plates that are no plate
(``US``: the states' names); both were counted on the development set crops_us.

With ``alternatives`` (what else the recogniser saw at each character, with its probability
relative to the character read) a repair is scored by that probability instead of a fixed
penalty: a ``G`` where a digit must stand becomes ``6`` only as far as the recogniser itself
found ``6`` likely there (see :mod:`citywatch.vision.plates.ctc`).  Glyph twins (``O``/``0``,
``I``/``1``) are the exception: plate fonts draw them alike, so the recogniser's certainty says
nothing and a repair between them weighs :data:`TWIN_PRIOR`.  ``Layout`` and ``PlateFormat``
live in :mod:`citywatch.vision.plates.layouts`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from citywatch.vision.plates.layouts import Layout, PlateFormat, expand

# Where a layout demands a digit and OCR gave a letter (or the other way round), these letters
# stand for these digits.  Order in a value is preference (the first letter the format allows).
DIGIT_FOR_LETTER = MappingProxyType(
    {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "J": "1", "Z": "2",
     "S": "5", "G": "6", "B": "8", "T": "7", "A": "4"}
)  # fmt: skip
LETTER_FOR_DIGIT = MappingProxyType(
    {"0": "ODQ", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "4": "A", "7": "T"}
)

# Characters OCR emits for plate characters that are not plain ASCII (diacritics are handled by
# Unicode decomposition; these have none).  Cyrillic look-alikes come from typed hotlists.
_FOLD = MappingProxyType(str.maketrans(
    {"Đ": "D", "đ": "d", "Ø": "0", "ø": "o", "ß": "B", "|": "I",
     "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
     "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I"}
))  # fmt: skip
# A digit as the letter it passes for (its first in LETTER_FOR_DIGIT): words read with twins
_AS_LETTERS = str.maketrans({d: letters[0] for d, letters in LETTER_FOR_DIGIT.items()})
_SEPARATORS = frozenset(" -_.,:;·•/\\'`\"")

FIX_PENALTY = 0.9  # per character repaired by the confusion tables
HEAD_PENALTY = 0.88  # per surplus character dropped at the start (often the EU band's code)
TAIL_PENALTY = 0.8  # per surplus character dropped at the end
EMBLEM_PENALTY = 0.9  # a character dropped at an emblem slot ...
EMBLEM_BESIDE_GAP = 0.8  # ... times this when the read also had a gap there
EMBLEM_LETTER = 0.95  # ... times this when it was read as a letter (crests read as 8, 0, :)
GAP_MISMATCH = 0.8  # per gap in the raw read where the layout has no boundary
MISSING_EVIDENCE = 0.97  # per boundary (of the first two) the read does not show as a gap
SHORT_PENALTY = 0.8  # per character a candidate is shorter than SHORT_LEN (short text is noise)
SHORT_LEN = 5
LOWERCASE_PENALTY = 0.85  # per lower-case letter in the raw read (plates are upper case)
RANK_PENALTY = 0.98  # per place a format stands later in the caller's list
MAX_TRIM = 2
MAX_REPAIRS = 2  # fixes plus dropped characters: beyond this a fit is a guess
TABLE_PRIOR = 0.2  # with alternatives: least weight of a repair the confusion tables list
MIN_ALTERNATIVE = 0.02  # with alternatives: a repair less likely than this is no repair
# Glyph twins: plate fonts draw these alike (a recogniser picks one with confidence and
# gives the other no probability), so a repair between them weighs TWIN_PRIOR at least
TWINS = frozenset({("O", "0"), ("0", "O"), ("I", "1"), ("1", "I")})
TWIN_PRIOR = FIX_PENALTY

#: Per character of a cleaned read: other symbols the recogniser saw there, each with its
#: probability relative to the character read (which itself counts 1.0).
Alternatives = Sequence[Mapping[str, float]]


def _layouts(*specs: str) -> tuple[Layout, ...]:
    return tuple(Layout.parse(s) for s in specs)


_NL_SIDECODES = (
    "LL-DD-DD", "DD-DD-LL", "DD-LL-DD", "LL-DD-LL", "LL-LL-DD", "DD-LL-LL", "DD-LLL-D",
    "D-LLL-DD", "LL-DDD-L", "L-DDD-LL", "LLL-DD-L", "L-DD-LLL", "D-LL-DDD", "DDD-LL-D",
)  # fmt: skip

# Standard-issue passenger serials of the US states and DC (public state formats), with an
# emblem slot where letters and digits change (the Texas star, Missouri's sticker, Alaska's
# flag stand there and read as a character), each with how many of the 751 plates of 51
# states in the development set crops_us have that shape.  A layout weighs
# (count / most common) ** 1/3, at least US_RARE: a rare shape still wins on a clear read,
# but not on a doubtful repair.
_US_SERIALS = (
    ("DDD*LLL", 137), ("LLL*DDD", 107), ("LLL*DDDD", 67), ("LL*DDDD", 27), ("DDDD*LL", 23),
    ("LL*DDD", 20), ("LLL*DD*L", 19), ("D*LLL*DDD", 19), ("L*DDDDDD", 15), ("D*LL*DDD", 13),
    ("LL*D*L*DDD", 9), ("L*DDD*LL", 8), ("DD*LL*DD", 8), ("D*L*DDDD*L", 5), ("DDD*LL*D", 5),
    ("D*L*DDDD", 5), ("DDDDD*L", 5), ("LL*D*L*D*L", 4), ("D*LLL*DD", 4), ("D*LL*DDDD", 3),
    ("DD*L*DDD*L", 2), ("L*DD*LLL", 2), ("LLLL*DD", 1), ("DD*L*DDD", 1), ("LL*DDDDD", 1),
    ("DDDDDD", 26), ("DDDDDDD", 18),
)  # fmt: skip
# How often each letter stands in the letter slots of the 552 plates of crops_us that fit a
# serial above (1,394 letters).  Most states leave I, O and Q out of their serials (they pass
# for 1 and 0), so a read that needs one of them to fit a common layout is less likely than
# the same read with a digit in a rarer layout: without this, the recogniser's I/1 twins went
# to the more common layout (DZ1555 read DZI555).  A letter issued less often than 1/26 of the
# time weighs (share x 26) ** 1/3, tempered as the layouts are; the others weigh 1.
_US_LETTERS = (
    ("A", 141), ("B", 104), ("C", 77), ("D", 48), ("E", 48), ("F", 64), ("G", 56), ("H", 62),
    ("I", 18), ("J", 58), ("K", 60), ("L", 53), ("M", 64), ("N", 62), ("O", 16), ("P", 58),
    ("Q", 23), ("R", 38), ("S", 38), ("T", 48), ("U", 33), ("V", 34), ("W", 54), ("X", 55),
    ("Y", 37), ("Z", 45),
)  # fmt: skip
# State names short enough to pass for a US plate (7 characters at most): the biggest text on
# many vanity and specialty plates besides the number (NEVADA, HAWAII read HAWA11)
_US_NAMES = frozenset(
    {"ALABAMA", "ALASKA", "ARIZONA", "FLORIDA", "GEORGIA", "HAWAII", "IDAHO", "INDIANA", "IOWA",
     "KANSAS", "MAINE", "MONTANA", "NEVADA", "NEWYORK", "OHIO", "OREGON", "TEXAS", "UTAH",
     "VERMONT", "WYOMING"}
)  # fmt: skip
US_RARE = 0.6
US_FALLBACK = 0.3  # weight of a US read that fits no serial (vanity plates, old series)


def letter_weights(counts: Sequence[tuple[str, int]]) -> tuple[tuple[str, float], ...]:
    """Per letter issued less often than uniform (1/26 of the letters counted): its share
    times 26, to the power 1/3.  Letters at or above uniform are not listed (they weigh 1)."""
    total = sum(n for _, n in counts)
    if total <= 0:
        return ()
    shares = {c: 26 * n / total for c, n in counts}
    return tuple((c, max(1e-3, r) ** (1 / 3)) for c, r in sorted(shares.items()) if r < 1.0)


def _weighted(counts: Sequence[tuple[str, int]], floor: float) -> tuple[Layout, ...]:
    top = max(n for _, n in counts)
    return tuple(Layout.parse(spec, max(floor, (n / top) ** (1 / 3))) for spec, n in counts)


FORMATS: MappingProxyType[str, PlateFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            PlateFormat(
                "RS",
                "Serbia: city code, crest, 3-5 digits, 2 letters (BG 123-AB)",
                _layouts("LL*DDD-LL", "LL*DDDD-LL", "LL*DDDDD-LL"),
                bands=("SRB",),
            ),
            PlateFormat(
                "HR",
                "Croatia: city code, crest, 3-4 digits, 1-2 letters (ZG 1234-AB)",
                _layouts("LL*DDD-L", "LL*DDD-LL", "LL*DDDD-L", "LL*DDDD-LL"),
                bands=("HR",),
            ),
            PlateFormat(
                "NL",
                "Netherlands: the 14 sidecodes (56-JTT-5, XS-NB-23)",
                _layouts(*_NL_SIDECODES),
                bands=("NL",),
            ),
            PlateFormat(
                "DE",
                "Germany: district, seals, 1-2 letters, 1-4 digits (B AB 1234), 8 at most",
                _layouts(*expand("L{1,3}*L{1,2}-D{1,4}", max_len=8)),
                prior=0.9,  # so many layouts that repairs fit almost anything
                bands=("D",),
            ),
            PlateFormat(
                "SK",
                "Slovakia: district, crest, 3 digits, 2 letters (BA 123AB); older LL DDD-DD",
                _layouts("LL*DDDLL", "LL*DDD-DD", "LLL*DD-DD"),
                bands=("SK",),
            ),
            PlateFormat(
                "CZ",
                "Czechia: region digit+letter, 1 more, 4 digits (1AB 2345)",
                _layouts("DLA*DDDD"),
                bands=("CZ",),
            ),
            PlateFormat(
                "BR",
                "Brazil: Mercosur LLLNLNN (BRA2E19), and the older grey LLL-NNNN (ABC-1234)",
                _layouts("LLLDLDD", "LLL-DDDD"),
            ),
            PlateFormat(
                "EU",
                "Generic European: 4-8 letters and digits, at least one of each",
                prior=0.8,
                min_len=4,
                max_len=8,
                need_letter=True,
                need_digit=True,
            ),
            PlateFormat(
                "US",
                "United States: the states' standard serials (CA 1ABC234, NY ABC-1234, "
                "MO AB1-C2D ...), else any 4-7 letters and digits",
                _weighted(_US_SERIALS, US_RARE),
                min_len=4,
                max_len=7,
                fallback=US_FALLBACK,
                crest=False,
                letter_weights=letter_weights(_US_LETTERS),
                not_plates=_US_NAMES,
            ),
        )
    }
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One way to read a raw OCR string as a plate.  ``score`` (0..1) is the OCR confidence times
    how well the read fits the format; ``fixes`` counts repaired characters, ``trimmed`` the
    surplus characters dropped."""

    text: str
    format: str
    score: float
    fixes: int = 0
    trimmed: int = 0


def clean(raw: str) -> tuple[str, frozenset[int]]:
    """Upper-case ASCII letters and digits of ``raw``, and the indices (into the cleaned string)
    where the raw read had a gap or a separator."""
    folded = unicodedata.normalize("NFKD", raw.translate(_FOLD))
    out: list[str] = []
    gaps: set[int] = set()
    for ch in folded:
        up = ch.upper()
        if up.isascii() and up.isalnum():
            out.append(up)
        elif ch in _SEPARATORS and out:
            gaps.add(len(out))
    text = "".join(out)
    return text, frozenset(g for g in gaps if 0 < g < len(text))


def plate_key(raw: str) -> str:
    """The comparable form of a plate typed by a person: what :func:`clean` keeps."""
    return clean(raw)[0]


def resolve(names: Iterable[str]) -> tuple[PlateFormat, ...]:
    """Formats by name, in the given order; an unknown name is an error that lists the known."""
    out = []
    for name in names:
        fmt = FORMATS.get(name)
        if fmt is None:
            raise ValueError(f"unknown plate format {name!r}; known: {', '.join(FORMATS)}")
        out.append(fmt)
    return tuple(out)


def _repair(
    ch: str, cls: str, letters: str, alts: Mapping[str, float] | None
) -> tuple[str, float] | None:
    """The symbol of class ``cls`` (``L``/``D``) to stand for ``ch``, and its weight: the
    confusion tables' choice at :data:`FIX_PENALTY` without alternatives; with them, the most
    likely symbol of the class the recogniser saw there, at its relative probability (a pair
    the tables list weighs at least :data:`TABLE_PRIOR`: OCR confuses those even when sure;
    :data:`TWINS` at least :data:`TWIN_PRIOR`)."""
    if cls == "L":
        table = [c for c in LETTER_FOR_DIGIT.get(ch, "") if c in letters]
    else:
        digit = DIGIT_FOR_LETTER.get(ch)
        table = [digit] if digit is not None else []
    if alts is None:
        return (table[0], FIX_PENALTY) if table else None
    best_c, best_w = "", 0.0
    for c, w in alts.items():
        fits = (c.isalpha() and c in letters) if cls == "L" else c.isdigit()
        if fits and w > best_w:
            best_c, best_w = c, w
    if table:
        c = max(table, key=lambda c: alts.get(c, 0.0))
        prior = TWIN_PRIOR if (ch, c) in TWINS else TABLE_PRIOR
        if best_w < prior:
            best_c, best_w = c, prior
    if not best_c or best_w < MIN_ALTERNATIVE:
        return None
    return best_c, min(1.0, best_w)


def _fit(
    text: str, layout: Layout, letters: str, alts: Alternatives | None = None
) -> tuple[str, int, float] | None:
    """Repair ``text`` (same length as ``layout``) to the layout: (plate, repairs, weight of
    the repairs); None when it cannot fit."""
    out = []
    fixes = 0
    weight = 1.0
    for i, (ch, cls) in enumerate(zip(text, layout.classes, strict=True)):
        if cls == "A" or (cls == "L" and ch.isalpha()) or (cls == "D" and ch.isdigit()):
            out.append(ch)
            continue
        fixed = _repair(ch, cls, letters, alts[i] if alts is not None else None)
        if fixed is None:
            return None
        out.append(fixed[0])
        weight *= fixed[1]
        fixes += 1
    return "".join(out), fixes, weight


def _trims(m: int, layout: Layout) -> Iterable[tuple[int, int, int | None]]:
    """(drop at start, drop at end, emblem index or None) that leave len(layout) characters."""
    extra = m - len(layout)
    if extra < 0 or extra > MAX_TRIM:
        return
    for head in range(extra + 1):
        for tail in range(extra - head + 1):
            rest = extra - head - tail
            if rest == 0:
                yield head, tail, None
            elif rest == 1:
                for e in sorted(layout.emblems):
                    yield head, tail, e


def _layout_score(
    layout: Layout, text: str, head: int, tail: int, emblem: int | None, gaps: frozenset[int]
) -> float:
    """How well ``text`` trimmed so agrees with ``layout``, apart from character repairs."""
    n = len(layout)
    score = HEAD_PENALTY**head * TAIL_PENALTY**tail
    shifted = {g - head for g in gaps}
    evidence = set()
    if emblem is not None:
        score *= EMBLEM_PENALTY
        if text[head + emblem].isalpha():
            score *= EMBLEM_LETTER
        if emblem in shifted or emblem + 1 in shifted:
            score *= EMBLEM_BESIDE_GAP
        # the dropped character stood between indices emblem and emblem+1 of the body
        shifted = {g if g <= emblem else g - 1 for g in shifted}
        evidence.add(emblem)
    inner = {g for g in shifted if 0 < g < n}
    evidence |= inner & layout.boundaries
    missing = max(0, 2 - len(evidence))
    return score * GAP_MISMATCH ** len(inner - layout.boundaries) * MISSING_EVIDENCE**missing


def drop_weight(trim: float, sure: float) -> float:
    """Weight of dropping a character the plate does not explain, read with probability
    ``sure``: the probability that it is not part of the plate, ``(1 - sure) + sure * trim``
    (no character at all, or a mark read surely that is a border, a bolt or a sticker, which
    ``trim`` weighs).  1 for a character the recogniser did not see, ``trim`` for a sure one."""
    return trim + (1.0 - trim) * (1.0 - sure)


def spells_band(dropped: str, bands: Iterable[str]) -> bool:
    """Whether ``dropped`` (characters dropped at the start of a read) is one of ``bands`` as
    OCR reads it: each letter itself or the digit it passes for (``D`` read ``0``)."""
    return any(
        len(dropped) == len(band)
        and all(c == b or DIGIT_FOR_LETTER.get(b) == c for c, b in zip(dropped, band, strict=True))
        for band in bands
    )


def _unexplained_drops(
    text: str, head: int, tail: int, emblem: int | None, fmt: PlateFormat
) -> list[int]:
    """Indices into ``text`` of the characters a fit drops that the plate does not explain:
    at the start unless they spell the format's band code, at the end always, at an emblem
    slot unless the format's plates carry a crest there."""
    out = [] if head == 0 or spells_band(text[:head], fmt.bands) else list(range(head))
    out += range(len(text) - tail, len(text))
    if emblem is not None and not fmt.crest:
        out.append(head + emblem)
    return out


def _fit_layouts(
    text: str,
    gaps: frozenset[int],
    fmt: PlateFormat,
    alts: Alternatives | None = None,
    sure: Sequence[float] | None = None,
) -> list[Candidate]:
    out = []
    letter_weights = dict(fmt.letter_weights)
    for index, layout in enumerate(fmt.layouts):
        for head, tail, emblem in _trims(len(text), layout):
            keep = list(range(head, len(text) - tail))
            if emblem is not None:
                del keep[emblem]
            body = "".join(text[k] for k in keep)
            fitted = _fit(body, layout, fmt.letters, [alts[k] for k in keep] if alts else None)
            if fitted is None:
                continue
            plate, fixes, weight = fitted
            for ch in plate:
                weight *= letter_weights.get(ch, 1.0)
            trimmed = head + tail + (emblem is not None)
            if fixes + trimmed > MAX_REPAIRS:
                continue
            # dropping a character the recogniser was sure of costs more unless the plate
            # explains it (its band's country code, its crest)
            for k in _unexplained_drops(text, head, tail, emblem, fmt):
                weight *= drop_weight(fmt.trim, sure[k] if sure is not None else 1.0)
            # a tiny rank term prefers the format's earlier (more common) layouts on a tie
            score = fmt.prior * layout.weight * weight * (1.0 - 1e-4 * index)
            score *= _layout_score(layout, text, head, tail, emblem, gaps)
            out.append(Candidate(plate, fmt.name, score, fixes, trimmed))
    return out


def _fit_generic(text: str, fmt: PlateFormat) -> list[Candidate]:
    if not fmt.min_len <= len(text) <= fmt.max_len:
        return []
    has_letter = any(c.isalpha() for c in text)
    has_digit = any(c.isdigit() for c in text)
    if (fmt.need_letter and not has_letter) or (fmt.need_digit and not has_digit):
        return []
    score = fmt.prior * (1.0 if has_letter and has_digit else 0.6)
    if not fmt.generic:
        score *= fmt.fallback
    return [Candidate(text, fmt.name, score)]


def _fit_format(
    text: str,
    gaps: frozenset[int],
    fmt: PlateFormat,
    alts: Alternatives | None,
    sure: Sequence[float] | None,
) -> list[Candidate]:
    if fmt.not_plates and text.translate(_AS_LETTERS) in fmt.not_plates:
        return []  # a word printed on the plate, not its number
    if fmt.generic:
        return _fit_generic(text, fmt)
    found = _fit_layouts(text, gaps, fmt, alts, sure)
    if fmt.fallback > 0:
        found += _fit_generic(text, fmt)
    return found


def normalise(
    raw: str,
    formats: Sequence[str | PlateFormat],
    confidence: float = 1.0,
    alternatives: Alternatives | None = None,
    sure: Sequence[float] | None = None,
) -> list[Candidate]:
    """Every plate reading of ``raw`` that fits one of ``formats``, best first.

    ``confidence`` (the OCR score, 0..1) scales every candidate's score.  ``formats`` is in order
    of preference: each later one weighs :data:`RANK_PENALTY` less.  The same text reached through
    several formats keeps its best score.  ``alternatives``, one mapping per character of
    :func:`clean`'s text, lets repairs follow the recogniser's probabilities; ``sure``, the
    recogniser's probability of each character, makes dropping a sure one cost more.
    """
    fmts = [resolve([f])[0] if isinstance(f, str) else f for f in formats]
    text, gaps = clean(raw)
    if not text:
        return []
    for name, per_char in (("alternatives", alternatives), ("sure", sure)):
        if per_char is not None and len(per_char) != len(text):
            raise ValueError(
                f"normalise: {len(per_char)} {name} for the {len(text)} characters of {text!r}"
            )
    lower = sum(ch.islower() and ch.isascii() for ch in raw)
    confidence *= LOWERCASE_PENALTY**lower
    by_text: dict[str, Candidate] = {}
    for rank, fmt in enumerate(fmts):
        found = _fit_format(text, gaps, fmt, alternatives, sure)
        # the caller's order is preference: each later format weighs a little less
        for c in found:
            short = SHORT_PENALTY ** max(0, SHORT_LEN - len(c.text))
            score = c.score * confidence * short * RANK_PENALTY**rank
            if c.text not in by_text or score > by_text[c.text].score:
                by_text[c.text] = replace(c, score=score)
    return sorted(by_text.values(), key=lambda c: (-c.score, c.text))


def best(
    raw: str, formats: Sequence[str | PlateFormat], confidence: float = 1.0
) -> Candidate | None:
    """The best candidate of :func:`normalise`, or None when no format fits."""
    found = normalise(raw, formats, confidence)
    return found[0] if found else None


def edit_distance(a: str, b: str) -> int:
    """Plain Levenshtein distance (unit costs)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
