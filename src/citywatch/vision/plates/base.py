"""Contracts for plate back ends.  Back ends convert to our types here, at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from citywatch.vision.plates.formats import Candidate, PlateFormat
from citywatch.vision.record import Detections, FloatArray, ImageBGR


@runtime_checkable
class PlateDetector(Protocol):
    """Finds plate (text) regions; ``regions`` (xyxy) limits the search to moving areas."""

    name: str

    def detect(self, image: ImageBGR, regions: FloatArray | None = None) -> Detections: ...


@runtime_checkable
class PlateReader(Protocol):
    """Reads the text of each box: one (raw text, confidence 0..1) per box."""

    name: str

    def read(self, image: ImageBGR, xyxy: FloatArray) -> list[tuple[str, float]]: ...


@runtime_checkable
class WindowRefiner(Protocol):
    """Optional detector capability: search small ``windows`` (xyxy, around candidate plates)
    each enlarged to a working size, for the text lines inside them; with ``margin``, each
    window is surrounded by that many pixels (at the working size) of its own edge repeated,
    so that a line filling the window does not touch the border of the searched picture; with
    ``height``, each window is scaled to that height instead of the refiner's own."""

    def refine(
        self, image: ImageBGR, windows: FloatArray, *, margin: int = 0, height: int | None = None
    ) -> Detections: ...


@runtime_checkable
class WholePlateDetector(Protocol):
    """Optional detector mark: its boxes are whole plates (frame, state name, slogan and all),
    not text lines, so a window around one may hold a serial much smaller than the window
    (the stage then searches a window without a line once more, larger)."""

    finds_whole_plates: bool


@runtime_checkable
class ZoomDetector(Protocol):
    """Optional detector capability: :meth:`PlateDetector.detect` at another analysis scale
    (the frame scaled so its longer side is ``max_side``), to look again for small plates;
    empty when that scale would be no larger than the one ``detect`` uses."""

    def detect_at(
        self, image: ImageBGR, regions: FloatArray | None, max_side: int
    ) -> Detections: ...


@runtime_checkable
class FormatReader(Protocol):
    """Optional reader capability: read each box straight into plate candidates for
    ``formats``, best first (format-constrained decoding of the recogniser's probabilities
    instead of fixing its best guess afterwards).  One list per box, empty when nothing fits.
    ``quick``: one reading per box where the reader would otherwise make several (a second
    look at a box already read)."""

    def read_formatted(
        self,
        image: ImageBGR,
        xyxy: FloatArray,
        formats: Sequence[PlateFormat],
        *,
        quick: bool = False,
    ) -> list[list[Candidate]]: ...


@runtime_checkable
class StackedReader(Protocol):
    """Optional reader capability: plate candidates for ``formats`` of each box (as
    :meth:`FormatReader.read_formatted`) and of each pair of boxes (``(upper, lower)``
    indices into ``xyxy``) read as the two lines of one stacked plate
    (:mod:`citywatch.vision.plates.stacked`), each box's crop recognised once per stretch for
    both; best first, one list per box and one per pair."""

    def read_lines_and_pairs(
        self,
        image: ImageBGR,
        xyxy: FloatArray,
        pairs: Sequence[tuple[int, int]],
        formats: Sequence[PlateFormat],
    ) -> tuple[list[list[Candidate]], list[list[Candidate]]]: ...
