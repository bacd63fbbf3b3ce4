"""Plate lettering drawn by the project: a family of monoline stroke fonts made from code.

Most US states print their plates in narrow, even-stroked lettering (California's is the best
known) that none of the licensed fonts in ``../shared/data/plates/fonts`` draws: Barlow is the
closest, and a recogniser fine-tuned on it still read California's open 4 as ``L`` and 8 as
``B`` (``docs/models.md``).  This module draws such lettering itself, so synthetic plates can
show a recogniser many variants of it instead of one font.

Each glyph is a *skeleton*: polylines on a unit box (x right, y down), whose corners are rounded
by a radius that varies from font to font (square DIN-like shapes to round ones; the bowl of
a D and the 0 stay round, so they never become the O).  A
:class:`GlyphStyle` gives the width, the stroke weight, the rounding, the caps, a slant, and the
variants real plates differ in (an open or closed 4, a 1 with or without a foot, a 7 with a bar,
an I with bars); :func:`stroke_font` thickens the skeletons with shapely, writes them as a
TrueType font with fontTools, and PIL opens it from memory.  :func:`stroke_styles` draws a
seeded set of styles, so the family a training run sees is fixed by a seed like everything
else it draws.  The glyphs are the project's own work (Apache-2.0); nothing is copied from a
font file.
"""

from __future__ import annotations

import functools
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ImageFont

Point = tuple[float, float] | tuple[float, float, float]  # (x, y[, rounding of this corner])
Stroke = tuple[tuple[Point, ...], bool]  # the points, and whether the path is closed

UPM = 1000  # font units per em
CAP_UNITS = 700  # capital height in font units
CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class GlyphStyle:
    """One stroke font: ``width`` of a glyph over its height, ``weight`` the stroke over the
    height, ``rounding`` the corner radius over the width (0 square, 0.5 round), ``round_caps``
    round stroke ends, ``slant`` the shear (x per unit of height), and the glyph variants."""

    width: float = 0.5
    weight: float = 0.13
    rounding: float = 0.3
    round_caps: bool = False
    slant: float = 0.0
    open_four: bool = False
    one_foot: bool = False
    seven_bar: bool = False
    i_bars: bool = True
    flat_three: bool = False


def _c(*pts: Point, closed: bool = False) -> Stroke:
    return (pts, closed)


