"""The synthetic plate generator: seeded crops of plates with their labels.

    synth = PlateSynth(load_fonts(Path("../shared/data/plates/fonts")), seed=7)
    sample = synth.sample()      # sample.image (BGR crop), sample.label ("ZG 1234 AB")

Each sample is one plate of a style (:mod:`citywatch.training.plate_styles`, chosen by its
weight among those of the asked formats), drawn face-on (:mod:`citywatch.training.plate_render`)
and seen by a camera (:mod:`citywatch.training.plate_degrade`).  Sample ``i`` of a seed is the
same whatever was drawn before it (each sample has its own ``random.Random``), so a resumed
training run draws what an uninterrupted one would have.  ``one_line`` leaves out the stacked
(two-line) styles, for a recogniser that reads one line (a fine-tuned PP-OCR); ``boost``
multiplies the weights of a format's styles (``{"US": 3.0}``: US plates drawn three times as
often as their styles' weights say); ``stroke_share`` draws that share of the US plates in
the project's own stroke lettering (:mod:`citywatch.training.plate_glyphs`) instead of the
style's fonts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from citywatch.training.plate_degrade import ViewSettings, camera_view
from citywatch.training.plate_render import Fonts, draw_plate, load_fonts
from citywatch.training.plate_styles import PlateStyle, pick_layout, plate_text, styles_for
from citywatch.vision.record import ImageBGR


@dataclass(frozen=True)
class Sample:
    """One synthetic crop: BGR pixels, the label (characters; a space where the plate has a
    gap or a line break), the plate format and the style it was drawn in."""

    image: ImageBGR
    label: str
    fmt: str
    style: str
    lines: tuple[str, ...] = ()  # the label of each line (two for a stacked plate)

    @property
    def text(self) -> str:
        """The plate number without gaps (what ``eval plates`` compares)."""
        return self.label.replace(" ", "")


class PlateSynth:
    """Seeded generator of :class:`Sample` (see the module doc)."""

    def __init__(
        self,
        fonts: Fonts,
        *,
        seed: int,
        formats: tuple[str, ...] | None = None,
        view: ViewSettings | None = None,
        one_line: bool = False,
        boost: dict[str, float] | None = None,
        stroke_share: float = 0.0,
    ) -> None:
        self._fonts = fonts.with_stroke(stroke_share) if stroke_share else fonts
        self._styles: tuple[PlateStyle, ...] = tuple(
            s for s in styles_for(formats) if not (one_line and s.two_line)
        )
        if not self._styles:
            raise ValueError(f"no one-line synthetic plate style for formats {formats}")
        boost = boost or {}
        unknown = sorted(set(boost) - {s.fmt for s in self._styles})
        if unknown or any(v <= 0 for v in boost.values()):
            raise ValueError(f"boost {boost}: formats {unknown} not drawn, or a factor <= 0")
        self._weights = [s.weight * boost.get(s.fmt, 1.0) for s in self._styles]
        self._seed = seed
        self._view = view or ViewSettings()
        self._next = 0

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        *,
        seed: int,
        formats: tuple[str, ...] | None = None,
        one_line: bool = False,
        boost: dict[str, float] | None = None,
        stroke_share: float = 0.0,
    ) -> PlateSynth:
        fonts = load_fonts(folder)
        return cls(
            fonts,
            seed=seed,
            formats=formats,
            one_line=one_line,
            boost=boost,
            stroke_share=stroke_share,
        )

    def sample_at(self, index: int) -> Sample:
        """Sample number ``index`` of this seed."""
        rng = random.Random(self._seed * 1_000_003 + index)
        style = rng.choices(self._styles, weights=self._weights)[0]
        layout = pick_layout(style, rng)
        groups = plate_text(layout, rng, style.letters)
        plate = draw_plate(style, layout, groups, self._fonts, rng)
        image = camera_view(plate, rng, self._view)
        return Sample(image, plate.label, style.fmt, style.name, plate.lines)

    def sample(self) -> Sample:
        """The next sample."""
        out = self.sample_at(self._next)
        self._next += 1
        return out

    def skip_to(self, index: int) -> None:
        """Continue from sample ``index`` (a resumed run)."""
        self._next = index
