"""The synthetic plate generator (issue 15): seeded, labels that fit their formats, every style
drawn, fonts checked with errors that name the file.  Needs the fonts in ../shared/data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from citywatch.training.plate_render import FontError, load_fonts
from citywatch.training.plate_styles import STYLE_NAMES, STYLES, styles_for
from citywatch.training.plate_synth import PlateSynth
from citywatch.vision.plates.formats import FORMATS, normalise


@pytest.fixture(scope="module")
def synth(fonts_dir: Path) -> PlateSynth:
    return PlateSynth(load_fonts(fonts_dir), seed=4)


def test_same_seed_same_samples_whatever_came_before(fonts_dir: Path) -> None:
    fonts = load_fonts(fonts_dir)
    a, b = PlateSynth(fonts, seed=11), PlateSynth(fonts, seed=11)
    first = [a.sample() for _ in range(5)]
    b.skip_to(3)  # a resumed run
    again = b.sample()
    assert again.label == first[3].label
    assert np.array_equal(again.image, first[3].image)
    other = PlateSynth(fonts, seed=12).sample_at(3)
    assert other.label != first[3].label or not np.array_equal(other.image, first[3].image)


def test_labels_fit_their_format_and_crops_are_cctv_sized(synth: PlateSynth) -> None:
    seen = set()
    for i in range(300):
        s = synth.sample_at(i)
        seen.add(s.style)
        assert s.image.dtype == np.uint8 and s.image.ndim == 3 and s.image.shape[2] == 3
        assert 4 <= s.image.shape[0] <= 160, s.image.shape
        assert set(s.text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), s.label
        assert "  " not in s.label and s.label == s.label.strip()
        found = [c.text for c in normalise(s.label, [FORMATS[s.fmt]])]
        assert s.text in found, (s.style, s.label, found)
    # every style is drawn (the rare stacked ones too) in a few hundred samples
    assert seen == set(STYLE_NAMES)


def test_stacked_plates_read_upper_line_first(synth: PlateSynth) -> None:
    stacked = [synth.sample_at(i) for i in range(400)]
    br = [s for s in stacked if s.style == "BR-moto"]
    assert br, "no stacked Mercosur plate in 400 samples"
    for s in br:
        top, bottom = s.label.split(" ")
        assert len(top) == 3 and top.isalpha() and len(bottom) == 4, s.label
        # a stacked plate is taller for its width than a one-line one
        h, w = s.image.shape[:2]
        assert w / h < 3.0, (s.label, s.image.shape)


def test_formats_choose_styles() -> None:
    assert {s.fmt for s in styles_for(("BR",))} == {"BR"}
    assert len(styles_for(None)) == len(STYLES)
    with pytest.raises(ValueError, match="no synthetic plate style for formats \\['XX'\\]"):
        styles_for(("BR", "XX"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("empty", "the file is empty"),
        ("corrupt", "not a usable TrueType/OpenType font"),
        ("missing", "file not found"),
    ],
)
def test_bad_font_file_is_named(fonts_dir: Path, tmp_path: Path, damage: str, message: str) -> None:
    copy = tmp_path / "fonts"
    shutil.copytree(fonts_dir, copy)
    bad = copy / "dinish" / "DINish-Bold.ttf"
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "corrupt":
        bad.write_bytes(bad.read_bytes()[:300])
    else:
        bad.unlink()
    with pytest.raises(FontError) as err:
        load_fonts(copy)
    assert str(bad) in str(err.value) and message in str(err.value)


def test_missing_fonts_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FontError, match=r"plate fonts folder .*nowhere does not exist"):
        load_fonts(tmp_path / "nowhere")


def test_boost_draws_a_format_more_often_and_refuses_what_is_not_drawn(fonts_dir: Path) -> None:
    fonts = load_fonts(fonts_dir)
    plain = PlateSynth(fonts, seed=9, one_line=True)
    boosted = PlateSynth(fonts, seed=9, one_line=True, boost={"US": 3.0})
    n = 200
    us_plain = sum(plain.sample_at(i).fmt == "US" for i in range(n))
    us_boosted = sum(boosted.sample_at(i).fmt == "US" for i in range(n))
    # one-line styles: US weighs 3 of 12.5 (0.24); boosted 9 of 18.5 (0.49)
    assert us_plain < 0.35 * n < us_boosted
    assert any(boosted.sample_at(i).fmt != "US" for i in range(20))  # the others still drawn
    with pytest.raises(ValueError, match="XX"):
        PlateSynth(fonts, seed=9, boost={"XX": 2.0})
    with pytest.raises(ValueError, match="factor"):
        PlateSynth(fonts, seed=9, boost={"US": 0.0})
    with pytest.raises(ValueError, match="US"):  # US plates are not drawn for NL
        PlateSynth(fonts, seed=9, formats=("NL",), boost={"US": 2.0})
