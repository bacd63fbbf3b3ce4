"""`citywatch eval plates`: plate reading on still photos with openalpr-style truth.

Each photo ``NAME.jpg`` has ``NAME.txt`` beside it with one line per plate:
``file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE`` (box top-left and size in pixels, text without
separators).  The photo goes through :meth:`PlateStage.read_plates` — the code live cameras
run, without tracking — and each true plate is scored against the read the system reports for
it: the best-scoring read whose box lies near the true box (:func:`near`).

Comparison (:func:`fold`): upper case, separators dropped, and the letter O and the digit 0
count as one symbol (the truth files mix them); nothing else is folded.

* ``exact_rate``: share of true plates whose reported read equals the truth.
* ``char_accuracy``: mean of ``1 - edit distance / len(truth)`` (0 at worst; 0 when nothing was
  read there).
* ``found_rate``: share of true plates with any read near their box.
* ``ms_per_image``: mean wall time of ``read_plates`` (decoding the file not included);
  ``cpu_ms_per_image`` the CPU time of the calling thread over the same span (with one
  inference thread, the default, this is the work itself: it changes little when other
  processes load the machine, where wall time does).
* ``exact_rate_<format>``: per format of the truth plates (the formats the reads were decoded
  against: a plate that fits none counts as ``other``, and ``plates_fitting_no_format`` says
  how many: a high count means the configured formats are not the region's);
  ``exact_rate_shape_<LD...>``: per letter/digit shape of the truth (US serials differ by shape).

Data can be split in two stable halves (``a``/``b`` by a hash of the file name) so that a
method tuned on one half is reported on the other.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from citywatch.eval.common import Metrics
from citywatch.vision.images import IMAGE_SUFFIXES, load_image
from citywatch.vision.plates.formats import FORMATS, PlateFormat, edit_distance, normalise
from citywatch.vision.plates.formats import plate_key as _key
from citywatch.vision.record import Detections, FloatArray, ImageBGR

Subset = Literal["all", "a", "b"]
NEAR_GROW = 0.25  # a read is near a true box when its centre lies in the box grown by this
NEAR_MAX_WIDTH = 3.0  # ... and it is at most this many times as wide as the true box
MIN_SHAPE_PLATES = 3  # shapes with fewer true plates are reported together as "other"


class TruthError(ValueError):
    """A truth file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class TruePlate:
    text: str  # as written in the truth file, upper case
    box: tuple[float, float, float, float]  # xyxy


@dataclass(frozen=True, slots=True)
class PhotoTruth:
    image: Path
    plates: tuple[TruePlate, ...]


# -- comparison -------------------------------------------------------------------------


def fold(text: str) -> str:
    """The comparable form of a plate: :func:`plate_key` with the letter O as the digit 0."""
    return _key(text).replace("O", "0")


def same_plate(read: str, truth: str) -> bool:
    """Exact match after :func:`fold` (separators ignored, O and 0 one symbol)."""
    return bool(truth) and fold(read) == fold(truth)


def char_accuracy(read: str, truth: str) -> float:
    """``1 - edit distance / len(truth)`` on folded text, clipped at 0."""
    t = fold(truth)
    if not t:
        raise ValueError("char_accuracy: empty truth")
    return max(0.0, 1.0 - edit_distance(fold(read), t) / len(t))


