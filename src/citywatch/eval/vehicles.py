"""`citywatch eval vehicles`: the type and colour of the vehicle holding each labelled plate.

A labels CSV (``image,plate,kind,colour``: a plate photo relative to the images folder, its
plate text, the vehicle type and body colour a person saw; an empty kind or colour is not
scored) names the cars; each photo's ``NAME.txt`` gives the truth plate boxes
(``file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE``, the format of ``../shared/data/plates``).  The live
:class:`~citywatch.vision.vehicles.describe.VehicleDescriber` runs on the photo with the truth
plate as the plate read, and the vehicle that holds it (:func:`holding`) gives the type and
colour compared with the labels.

The colour rule's thresholds were chosen on the even rows of the labels (``dev``) and are
reported on the odd rows apart (``holdout``): every figure is given for both halves and in all,
with its 95 % Wilson interval (``_lo``/``_hi``: at 80 cars a half, about +-0.1).

An optional ``colour_second`` column holds a second person's look at the same cars (empty: not
looked at).  Car colour is not always one name (silver or white, teal green or blue, a dark
green or black), so the report gives how often the two agree (``colour_labellers_agree``) and
the accuracy on the cars both named alike (``colour_accuracy_agreed``): the first is a ceiling
worth knowing beside the target, the second the figure on the cars whose colour is not in doubt.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from citywatch.eval.common import Metrics, wilson
from citywatch.eval.plates import TruthError
from citywatch.vision.images import ImageError, load_image
from citywatch.vision.record import Detections, ImageBGR
from citywatch.vision.vehicles.describe import VehicleDescriber, holding

LABEL_COLUMNS = ("image", "plate", "kind", "colour")
HALVES = ("dev", "holdout")


@dataclass(frozen=True, slots=True)
class VehicleLabel:
    row: int  # 0-based data row of the CSV: even rows are dev, odd rows holdout
    image: str
    plate: str
    kind: str
    colour: str
    colour_second: str = ""  # a second person's name for the colour ("" when not looked at)

    @property
    def half(self) -> str:
        return HALVES[self.row % 2]


@dataclass(frozen=True, slots=True)
class VehicleOutcome:
    label: VehicleLabel
    kind: str  # "" when no vehicle held the plate (or the photo could not be read)
    colour: str
    ms: float  # detector + colour on this photo (0 when it was not run)
    problem: str = ""  # why the photo was not scored ("" when it was)


def load_labels(path: Path) -> list[VehicleLabel]:
    """The labelled cars of a ``image,plate,kind,colour`` CSV, in file order."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = set(LABEL_COLUMNS) - set(reader.fieldnames or [])
            if missing:
                raise TruthError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
            out = []
            for i, rec in enumerate(reader):
                image, plate = (rec.get("image") or "").strip(), (rec.get("plate") or "").strip()
                if not image or not plate:
                    raise TruthError(f"{path} line {i + 2}: an image and a plate are needed")
                kind = (rec.get("kind") or "").strip().lower()
                colour = (rec.get("colour") or "").strip().lower()
                second = (rec.get("colour_second") or "").strip().lower()
                out.append(VehicleLabel(i, image, plate, kind, colour, second))
    except OSError as err:
        raise TruthError(f"{path}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError:
        raise TruthError(f"{path}: not UTF-8 text") from None
    if not out:
        raise TruthError(f"{path}: no labelled cars")
    return out


def truth_box(image_path: Path, plate: str) -> npt.NDArray[np.float32] | None:
    """The truth plate's xyxy box from the photo's ``NAME.txt``; None when not there."""
    txt = image_path.with_suffix(".txt")
    if not txt.is_file():
        return None
    for line in txt.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 6 and parts[5].strip() == plate:
            x, y, w, h = (float(v) for v in parts[1:5])
            return np.array([x, y, x + w, y + h], np.float32)
    return None


def describe_labelled(
    labels: Sequence[VehicleLabel],
    images: Path,
    describer: VehicleDescriber,
    *,
    on_item: Callable[[VehicleOutcome], None] | None = None,
) -> list[VehicleOutcome]:
    """Each labelled car through the live describer (one photo at a time)."""
    if not images.is_dir():
        raise TruthError(f"image folder {images} does not exist")
    out = []
    why = ""
    for lab in labels:
        path = images / lab.image
        try:
            image: ImageBGR | None = load_image(path)
        except ImageError as err:
            image, why = None, str(err)
        box = truth_box(path, lab.plate) if image is not None else None
        if image is None or box is None:
            why = why if image is None else f"{lab.image}: truth plate box not found"
            outcome = VehicleOutcome(lab, "", "", 0.0, why)
        else:
            t0 = time.perf_counter()
            found = describer.describe(image, Detections.from_boxes(box[None], [1.0]))
            ms = (time.perf_counter() - t0) * 1000.0
            j = holding(found, box)
            if j is None:
                outcome = VehicleOutcome(
                    lab, "", "", ms, f"{lab.image}: no vehicle holds the plate"
                )
            else:
                colour = found.colour[j] if found.colour else ""
                outcome = VehicleOutcome(lab, found.kind[j], colour, ms)
        out.append(outcome)
        if on_item is not None:
            on_item(outcome)
    return out


def _accuracy(pairs: Sequence[tuple[str, str]]) -> float | None:
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def pairs_of(
    outcomes: Sequence[VehicleOutcome], what: str, half: str = ""
) -> list[tuple[str, str]]:
    """(labelled, named) of ``what`` (``kind`` or ``colour``) for the labelled cars, a missed
    vehicle counting as named ``""`` (wrong); ``half``: only ``dev`` or ``holdout``."""
    return [
        (getattr(o.label, what), getattr(o, what))
        for o in outcomes
        if getattr(o.label, what) and (not half or o.label.half == half)
    ]


def _with_interval(out: Metrics, key: str, pairs: Sequence[tuple[str, str]]) -> None:
    if not pairs:
        out[key] = None
        return
    right = sum(a == b for a, b in pairs)
    lo, hi = wilson(right, len(pairs))
    out[key], out[f"{key}_lo"], out[f"{key}_hi"] = (
        round(right / len(pairs), 3),
        round(lo, 3),
        round(hi, 3),
    )


def vehicle_metrics(outcomes: Sequence[VehicleOutcome], name: str = "") -> Metrics:
    if not outcomes:
        raise ValueError("no labelled cars were evaluated")
    out: Metrics = {}
    if name:
        out["data_set"] = name
    out["labelled"] = len(outcomes)
    out["vehicle_found"] = sum(not o.problem for o in outcomes)
    for what, key in (("kind", "type"), ("colour", "colour")):
        pairs = pairs_of(outcomes, what)
        out[f"{key}_n"] = len(pairs)
        for half in ("", *HALVES):  # a missed vehicle counts as wrong
            suffix = f"_{half}" if half else ""
            _with_interval(out, f"{key}_accuracy{suffix}", pairs_of(outcomes, what, half))
        found = _accuracy([(a, b) for a, b in pairs if b])
        out[f"{key}_accuracy_of_found"] = None if found is None else round(found, 3)
    seen = [o for o in outcomes if o.label.colour and o.label.colour_second]
    if seen:
        agreed = [o for o in seen if o.label.colour == o.label.colour_second]
        out["colour_second_n"] = len(seen)
        out["colour_labellers_agree"] = round(len(agreed) / len(seen), 3)
        for half in ("", *HALVES):
            suffix = f"_{half}" if half else ""
            pairs = [(o.label.colour, o.colour) for o in agreed if not half or o.label.half == half]
            _with_interval(out, f"colour_accuracy_agreed{suffix}", pairs)
    times = [o.ms for o in outcomes if o.ms > 0]
    out["ms_per_photo_median"] = round(statistics.median(times), 1) if times else None
    return out


@dataclass(frozen=True, slots=True)
class Confusion:
    rows: list[str]  # the labels
    columns: list[str]  # what citywatch named; "(none)" for a missed vehicle
    counts: list[list[int]]


def confusion(pairs: Sequence[tuple[str, str]]) -> Confusion:
    """Rows the label, columns what citywatch named."""
    shown = [(a, b or "(none)") for a, b in pairs]
    rows = sorted({a for a, _ in shown})
    columns = sorted({a for a, _ in shown} | {b for _, b in shown})
    counts = Counter(shown)
    return Confusion(rows, columns, [[counts[(a, b)] for b in columns] for a in rows])


def plot_confusion(path: Path, table: Confusion, *, title: str) -> Path:
    """The confusion table as a PNG (rows labelled, columns named)."""
    from citywatch.eval.common import new_figure, save_figure

    counts = np.asarray(table.counts, np.float32)
    fig = new_figure(6, 5)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(table.columns)), table.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(table.rows)), table.rows)
    ax.set_xlabel("named by citywatch")
    ax.set_ylabel("labelled by eye")
    ax.set_title(title)
    for (i, k), v in np.ndenumerate(counts):
        if v:
            ax.text(k, i, str(int(v)), ha="center", va="center", fontsize=8)
    return save_figure(fig, path)