def _skeletons(s: GlyphStyle) -> dict[str, list[Stroke]]:
    """Each character's strokes on the unit box.  A corner given a third number is rounded
    by that fraction of the style's radius (0: sharp)."""
    mid = 0.48
    four = (
        [_c((0.12, 0.0), (0.0, 0.66, 0), (1.0, 0.66)), _c((0.76, 0.3), (0.76, 1.0))]
        if s.open_four
        else [_c((0.76, 1.0), (0.76, 0.0, 0), (0.0, 0.66, 0), (1.0, 0.66))]
    )
    one = [_c((0.12, 0.2), (0.56, 0.0, 0), (0.56, 1.0))]
    if s.one_foot:
        one.append(_c((0.15, 1.0), (0.95, 1.0)))
    seven = [_c((0.0, 0.0), (1.0, 0.0, 0), (0.38, 1.0))]
    if s.seven_bar:
        seven.append(_c((0.35, 0.52), (0.9, 0.52)))
    eye = [_c((0.5, 0.0), (0.5, 1.0))]
    if s.i_bars:
        eye += [_c((0.18, 0.0), (0.82, 0.0)), _c((0.18, 1.0), (0.82, 1.0))]
    # fmt: off
    three = (
        [_c((0.0, 0.0), (1.0, 0.0, 0), (0.45, 0.4, 0), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0),
            (0.0, 0.8))]
        if s.flat_three
        else [
            _c((0.0, 0.2), (0.0, 0.0), (1.0, 0.0), (1.0, mid), (0.3, mid, 0)),
            _c((0.3, mid), (1.0, mid), (1.0, 1.0), (0.0, 1.0), (0.0, 0.8)),
        ]
    )
    box = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    return {
        "A": [_c((0.0, 1.0), (0.5, 0.0, 0.3), (1.0, 1.0)), _c((0.2, 0.64), (0.8, 0.64))],
        "B": [_c((0.0, 0.0), (0.0, 1.0)), _c((0.0, 0.0), (0.88, 0.0), (0.88, mid), (0.0, mid)),
              _c((0.0, mid), (1.0, mid), (1.0, 1.0), (0.0, 1.0))],
        "C": [_c((1.0, 0.22), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.78))],
        "D": [_c((0.0, 0.0, 0), (0.95, 0.0, 1.3), (0.95, 1.0, 1.3), (0.0, 1.0, 0), closed=True)],
        "E": [_c((1.0, 0.0), (0.0, 0.0, 0), (0.0, 1.0, 0), (1.0, 1.0)),
              _c((0.0, mid), (0.82, mid))],
        "F": [_c((1.0, 0.0), (0.0, 0.0, 0), (0.0, 1.0)), _c((0.0, mid), (0.82, mid))],
        "G": [_c((1.0, 0.22), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.52, 0),
                 (0.52, 0.52))],
        "H": [_c((0.0, 0.0), (0.0, 1.0)), _c((1.0, 0.0), (1.0, 1.0)), _c((0.0, mid), (1.0, mid))],
        "I": eye,
        "J": [_c((1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.7))],
        "K": [_c((0.0, 0.0), (0.0, 1.0)), _c((1.0, 0.0), (0.0, 0.64)), _c((0.3, 0.43), (1.0, 1.0))],
        "L": [_c((0.0, 0.0), (0.0, 1.0, 0), (1.0, 1.0))],
        "M": [_c((0.0, 1.0), (0.0, 0.0, 0), (0.5, 0.62, 0), (1.0, 0.0, 0), (1.0, 1.0))],
        "N": [_c((0.0, 1.0), (0.0, 0.0, 0), (1.0, 1.0, 0), (1.0, 0.0))],
        "O": [_c(*box, closed=True)],
        "P": [_c((0.0, 1.0), (0.0, 0.0, 0), (1.0, 0.0), (1.0, 0.52), (0.0, 0.52))],
        "Q": [_c(*box, closed=True), _c((0.58, 0.72), (1.05, 1.1))],
        "R": [_c((0.0, 1.0), (0.0, 0.0, 0), (1.0, 0.0), (1.0, 0.5), (0.0, 0.5)),
              _c((0.45, 0.5), (1.0, 1.0))],
        "S": [_c((1.0, 0.2), (1.0, 0.0), (0.0, 0.0), (0.0, mid), (1.0, mid), (1.0, 1.0),
                 (0.0, 1.0), (0.0, 0.8))],
        "T": [_c((0.0, 0.0), (1.0, 0.0)), _c((0.5, 0.0), (0.5, 1.0))],
        "U": [_c((0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0))],
        "V": [_c((0.0, 0.0), (0.5, 1.0, 0.3), (1.0, 0.0))],
        "W": [_c((0.0, 0.0), (0.22, 1.0, 0), (0.5, 0.32, 0), (0.78, 1.0, 0), (1.0, 0.0))],
        "X": [_c((0.0, 0.0), (1.0, 1.0)), _c((1.0, 0.0), (0.0, 1.0))],
        "Y": [_c((0.0, 0.0), (0.5, 0.52, 0), (1.0, 0.0)), _c((0.5, 0.52), (0.5, 1.0))],
        "Z": [_c((0.0, 0.0), (1.0, 0.0, 0), (0.0, 1.0, 0), (1.0, 1.0))],
        "0": [_c((0.1, 0.0, 1.4), (0.9, 0.0, 1.4), (0.9, 1.0, 1.4), (0.1, 1.0, 1.4), closed=True)],
        "1": one,
        "2": [_c((0.0, 0.2), (0.0, 0.0), (1.0, 0.0), (1.0, 0.45), (0.0, 0.7, 0.4), (0.0, 1.0, 0),
                 (1.0, 1.0))],
        "3": three,
        "4": four,
        "5": [_c((1.0, 0.0), (0.0, 0.0, 0), (0.0, 0.46, 0), (1.0, 0.46), (1.0, 1.0), (0.0, 1.0),
                 (0.0, 0.8))],
        "6": [_c((1.0, 0.2), (1.0, 0.0), (0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, mid),
                 (0.0, mid))],
        "7": seven,
        "8": [_c((0.06, 0.0), (0.94, 0.0), (0.94, mid), (0.06, mid), closed=True),
              _c((0.0, mid), (1.0, mid), (1.0, 1.0), (0.0, 1.0), closed=True)],
        "9": [_c((0.0, 0.8), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0), (0.0, 0.52),
                 (1.0, 0.52))],
    }
    # fmt: on