def substitutions(read: str, truth: str) -> list[tuple[str, str]]:
    """(true character, read character) for each mismatch of an optimal alignment of the folded
    texts; a character the read lacks reads as ``"-"``, an extra one stands against ``"-"``."""
    a, b = fold(truth), fold(read)
    n, m = len(a), len(b)
    dp = np.zeros((n + 1, m + 1), np.int32)
    dp[:, 0] = np.arange(n + 1)
    dp[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dp[i, j] = min(
                dp[i - 1, j] + 1, dp[i, j - 1] + 1, dp[i - 1, j - 1] + (a[i - 1] != b[j - 1])
            )
    out: list[tuple[str, str]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dp[i, j] == dp[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            if a[i - 1] != b[j - 1]:
                out.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and dp[i, j] == dp[i - 1, j] + 1:
            out.append((a[i - 1], "-"))
            i -= 1
        else:
            out.append(("-", b[j - 1]))
            j -= 1
    return out[::-1]


def near(read_box: Sequence[float], true_box: Sequence[float]) -> bool:
    """A read box belongs to a true plate: its centre lies inside the true box grown by
    :data:`NEAR_GROW` of its size on each side, and it is not much wider than the plate."""
    x0, y0, x1, y1 = (float(v) for v in true_box)
    w, h = x1 - x0, y1 - y0
    cx = (float(read_box[0]) + float(read_box[2])) / 2.0
    cy = (float(read_box[1]) + float(read_box[3])) / 2.0
    inside = (x0 - NEAR_GROW * w <= cx <= x1 + NEAR_GROW * w) and (
        y0 - NEAR_GROW * h <= cy <= y1 + NEAR_GROW * h
    )
    return inside and (float(read_box[2]) - float(read_box[0])) <= NEAR_MAX_WIDTH * max(w, 1.0)


def plate_format(text: str, formats: Iterable[PlateFormat] = FORMATS.values()) -> str:
    """The formats whose layouts spell ``text`` as it is (no repair, nothing dropped), joined
    by ``/`` (``HR/RS/SK``: the same shape), or ``"other"``; generic formats are not asked
    (they fit almost anything)."""
    key = _key(text)
    names = []
    for fmt in formats:
        if fmt.generic:
            continue
        for cand in normalise(key, [fmt]):
            if cand.text == key and cand.fixes == 0 and cand.trimmed == 0:
                names.append(fmt.name)
                break
    return "/".join(sorted(names)) or "other"


def plate_shape(text: str) -> str:
    """``L`` for each letter and ``D`` for each digit of the plate (``AB1C2D`` -> ``LLDLDL``)."""
    return "".join("D" if ch.isdigit() else "L" for ch in _key(text))


# -- data -------------------------------------------------------------------------------


def in_subset(name: str, subset: Subset) -> bool:
    """Stable halves of a data set: ``a`` and ``b`` by the parity of a hash of the file name."""
    if subset == "all":
        return True
    half = hashlib.sha256(name.encode("utf-8")).digest()[0] % 2
    return half == (0 if subset == "a" else 1)


def parse_truth(path: Path) -> tuple[TruePlate, ...]:
    """Plates of one openalpr-style truth file (``file x y w h PLATE`` per line, tabs or
    spaces)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise TruthError(f"truth file {path}: cannot read ({err})") from None
    plates = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) < 6:
            raise TruthError(
                f"truth file {path}, line {n}: expected 'file x y w h PLATE', got {line!r}"
            )
        try:
            x, y, w, h = (float(v) for v in parts[1:5])
        except ValueError:
            raise TruthError(f"truth file {path}, line {n}: x y w h must be numbers") from None
        text = "".join(parts[5:]).upper()
        if not _key(text):
            raise TruthError(f"truth file {path}, line {n}: plate {text!r} has no characters")
        plates.append(TruePlate(text, (x, y, x + w, y + h)))
    if not plates:
        raise TruthError(f"truth file {path}: no plate")
    return tuple(plates)


def load_photos(folder: Path, subset: Subset = "all") -> list[PhotoTruth]:
    """Photos of ``folder`` that have a truth file beside them, sorted by name.  A folder
    without any is an error (so a wrong path is not reported as 0 % accuracy)."""
    if not folder.is_dir():
        raise TruthError(f"photo folder {folder} does not exist")
    photos = []
    for image in sorted(folder.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES or not in_subset(image.name, subset):
            continue
        truth = image.with_suffix(".txt")
        if truth.is_file():
            photos.append(PhotoTruth(image, parse_truth(truth)))
    if not photos:
        raise TruthError(f"photo folder {folder}: no image with a NAME.txt truth file beside it")
    return photos


# -- scoring ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlateOutcome:
    """One true plate and what the system reported for it."""

    image: str
    truth: str
    read: str  # "" when nothing was read near the plate
    score: float  # the read's score (0..1), 0 when nothing was read
    found: bool
    exact: bool
    char_accuracy: float
    plate_format: str
    shape: str = ""


def score_photo(
    photo: PhotoTruth, plates: Detections, formats: Sequence[PlateFormat] = ()
) -> list[PlateOutcome]:
    """Outcomes of one photo: for each true plate the best-scoring read near it."""
    scores = plates.text_score if plates.text_score is not None else plates.score
    fmts = formats or tuple(FORMATS.values())
    out = []
    for tp in photo.plates:
        best_i = -1
        for i in range(len(plates)):
            if near(plates.xyxy[i], tp.box) and (best_i < 0 or scores[i] > scores[best_i]):
                best_i = i
        read = plates.text[best_i] if best_i >= 0 and plates.text else ""
        out.append(
            PlateOutcome(
                image=photo.image.name,
                truth=tp.text,
                read=read,
                score=float(scores[best_i]) if best_i >= 0 else 0.0,
                found=best_i >= 0,
                exact=same_plate(read, tp.text),
                char_accuracy=char_accuracy(read, tp.text),
                plate_format=plate_format(tp.text, fmts),
                shape=plate_shape(tp.text),
            )
        )
    return out


@dataclass
class PlateImageReport:
    outcomes: list[PlateOutcome] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)  # per image
    cpu_ms: list[float] = field(default_factory=list)  # per image, this thread's CPU time
    extra_reads: int = 0  # reads near no true plate

    def metrics(self, name: str = "", subset: Subset = "all") -> Metrics:
        n = len(self.outcomes)
        if n == 0:
            raise ValueError("no plates were evaluated")
        out: Metrics = {}
        if name:
            out["data_set"] = name
        out["subset"] = subset
        out["images"] = len(self.ms)
        out["plates"] = n
        out["exact_rate"] = sum(o.exact for o in self.outcomes) / n
        out["char_accuracy"] = float(np.mean([o.char_accuracy for o in self.outcomes]))
        out["found_rate"] = sum(o.found for o in self.outcomes) / n
        out["ms_per_image"] = float(np.mean(self.ms))
        out["ms_per_image_p95"] = float(np.percentile(self.ms, 95))
        if self.cpu_ms:
            out["cpu_ms_per_image"] = float(np.mean(self.cpu_ms))
        out["extra_reads_per_image"] = self.extra_reads / max(1, len(self.ms))
        out["plates_fitting_no_format"] = sum(o.plate_format == "other" for o in self.outcomes)
        for fmt, rate, count in self.by_format():
            out[f"exact_rate_{fmt}"] = rate
            out[f"plates_{fmt}"] = count
        for shape, rate, count in self.by_shape():
            out[f"exact_rate_shape_{shape}"] = rate
            out[f"plates_shape_{shape}"] = count
        return out

    def by_shape(self, min_plates: int = MIN_SHAPE_PLATES) -> list[tuple[str, float, int]]:
        """(shape, exact rate, plates) per letter/digit shape of the truth, most plates first;
        shapes with fewer than ``min_plates`` plates together as ``other`` (last)."""
        counts = Counter(o.shape for o in self.outcomes)
        groups = {s: (s if n >= min_plates else "other") for s, n in counts.items()}
        return _rates([(groups[o.shape], o.exact) for o in self.outcomes])

    def by_format(self) -> list[tuple[str, float, int]]:
        """(format, exact rate, plates) per format of the truth, most plates first."""
        return _rates([(o.plate_format, o.exact) for o in self.outcomes])

    def confusions(self) -> Counter[tuple[str, str]]:
        """(true, read) character pairs over every read that was found but not exact."""
        pairs: Counter[tuple[str, str]] = Counter()
        for o in self.outcomes:
            if o.found and not o.exact:
                pairs.update(substitutions(o.read, o.truth))
        return pairs


def _rates(items: Sequence[tuple[str, bool]]) -> list[tuple[str, float, int]]:
    """(group, share of True, count) per group, most items first (``other`` last)."""
    counts = Counter(g for g, _ in items)
    right = Counter(g for g, ok in items if ok)
    order = sorted(counts, key=lambda g: (g == "other", -counts[g], g))
    return [(g, right[g] / counts[g], counts[g]) for g in order]


ReadPlates = Callable[[ImageBGR], Detections]


def evaluate_photos(
    photos: Sequence[PhotoTruth],
    read_plates: ReadPlates,
    *,
    formats: Sequence[PlateFormat] = (),
    on_photo: Callable[[PhotoTruth], None] | None = None,
) -> PlateImageReport:
    """Run ``read_plates`` (e.g. ``PlateStage.read_plates``) on every photo and score it."""
    report = PlateImageReport()
    for photo in photos:
        image = load_image(photo.image)
        t0, c0 = time.perf_counter(), time.thread_time()
        plates = read_plates(image)
        report.ms.append((time.perf_counter() - t0) * 1000.0)
        report.cpu_ms.append((time.thread_time() - c0) * 1000.0)
        report.outcomes.extend(score_photo(photo, plates, formats))
        report.extra_reads += sum(
            not any(near(box, tp.box) for tp in photo.plates) for box in plates.xyxy
        )
        if on_photo is not None:
            on_photo(photo)
    return report


def outcome_rows(report: PlateImageReport, *, wrong_only: bool = True) -> list[Metrics]:
    """Per-plate rows for the console / JSON (wrong reads only by default)."""
    return [
        {
            "image": o.image,
            "truth": o.truth,
            "read": o.read or "-",
            "score": round(o.score, 3),
            "format": o.plate_format,
            "found": o.found,
        }
        for o in report.outcomes
        if not (wrong_only and o.exact)
    ]


def boxes_of(photo: PhotoTruth) -> FloatArray:
    return np.asarray([tp.box for tp in photo.plates], np.float32).reshape(-1, 4)
