"""Vehicle type and colour of the truth plates' cars, against the labels made by eye.

For each row of ``bench/vehicles/labels.csv`` (a plate photo of ``../shared/data/plates``, its
plate text, the type and colour a person saw): the shipped detector (``plates.vehicles``
defaults) runs on the photo, the vehicle whose box holds the truth plate box is taken, and its
type and named body colour are compared with the labels.  Prints the accuracy, the colour
confusion table and ms per photo (one thread; ``host_other_busy`` beside it), and writes
``vehicles.json`` (flat) and ``vehicles.png`` (the confusion table).

    .venv/bin/python bench/vehicles.py [--labels bench/vehicles/labels.csv] [--out bench/out]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from citywatch.config.vehicles import VehiclesConfig
from citywatch.eval.common import new_figure, save_figure, write_json
from citywatch.eval.host_load import load_between, sample
from citywatch.vision.record import Detections
from citywatch.vision.vehicles.describe import VehicleDescriber, holding
from citywatch.vision.vehicles.registry import build_vehicle_detector

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()


def truth_box(image_path: Path, plate: str) -> np.ndarray | None:
    """The truth plate's xyxy box from the photo's ``NAME.txt`` (file, x, y, w, h, text)."""
    txt = image_path.with_suffix(".txt")
    if not txt.is_file():
        return None
    for line in txt.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 6 and parts[5].strip() == plate:
            x, y, w, h = (float(v) for v in parts[1:5])
            return np.array([x, y, x + w, y + h], np.float32)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=REPO / "bench" / "vehicles" / "labels.csv")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console()
    if not DATA.is_dir():
        console.print(f"[red]{DATA} not found (../shared/data)")
        return 2
    describer = VehicleDescriber(build_vehicle_detector(VehiclesConfig()))
    rows = list(csv.DictReader(args.labels.open(encoding="utf-8")))
    kinds: list[tuple[str, str]] = []
    colours: list[tuple[str, str]] = []
    times: list[float] = []
    missed = 0
    before = sample()
    for row in rows:
        path = DATA / row["image"]
        image = cv2.imread(str(path))
        box = truth_box(path, row["plate"])
        if image is None or box is None:
            missed += 1
            continue
        t0 = time.perf_counter()
        found = describer.describe(image, Detections.from_boxes(box[None], [1.0]))
        times.append((time.perf_counter() - t0) * 1000.0)
        j = holding(found, box)
        if j is None:
            missed += 1
            continue
        if row["kind"]:
            kinds.append((row["kind"], found.kind[j]))
        if row["colour"]:
            colours.append((row["colour"], found.colour[j]))
    load = load_between(before, sample())
    type_acc = sum(a == b for a, b in kinds) / max(len(kinds), 1)
    colour_acc = sum(a == b for a, b in colours) / max(len(colours), 1)
    metrics: dict[str, object] = {
        "labelled": len(rows),
        "no_vehicle_around_plate": missed,
        "type_accuracy": round(type_acc, 3),
        "type_n": len(kinds),
        "colour_accuracy": round(colour_acc, 3),
        "colour_n": len(colours),
        "ms_per_photo_median": round(statistics.median(times), 1) if times else 0.0,
    }
    if load is not None:
        metrics.update(load.metrics())
    names = sorted({a for a, _ in colours} | {b for _, b in colours})
    counts = Counter(colours)
    table = Table(title="colour: labelled (rows) vs named (columns)")
    table.add_column("label")
    for n in names:
        table.add_column(n, justify="right")
    for a in names:
        table.add_row(a, *[str(counts[(a, b)] or "") for b in names])
    console.print(metrics)
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "vehicles.json", metrics)
    grid = np.array([[counts[(a, b)] for b in names] for a in names], np.float32)
    fig = new_figure(6, 5)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("named by citywatch")
    ax.set_ylabel("labelled by eye")
    for (i, k), v in np.ndenumerate(grid):
        if v:
            ax.text(k, i, str(int(v)), ha="center", va="center", fontsize=8)
    save_figure(fig, args.out / "vehicles.png")
    console.print(f"wrote {args.out / 'vehicles.json'} and vehicles.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