def _rounded(
    points: Sequence[Point], closed: bool, radius: float, floor: float = 0.0
) -> list[tuple[float, float]]:
    """The polyline with each corner replaced by an arc of ``radius`` (times the corner's own
    rounding; a corner rounded more than 1 has at least ``floor``: the bowl of a D, the 0
    narrower than the O, stay round in a square style)."""
    pts = [(p[0], p[1], p[2] if len(p) == 3 else 1.0) for p in points]
    n = len(pts)
    out: list[tuple[float, float]] = []
    for i in range(n):
        x, y, k = pts[i]
        if not closed and i in (0, n - 1):
            out.append((x, y))
            continue
        (ax, ay, _), (bx, by, _) = pts[i - 1], pts[(i + 1) % n]
        la, lb = math.hypot(ax - x, ay - y), math.hypot(bx - x, by - y)
        r = min(max(radius * k, floor) if k > 1 else radius * k, 0.5 * la, 0.5 * lb)
        if r <= 1e-6 or la == 0 or lb == 0:
            out.append((x, y))
            continue
        ux, uy = (ax - x) / la, (ay - y) / la
        vx, vy = (bx - x) / lb, (by - y) / lb
        # a quadratic curve from the point r along one leg to the point r along the other
        p0, p2 = (x + ux * r, y + uy * r), (x + vx * r, y + vy * r)
        for t in (j / 6 for j in range(7)):
            out.append(
                (
                    (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * x + t * t * p2[0],
                    (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * y + t * t * p2[1],
                )
            )
    if closed:
        out.append(out[0])
    return out


def glyph_outlines(ch: str, style: GlyphStyle) -> list[list[tuple[float, float]]]:
    """The filled outline of ``ch`` in font units (y up, baseline 0, capitals
    :data:`CAP_UNITS` high): clockwise outer contours, counter-clockwise holes."""
    from shapely.geometry import LineString, Polygon, box
    from shapely.geometry.polygon import orient
    from shapely.ops import unary_union

    h = float(CAP_UNITS)
    w = style.width * h
    half = 0.5 * style.weight * h
    radius = style.rounding * w
    parts = []
    for points, closed in _skeletons(style)[ch]:
        # the skeleton inset by half a stroke so the ink stays inside the glyph's box
        placed = [
            (
                half + p[0] * (w - 2 * half),
                half + p[1] * (h - 2 * half),
                *(p[2:] if len(p) == 3 else ()),
            )
            for p in points
        ]
        line = _rounded(placed, closed, radius, 0.3 * w)
        cap = 1 if style.round_caps else 3  # round or square
        parts.append(LineString(line).buffer(half, cap_style=cap, join_style=1, quad_segs=4))
    # square ends cut level with the baseline, the cap line and the sides, as type is cut
    shape = unary_union(parts).intersection(box(0.0, 0.0, w, h))
    polys = [shape] if isinstance(shape, Polygon) else list(getattr(shape, "geoms", []))
    out = []
    for poly in polys:
        # y down -> y up, and the slant
        flipped = Polygon(
            [(x + style.slant * (h - y), h - y) for x, y in poly.exterior.coords],
            [[(x + style.slant * (h - y), h - y) for x, y in r.coords] for r in poly.interiors],
        )
        poly = orient(flipped, sign=-1.0)  # TrueType: outer contours clockwise
        out.append([(round(x), round(y)) for x, y in poly.exterior.coords[:-1]])
        out += [[(round(x), round(y)) for x, y in r.coords[:-1]] for r in poly.interiors]
    return out


@functools.lru_cache(maxsize=64)
def stroke_font_bytes(style: GlyphStyle, name: str = "citywatch-stroke") -> bytes:
    """A TrueType font of :data:`CHARS` (and a space) in ``style`` (made once per style: a
    training run's generator and its validation generator draw the same fonts)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    side = round(0.08 * CAP_UNITS)
    advance = round(style.width * CAP_UNITS) + 2 * side
    order = [".notdef", "space", *CHARS]
    glyphs = {}
    metrics = {}
    for g in order:
        pen = TTGlyphPen(None)
        if len(g) == 1:
            for contour in glyph_outlines(g, style):
                pen.moveTo((contour[0][0] + side, contour[0][1]))
                for x, y in contour[1:]:
                    pen.lineTo((x + side, y))
                pen.closePath()
        glyphs[g] = pen.glyph()
        metrics[g] = (advance, side)
    fb = FontBuilder(UPM, isTTF=True)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap({ord(c): c for c in CHARS} | {32: "space"})
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=900, descent=-200)
    fb.setupNameTable({"familyName": name, "styleName": "Regular"})
    fb.setupOS2(
        sTypoAscender=900,
        sTypoDescender=-200,
        usWinAscent=900,
        usWinDescent=200,
        sCapHeight=CAP_UNITS,
    )
    fb.setupPost()
    buf = io.BytesIO()
    fb.save(buf)
    return buf.getvalue()


def stroke_font(style: GlyphStyle, size: int) -> ImageFont.FreeTypeFont:
    """``style`` as a PIL font of ``size`` px."""
    return ImageFont.truetype(io.BytesIO(stroke_font_bytes(style)), size)


def stroke_styles(count: int, seed: int) -> list[GlyphStyle]:
    """``count`` seeded styles spanning narrow even-stroked plate lettering."""
    rng = random.Random(seed)
    return [
        GlyphStyle(
            width=rng.uniform(0.38, 0.58),
            weight=rng.uniform(0.09, 0.17),
            rounding=rng.choice((0.05, 0.2, 0.35, 0.5)),
            round_caps=rng.random() < 0.4,
            slant=rng.choice((0.0, 0.0, 0.0, 0.06)),
            open_four=rng.random() < 0.5,
            one_foot=rng.random() < 0.4,
            seven_bar=rng.random() < 0.15,
            i_bars=rng.random() < 0.8,
            flat_three=rng.random() < 0.3,
        )
        for _ in range(count)
    ]
