"""Vehicle type and colour of the truth plates' cars, against the labels made by eye.

The same run as ``citywatch eval vehicles`` (:mod:`citywatch.eval.vehicles`) with the shipped
defaults on ``../shared/data/plates``: for each row of ``bench/vehicles/labels.csv`` the
detector runs on the photo, the vehicle whose box holds the truth plate is taken, and its type
and named body colour are compared with the labels; accuracy on the dev half (even rows: the
colour thresholds were chosen there), the held-out half (odd rows) and all, each with its 95 %
Wilson interval; the second labeller's agreement and the accuracy on the cars both named alike;
the confusion tables of each half and all; ms per photo (one thread; ``host_other_busy`` beside
it).  Writes ``vehicles.json`` (flat) and ``vehicle_colours.png``.

    .venv/bin/python bench/vehicles.py [--labels bench/vehicles/labels.csv] [--out bench/out]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from citywatch.cli.eval_vehicles import confusion_table
from citywatch.config.vehicles import VehiclesConfig
from citywatch.eval.common import print_metrics, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.vehicles import (
    HALVES,
    confusion,
    describe_labelled,
    load_labels,
    pairs_of,
    plot_confusion,
    vehicle_metrics,
)
from citywatch.vision.vehicles.describe import VehicleDescriber
from citywatch.vision.vehicles.registry import build_vehicle_detector

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--labels", type=Path, default=REPO / "bench" / "vehicles" / "labels.csv")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console()
    if not DATA.is_dir():
        console.print(f"[red]{DATA} not found (../shared/data)")
        return 2
    describer = VehicleDescriber(build_vehicle_detector(VehiclesConfig()))
    with LoadMeter() as load:
        outcomes = describe_labelled(load_labels(args.labels), DATA, describer)
    metrics = vehicle_metrics(outcomes, args.labels.name)
    metrics.update(load.metrics())
    print_metrics(console, "vehicles", metrics)
    for what in ("kind", "colour"):
        for half in ("", *HALVES):
            console.print(
                confusion_table(
                    f"{what}, {half or 'all'}: labelled (rows) vs named",
                    confusion(pairs_of(outcomes, what, half)),
                )
            )
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "vehicles.json", metrics)
    plot_confusion(
        args.out / "vehicle_colours.png",
        confusion(pairs_of(outcomes, "colour")),
        title="body colour",
    )
    console.print(f"wrote {args.out / 'vehicles.json'} and vehicle_colours.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
