"""Intel OMZ ``vehicle-attributes-recognition-barrier-0039`` against the shipped colour rule and
detector type, on the labelled cars (``bench/vehicles/labels.csv``), in one run.

Issue 20 tried a pretrained attribute model whose weights may ship (Apache-2.0) in place of the
hand-made CIELAB colour rule.  For each labelled truth plate the shipped detector (PP-PicoDet-S,
one thread) finds the vehicle that holds it (as ``citywatch eval vehicles`` does); the rule names
its colour, the detector its type, and the OMZ model both from the vehicle box resized to 72x72
(BGR 0..255, NCHW: the model's own convention, its 1/255 scale is inside the IR).  Its names are
mapped to ours: gray -> grey, van -> truck (our labels call vans truck); it has no brown,
orange or motorcycle (a label of those is counted wrong).  A missed vehicle counts as wrong
for both.  A combination (the model's colour when its top probability reaches a threshold,
else the rule's) is chosen on the even rows (dev) and reported on the odd rows (holdout).

The model is not a citywatch dependency: this runs outside the project's venv, with OpenVINO
(the IR as published, not converted) and citywatch's sources on the path::

    python3 -m venv /tmp/ov && /tmp/ov/bin/pip install openvino numpy opencv-python-headless \\
        onnxruntime pydantic pyyaml rich
    PYTHONPATH=src nice -n 10 /tmp/ov/bin/python bench/vehicles_omz.py \\
        --model /tmp/va/vehicle-attributes-recognition-barrier-0039.xml

The IR came from ``sentairanger/Vehicle-GUI-Classification`` (``models/``, commit 47258f3b);
its SHA-256 is checked against :data:`SHA256`.  Figures: ``docs/vehicles.md`` ("tried and not
shipped").
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from citywatch.config.vehicles import VehiclesConfig
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.vehicles import confusion, load_labels, truth_box
from citywatch.vision.images import load_image
from citywatch.vision.vehicles.colour import name_colour
from citywatch.vision.vehicles.describe import VehicleDescriber, holding
from citywatch.vision.vehicles.registry import build_vehicle_detector

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()
SHA256 = {
    ".xml": "376da48380a0aba95c9312399cfb23e9c8b443aeeb95434b9880d051c4263d28",
    ".bin": "9cec361ba7777456d37ce2393fe8242ea3d76af36cd67614eb2f2531df6662a6",
}
OMZ_COLOURS = ("white", "grey", "yellow", "red", "green", "blue", "black")  # gray -> grey
OMZ_TYPES = ("car", "bus", "truck", "truck")  # car, bus, truck, van -> ours
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.01)  # 1.01: the rule alone

Row = dict[str, Any]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure(model_xml: Path) -> tuple[list[Row], dict[str, float]]:
    import openvino as ov  # only here: not a citywatch dependency

    compiled = ov.Core().compile_model(str(model_xml), "CPU", {"INFERENCE_NUM_THREADS": 1})
    out_type = next(o for o in compiled.outputs if o.get_any_name() == "type")
    out_colour = next(o for o in compiled.outputs if o.get_any_name() == "color")
    describer = VehicleDescriber(build_vehicle_detector(VehiclesConfig(threads=1)))
    rows: list[Row] = []
    rule_ms: list[float] = []
    model_ms: list[float] = []
    for lab in load_labels(REPO / "bench" / "vehicles" / "labels.csv"):
        image = load_image(DATA / lab.image)
        plate = truth_box(DATA / lab.image, lab.plate)
        row: Row = {"half": lab.half, "kind": lab.kind, "colour": lab.colour}
        row.update(det_kind="", rule="", model="", model_kind="", top=0.0)
        found = describer.detect(image) if plate is not None else None
        j = holding(found, plate) if found is not None and plate is not None else None
        if found is not None and plate is not None and j is not None:
            box = found.xyxy[j]
            t0 = time.perf_counter()
            row["rule"] = name_colour(image, box, plate)[0]
            rule_ms.append((time.perf_counter() - t0) * 1000)
            x0, y0, x1, y1 = (round(float(v)) for v in box)
            crop = image[max(0, y0) : y1, max(0, x0) : x1]
            t0 = time.perf_counter()
            blob = cv2.resize(crop, (72, 72)).transpose(2, 0, 1)[None].astype(np.float32)
            res = compiled([blob])
            model_ms.append((time.perf_counter() - t0) * 1000)
            pc, pt = np.ravel(res[out_colour]), np.ravel(res[out_type])
            row.update(
                det_kind=found.kind[j],
                model=OMZ_COLOURS[int(pc.argmax())],
                model_kind=OMZ_TYPES[int(pt.argmax())],
                top=float(pc.max()),
            )
        rows.append(row)
    ms = {
        "rule_ms_median": statistics.median(rule_ms),
        "model_ms_median": statistics.median(model_ms),
    }
    return rows, ms


def accuracy(rows: list[Row], label: str, named: Callable[[Row], str], half: str = "") -> str:
    pairs = [(r[label], named(r)) for r in rows if r[label] and (not half or r["half"] == half)]
    return f"{sum(a == b for a, b in pairs) / len(pairs):.3f}"


def table(rows: list[Row], label: str, named: Callable[[Row], str]) -> str:
    t = confusion([(r[label], named(r)) for r in rows if r[label]])
    lines = ["| label | " + " | ".join(t.columns) + " |", "|---" * (len(t.columns) + 1) + "|"]
    for name, counts in zip(t.rows, t.counts, strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) if v else "" for v in counts) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="the IR's .xml (.bin beside it)")
    args = ap.parse_args()
    for suffix, want in SHA256.items():
        got = sha256(args.model.with_suffix(suffix))
        print(f"{args.model.with_suffix(suffix).name}: sha256 {got}", "" if got == want else "(!)")
    with LoadMeter() as load:
        rows, ms = measure(args.model)
    print(f"{len(rows)} labelled, vehicle found {sum(bool(r['det_kind']) for r in rows)}")
    print("| | all | dev (even rows) | holdout (odd rows) |\n|---|---|---|---|")

    def line(name: str, label: str, named: Callable[[Row], str]) -> None:
        cells = [accuracy(rows, label, named, h) for h in ("", "dev", "holdout")]
        print(f"| {name} | " + " | ".join(cells) + " |")

    line("type: detector (shipped)", "kind", lambda r: r["det_kind"])
    line("type: OMZ 0039", "kind", lambda r: r["model_kind"])
    line("colour: rule (shipped)", "colour", lambda r: r["rule"])
    line("colour: OMZ 0039", "colour", lambda r: r["model"])

    def combined(t: float) -> Callable[[Row], str]:
        return lambda r: r["model"] if r["top"] >= t else r["rule"]

    dev = {t: float(accuracy(rows, "colour", combined(t), "dev")) for t in THRESHOLDS}
    best = max(THRESHOLDS, key=lambda t: (dev[t], t))  # ties to the rule's side
    print("colour, OMZ when its top probability >= t, else the rule (dev):", dev)
    line(f"colour: combined, t={best} chosen on dev", "colour", combined(best))
    print("\ncolour, OMZ 0039 (rows labelled, columns named):")
    print(table(rows, "colour", lambda r: r["model"]))
    print(f"\ntype, OMZ 0039:\n{table(rows, 'kind', lambda r: r['model_kind'])}")
    print(f"\nms per vehicle (one thread, median): {ms}; host load {load.metrics()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
