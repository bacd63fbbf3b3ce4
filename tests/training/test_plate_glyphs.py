"""The project's own stroke lettering for synthetic US plates (issue 15): every plate character
drawn, inside its box, distinct from the others, legible to the shipped reader; seeded; and off
by default, where the synthetic data stays what earlier runs drew."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from citywatch.training.plate_glyphs import (
    CAP_UNITS,
    CHARS,
    GlyphStyle,
    glyph_outlines,
    stroke_font,
    stroke_styles,
)
from citywatch.training.plate_render import load_fonts
from citywatch.training.plate_synth import PlateSynth

SQUARE = GlyphStyle(width=0.5, weight=0.13, rounding=0.05)
ROUND = GlyphStyle(width=0.45, weight=0.15, rounding=0.5, round_caps=True, open_four=True)


def _ink(ch: str, style: GlyphStyle, size: int = 64) -> np.ndarray:
    font = stroke_font(style, size)
    img = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(img).text((size // 4, size // 4), ch, font=font, fill=255)
    arr = np.asarray(img) > 127
    ys, xs = np.nonzero(arr)
    return arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


@pytest.mark.parametrize("style", [SQUARE, ROUND], ids=["square", "round"])
def test_every_character_has_an_outline_inside_its_box(style: GlyphStyle) -> None:
    width = style.width * CAP_UNITS
    for ch in CHARS:
        contours = glyph_outlines(ch, style)
        assert contours, ch
        pts = np.array([p for c in contours for p in c], float)
        slant = style.slant * CAP_UNITS
        assert pts[:, 0].min() >= -1 and pts[:, 0].max() <= width + slant + 1, ch
        assert pts[:, 1].min() >= -1 and pts[:, 1].max() <= CAP_UNITS + 1, ch
        # capital height (the A's apex is rounded)
        assert pts[:, 1].max() - pts[:, 1].min() >= 0.95 * CAP_UNITS, ch


@pytest.mark.parametrize("style", [SQUARE, ROUND], ids=["square", "round"])
def test_no_two_characters_look_the_same(style: GlyphStyle) -> None:
    shapes = {}
    for ch in CHARS:
        ink = _ink(ch, style).astype(np.uint8)
        shapes[ch] = cv2.resize(ink, (24, 48), interpolation=cv2.INTER_AREA).astype(float)
    for a in CHARS:
        for b in CHARS:
            if a < b:
                assert np.abs(shapes[a] - shapes[b]).mean() > 0.02, (a, b)


def test_the_variants_change_their_glyphs_and_nothing_else() -> None:
    base = GlyphStyle()
    for field, ch in [
        ("open_four", "4"),
        ("one_foot", "1"),
        ("seven_bar", "7"),
        ("flat_three", "3"),
    ]:
        varied = GlyphStyle(**{field: True})
        assert glyph_outlines(ch, varied) != glyph_outlines(ch, base), field
        assert glyph_outlines("H", varied) == glyph_outlines("H", base), field
    assert glyph_outlines("I", GlyphStyle(i_bars=False)) != glyph_outlines("I", base)
    # a square style keeps the D's bowl and the 0 round: neither becomes the O
    o, d, zero = (glyph_outlines(c, SQUARE) for c in "OD0")
    assert o != d and o != zero


def test_styles_are_seeded_and_varied() -> None:
    a, b = stroke_styles(12, 15), stroke_styles(12, 15)
    assert a == b
    assert stroke_styles(12, 16) != a
    assert len({(s.width, s.weight) for s in a}) == 12
    assert {s.open_four for s in a} == {True, False}
    assert {s.rounding for s in a} >= {0.05, 0.5} or len({s.rounding for s in a}) >= 3


def _plate(text: str, style: GlyphStyle) -> np.ndarray:
    font = stroke_font(style, 40)
    width = int(font.getlength(text)) + 40
    img = Image.new("RGB", (width, 64), (245, 245, 245))
    ImageDraw.Draw(img).text((20, 6), text, font=font, fill=(20, 30, 110))
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def test_the_shipped_reader_reads_the_lettering() -> None:
    """The glyphs are letters and digits as a reader trained on real text sees them: the
    shipped plate recogniser reads most plates drawn in them (it never saw this lettering)."""
    from citywatch.vision.plates.formats import FORMATS
    from citywatch.vision.plates.ppocr import CtcPlateReader, CtcRecogniser
    from citywatch.vision.plates.recognisers import shipped_path

    reader = CtcPlateReader(CtcRecogniser(shipped_path("ppocrv6-plates")), pad_x=0, pad_y=0)
    texts = ["7ABC123", "5XKP809", "4MGW276", "8DJT045", "3FNY591", "6RVH732"]
    right = total = 0
    for style in stroke_styles(6, 15):
        for text in texts:
            crop = _plate(text, style)
            box = np.array([[0, 0, crop.shape[1], crop.shape[0]]], np.float32)
            cands = reader.read_formatted(crop, box, [FORMATS["EU"]])[0]
            right += bool(cands) and cands[0].text == text
            total += 1
    assert right >= 0.8 * total, f"{right} of {total}"


def test_off_by_default_draws_what_earlier_runs_drew(fonts_dir: Path) -> None:
    fonts = load_fonts(fonts_dir)
    plain = PlateSynth(fonts, seed=7, formats=("US",), one_line=True)
    none = PlateSynth(fonts, seed=7, formats=("US",), one_line=True, stroke_share=0.0)
    every = PlateSynth(fonts, seed=7, formats=("US",), one_line=True, stroke_share=1.0)
    changed = 0
    for i in range(6):
        a, b, c = plain.sample_at(i), none.sample_at(i), every.sample_at(i)
        assert np.array_equal(a.image, b.image) and a.label == b.label
        changed += a.label != c.label or a.image.shape != c.image.shape
        changed += a.image.shape == c.image.shape and not np.array_equal(a.image, c.image)
    assert changed >= 5


def test_other_formats_never_get_the_stroke_lettering(fonts_dir: Path) -> None:
    fonts = load_fonts(fonts_dir)
    plain = PlateSynth(fonts, seed=9, formats=("NL", "DE"))
    every = PlateSynth(fonts, seed=9, formats=("NL", "DE"), stroke_share=1.0)
    for i in range(5):
        a, b = plain.sample_at(i), every.sample_at(i)
        assert a.label == b.label and np.array_equal(a.image, b.image)


def test_a_share_outside_0_to_1_is_refused(fonts_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"stroke share 1\.5"):
        load_fonts(fonts_dir).with_stroke(1.5)
