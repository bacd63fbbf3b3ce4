"""Plate reading on the Romanian dashcam frames (issue 15): data that chose no model.

``RobertLucian/license-plate-dataset`` (MIT) has 534 frames at 1280x720 from four drives with
652 plate boxes in VOC XML, but no plate text.  ``bench/plates_ro_truth.csv`` gives the text of
the plates at least 120 px wide (235 boxes), transcribed by eye from the crops before any
recogniser read them (``?``: not readable, left out); narrower plates are left out (too small
to read by eye at dashcam resolution).

Each photo with a transcribed plate goes through the whole plate stage (detector, recogniser,
format-aware decoding) as ``citywatch eval plates`` runs it, once per recogniser, the
recognisers taking turns on every photo so load from other processes falls on all alike.
Counts are per transcribed plate (``exact``: the read next to the plate equals the truth) with
95 % Wilson intervals, also per drive and per distinct plate (a car is seen in many frames, so
frames are not independent).

    python bench/plates_ro.py --data /tmp/ro/dataset --rec-model ft800=/tmp/v6ft/onnx/s800.onnx
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import Metrics, rows_table, wilson, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plates import PlateOutcome, load_photos, score_photo
from citywatch.eval.voc import voc_boxes
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.stage import PlateStage

REPO = Path(__file__).resolve().parents[1]
TRUTH = REPO / "bench" / "plates_ro_truth.csv"


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def build_folder(data: Path, truth: Path, folder: Path) -> dict[str, int]:
    """Links to the frames with a transcribed plate, each with an openalpr-style NAME.txt."""
    images = {p.name: p for p in data.glob("*/images/*.jpg")}
    annots = {p.name: p for p in data.glob("*/annots/*.xml")}
    rows: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with truth.open(newline="") as fh:
        for r in csv.DictReader(fh):
            rows[r["image"]].append((int(r["box"]), r["plate"]))
    counts = {"rows": 0, "unreadable": 0, "photos": 0}
    for image, plates in sorted(rows.items()):
        boxes = voc_boxes(annots[image.removesuffix(".jpg") + ".xml"])
        lines = []
        for k, plate in plates:
            counts["rows"] += 1
            if plate == "?":
                counts["unreadable"] += 1
                continue
            x0, y0, x1, y1 = boxes[k]
            lines.append(f"{image}\t{x0:.1f}\t{y0:.1f}\t{x1 - x0:.1f}\t{y1 - y0:.1f}\t{plate}")
        if lines:
            counts["photos"] += 1
            link = folder / safe(image)
            link.symlink_to(images[image].resolve())
            link.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def stages(
    formats: list[str], names: list[str], files: list[str], variants: Sequence[str] = ()
) -> dict[str, PlateStage]:
    out: dict[str, PlateStage] = {}
    for name in names:  # "default": the shipped reader for these formats
        reader = {} if name == "default" else {"recogniser": name}
        cfg = PlatesConfig.model_validate({"formats": formats, "reader": reader})
        out[name] = build_plate_stage(cfg, track=False)
    for spec in files:
        label, _, file = spec.partition("=")
        cfg = PlatesConfig.model_validate({"formats": formats, "reader": {"rec_model": file}})
        out[label] = build_plate_stage(cfg, track=False)
    for spec in variants:  # LABEL=JSON: reader settings, e.g. one='{"stretches": [1.0]}',
        # or plates settings by section, e.g. ours='{"detector": {"type": "plates"}}'
        label, _, settings = spec.partition("=")
        given = json.loads(settings)
        by_section = bool(given) and set(given) <= {"reader", "detector"}
        cfg = PlatesConfig.model_validate(
            {"formats": formats, **(given if by_section else {"reader": given})}
        )
        out[label] = build_plate_stage(cfg, track=False)
    return out


def summarise(label: str, outs: list[PlateOutcome], ms: list[float], cpu: list[float]) -> Metrics:
    n, k = len(outs), sum(o.exact for o in outs)
    lo, hi = wilson(k, n)
    plates: dict[str, list[bool]] = defaultdict(list)
    for o in outs:
        plates[o.truth].append(o.exact)
    row: Metrics = {
        "recogniser": label,
        "plates": n,
        "exact": k,
        "exact_rate": round(k / n, 4),
        "wilson_lo": round(lo, 4),
        "wilson_hi": round(hi, 4),
        "found_rate": round(sum(o.found for o in outs) / n, 4),
        "distinct_plates": len(plates),
        "distinct_all_exact": sum(all(v) for v in plates.values()),
        "ms_per_photo": round(sum(ms) / len(ms), 1),
        "cpu_ms_per_photo": round(sum(cpu) / len(cpu), 1),
    }
    for drive in sorted({o.image.split(".mp4")[0] for o in outs}):
        sub = [o for o in outs if o.image.startswith(drive)]
        row[f"exact_{drive}"] = f"{sum(o.exact for o in sub)}/{len(sub)}"
    return row


def main() -> int:
    keep_freed_buffers()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the dataset/ folder of the repo")
    ap.add_argument("--truth", type=Path, default=TRUTH)
    ap.add_argument("--formats", default=",".join(PlatesConfig().formats))
    ap.add_argument("--recognisers", default="default,ppocrv4,ppocrv6-small")
    ap.add_argument("--rec-model", action="append", default=[], help="LABEL=FILE")
    ap.add_argument("--variant", action="append", default=[], help="LABEL=JSON reader settings")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console(width=240)
    formats = args.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp, LoadMeter() as load:
        folder = Path(tmp)
        counts = build_folder(args.data, args.truth, folder)
        photos = load_photos(folder)
        names = [n for n in args.recognisers.split(",") if n]
        runs = stages(formats, names, args.rec_model, args.variant)
        outs: dict[str, list[PlateOutcome]] = {k: [] for k in runs}
        ms: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for photo in photos:
            image = load_image(photo.image)
            for label, stage in runs.items():  # take turns
                t0, c0 = time.perf_counter(), time.thread_time()
                plates = stage.read_plates(image)
                cpu[label].append((time.thread_time() - c0) * 1000.0)
                ms[label].append((time.perf_counter() - t0) * 1000.0)
                outs[label].extend(score_photo(photo, plates, stage.formats))
    rows = [summarise(label, outs[label], ms[label], cpu[label]) for label in runs]
    console.print(rows_table(f"Romanian dashcam frames, formats {args.formats}", rows))
    console.print(f"transcriptions: {counts}; photos {len(photos)}")
    if note := load.note():
        console.print(f"[yellow]note:[/] {note}")
    flat: Metrics = {"formats": args.formats, **counts, **load.metrics()}
    for r in rows:
        for key, v in r.items():
            if key != "recogniser":
                flat[f"{r['recogniser']}.{key}"] = v
    misses = {k: [f"{o.image}: {o.truth} read {o.read!r}" for o in v if not o.exact]
              for k, v in outs.items()}  # fmt: skip
    write_json(args.out / "plates_ro.json", flat)
    misses_path = args.out / "plates_ro_misses.json"
    misses_path.write_text(json.dumps(misses, indent=1) + "\n", encoding="utf-8")
    console.print(f"written: {args.out / 'plates_ro.json'} and {misses_path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
