"""What synthetic plates look like, per format, as data: layouts, colours, bands, fonts.

A :class:`PlateStyle` says how one kind of plate is drawn: the layouts its number follows
(the notation of :mod:`citywatch.vision.plates.layouts`: ``L`` letter, ``D`` digit, ``-`` a
gap, ``*`` an emblem between groups), the plate and ink colours, a band (the blue EU band on
the left, Mercosur's blue band on top), the small words printed beside the number (US state
names and slogans, the grey Brazilian plate's town), the fonts, and whether the number is
stacked on two lines.  :func:`plate_text` draws a number for a layout.  Nothing here draws;
:mod:`citywatch.training.plate_render` does.

The fonts are the three families in ``../shared/data/plates/fonts`` (their licences allow
use, modification and redistribution, commercial included): FE-Schrift (``fe``: German plates,
Mercosur), DINish (``din``: DIN 1451-like, most other European plates and the grey Brazilian
ones) and Barlow (``barlow``: close to US state lettering).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from citywatch.vision.plates.formats import FORMATS

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
RGB = tuple[int, int, int]

#: Font family -> file names inside the fonts folder (``<family-folder>/<file>``)
FONT_FILES: dict[str, tuple[str, ...]] = {
    "fe": (
        "gl-nummernschild/GL-Nummernschild-Mtl.ttf",
        "gl-nummernschild/GL-Nummernschild-Eng.ttf",
    ),
    "din": (
        "dinish/DINish-Bold.ttf",
        "dinish/DINish-Regular.ttf",
        "dinish/DINishCondensed-Bold.ttf",
        "dinish/DINishCondensed-Regular.ttf",
    ),
    "barlow": (
        "barlow/Barlow-SemiBold.ttf",
        "barlow/Barlow-Medium.ttf",
        "barlow/BarlowSemiCondensed-Medium.ttf",
        "barlow/BarlowCondensed-Medium.ttf",
        "barlow/Barlow-Regular.ttf",
    ),
}

US_STATES = (
    "CALIFORNIA", "TEXAS", "FLORIDA", "NEW YORK", "ILLINOIS", "OHIO", "GEORGIA", "ARIZONA",
    "MICHIGAN", "VIRGINIA", "WASHINGTON", "OREGON", "NEVADA", "COLORADO", "UTAH", "IOWA",
    "KANSAS", "MAINE", "ALASKA", "HAWAII", "IDAHO", "MONTANA", "INDIANA", "MISSOURI",
)  # fmt: skip
US_SLOGANS = (
    "SUNSHINE STATE", "THE LONE STAR STATE", "EMPIRE STATE", "LAND OF LINCOLN", "DMV.CA.GOV",
    "GRAND CANYON STATE", "PURE MICHIGAN", "EVERGREEN STATE", "BIRTHPLACE OF AVIATION",
    "THE SILVER STATE", "COLORFUL COLORADO", "LIFE ELEVATED", "FAMOUS POTATOES", "",
)  # fmt: skip
BR_TOWNS = (
    "SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA",
    "RS - PORTO ALEGRE", "BA - SALVADOR", "SC - JOINVILLE", "GO - GOIANIA",
)  # fmt: skip


@dataclass(frozen=True)
class PlateStyle:
    """How one kind of plate is drawn (see the module doc)."""

    name: str
    fmt: str  # the plate format its numbers fit (citywatch.vision.plates.formats)
    layouts: tuple[str, ...]
    backgrounds: tuple[RGB, ...] = ((245, 245, 240),)
    inks: tuple[RGB, ...] = ((20, 20, 20),)
    fonts: tuple[str, ...] = ("din",)
    band: str = ""  # "eu": blue band on the left; "mercosur": blue band on top; "" none
    band_codes: tuple[str, ...] = ()
    emblem: str = ""  # what stands at a '*' slot: "crest", "seals", "sticker", "" (a gap)
    top_words: tuple[str, ...] = ()  # small words above the number (US states, BR towns)
    bottom_words: tuple[str, ...] = ()
    two_line: bool = False  # the number stacked: the first group(s) above, the rest below
    weight: float = 1.0  # how often it is drawn, relative to the other styles
    gap_dash: float = 0.3  # how often a '-' boundary is drawn as a dash (else a space)
    letters: str = LETTERS  # the letters its numbers use
    extra: dict[str, float] = field(default_factory=dict)


# the number layouts of the format table itself (NL's sidecodes, the US states' serials with
# how common each is)
_NL_SIDECODES = tuple(lay.spec for lay in FORMATS["NL"].layouts)
_US_LAYOUTS = tuple(lay.spec for lay in FORMATS["US"].layouts)
_US_WEIGHTS = tuple(lay.weight for lay in FORMATS["US"].layouts)

EU_WHITE = ((246, 246, 242), (236, 238, 236), (250, 250, 250))
NL_YELLOW = ((244, 196, 24), (250, 206, 40), (236, 186, 20))
US_BACKS = ((246, 246, 246), (236, 240, 250), (250, 244, 226), (226, 236, 246), (240, 250, 240))
US_INKS = ((22, 40, 120), (20, 20, 20), (140, 20, 30), (20, 90, 40), (90, 20, 60))
BR_GREY = ((176, 178, 180), (160, 162, 166), (190, 190, 192))

STYLES: tuple[PlateStyle, ...] = (
    PlateStyle("RS", "RS", ("LL*DDD-LL", "LL*DDDD-LL", "LL*DDDDD-LL"), EU_WHITE,
               fonts=("fe", "din"), band="eu", band_codes=("SRB",), emblem="crest"),
    PlateStyle("HR", "HR", ("LL*DDD-L", "LL*DDD-LL", "LL*DDDD-L", "LL*DDDD-LL"), EU_WHITE,
               fonts=("fe", "din"), band="eu", band_codes=("HR",), emblem="crest", weight=1.5),
    PlateStyle("NL", "NL", _NL_SIDECODES, NL_YELLOW, fonts=("din",), band="eu",
               band_codes=("NL",), gap_dash=1.0),
    PlateStyle("DE", "DE", ("L*LL-D", "LL*L-DD", "L*LL-DDD", "LLL*LL-DDD", "LL*LL-DDDD",
                            "L*L-DDDD", "LLL*L-DD", "LL*LL-DD"), EU_WHITE,
               fonts=("fe",), band="eu", band_codes=("D",), emblem="seals", gap_dash=0.0),
    PlateStyle("SK", "SK", ("LL*DDDLL", "LL*DDD-DD"), EU_WHITE, fonts=("fe", "din"),
               band="eu", band_codes=("SK",), emblem="crest", weight=0.5),
    PlateStyle("CZ", "CZ", ("DLL-DDDD", "DLD-DDDD"), EU_WHITE, fonts=("din", "fe"),
               band="eu", band_codes=("CZ",), weight=0.5),
    PlateStyle("EU", "EU", ("LLL-DDD", "LL-DDD-LL", "L-DDDD-LL", "DDD-LLL", "LL-DD-DD",
                            "LLDDLLL", "DD-LL-DDD", "LL-DDDD"),
               EU_WHITE + NL_YELLOW[:1], fonts=("fe", "din"), band="eu",
               band_codes=("F", "I", "E", "A", "B", "PL", "SLO", "RO", "H", "BIH", "MNE"),
               weight=1.5),
    PlateStyle("US", "US", _US_LAYOUTS, US_BACKS, US_INKS, fonts=("barlow", "din"),
               emblem="sticker", top_words=US_STATES, bottom_words=US_SLOGANS, weight=3.0,
               gap_dash=0.4, extra={"layout_weights": 1.0}),
    PlateStyle("BR", "BR", ("LLLDLDD",), EU_WHITE, fonts=("fe",), band="mercosur",
               band_codes=("BRASIL",), weight=1.5),
    PlateStyle("BR-grey", "BR", ("LLL-DDDD",), BR_GREY, fonts=("din",), top_words=BR_TOWNS,
               gap_dash=0.7),
    # stacked (two-line) plates: motorcycles, square rear plates
    PlateStyle("BR-moto", "BR", ("LLL-DLDD",), EU_WHITE, fonts=("fe",), band="mercosur",
               band_codes=("BRASIL",), two_line=True, weight=0.4, gap_dash=0.0),
    PlateStyle("BR-grey-moto", "BR", ("LLL-DDDD",), BR_GREY, fonts=("din",),
               top_words=BR_TOWNS[:1], two_line=True, weight=0.3, gap_dash=0.0),
    PlateStyle("DE-2", "DE", ("LL*LL-DDD", "L*L-DDDD", "LLL*L-DD"), EU_WHITE, fonts=("fe",),
               band="eu", band_codes=("D",), emblem="seals", two_line=True, weight=0.4,
               gap_dash=0.0),
    PlateStyle("HR-2", "HR", ("LL-DDD*LL", "LL-DDDD*L"), EU_WHITE, fonts=("fe", "din"),
               band="eu", band_codes=("HR",), emblem="crest", two_line=True, weight=0.3,
               gap_dash=1.0),
    PlateStyle("US-2", "US", ("DD-LLLL", "LL-DDDD", "DDD-LLL"), US_BACKS, US_INKS,
               fonts=("barlow",), top_words=US_STATES, two_line=True, weight=0.3, gap_dash=0.0),
)  # fmt: skip

STYLE_NAMES = tuple(s.name for s in STYLES)


def styles_for(formats: tuple[str, ...] | None) -> tuple[PlateStyle, ...]:
    """The styles whose numbers fit ``formats`` (None: all); an unknown format is an error."""
    if formats is None:
        return STYLES
    known = {s.fmt for s in STYLES}
    unknown = [f for f in formats if f not in known]
    if unknown:
        raise ValueError(f"no synthetic plate style for formats {unknown}; known: {sorted(known)}")
    return tuple(s for s in STYLES if s.fmt in formats)


def pick_layout(style: PlateStyle, rng: random.Random) -> str:
    """A layout of ``style`` (US serials as often as the states issue them, tempered)."""
    if style.extra.get("layout_weights") and len(style.layouts) == len(_US_WEIGHTS):
        return rng.choices(style.layouts, weights=_US_WEIGHTS)[0]
    return rng.choice(style.layouts)


def plate_text(layout: str, rng: random.Random, letters: str = LETTERS) -> list[str]:
    """Random characters for ``layout``, as its groups (split at ``-`` and ``*``)."""
    groups: list[str] = [""]
    for sym in layout:
        if sym in "-*":
            groups.append("")
        elif sym == "L":
            groups[-1] += rng.choice(letters)
        elif sym == "D":
            groups[-1] += rng.choice(DIGITS)
        else:
            groups[-1] += rng.choice(letters + DIGITS)
    return groups


def boundaries(layout: str) -> list[str]:
    """The boundary symbols of ``layout`` in order (``-`` or ``*``)."""
    return [c for c in layout if c in "-*"]
