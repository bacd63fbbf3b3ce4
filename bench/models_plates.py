"""Plate back ends and reader settings compared on the same photos in one run: accuracy and ms.

Every variant runs :meth:`PlateStage.read_plates` (the code live cameras run) on the same
photos with openalpr-style truth, scored like `citywatch eval plates`.  The variants take turns
on each photo, so load from other processes falls on all of them alike; CPU time of the calling
thread is reported beside wall time.

* ``greedy``        -- the recogniser's best guess, repaired by fixed rules afterwards;
* ``constrained``   -- its per-character probabilities decoded against the formats;
* ``+stretch``      -- doubtful plates read again widened 1.4x, the reads merged;
* ``+retry``        -- the shipped default: frames without a read searched again zoomed in;
* ``yolo``          -- with ``--yolo MODEL.onnx``: a YOLO-style plate detector in front.

Writes a table to the console, ``models_plates.json`` (flat keys ``<set>.<variant>.<metric>``)
and ``models_plates.png``.

With ``--recognisers ppocrv6-plates,ppocrv4,ppocrv6-small,plate-crnn`` (and ``--rec-model
FILE.onnx`` for a model not shipped) it compares plate *recognisers* instead (issue 15), each
behind the same constrained decoder and the shipped reader settings, taking turns on every
plate:

* per plate: the recogniser alone on each true plate box (the reader's padding, the config's
  stretches), so the detector does not enter: exact rate, character accuracy, CPU ms per plate;
  on the photo sets' boxes and on ``crops_us`` / ``crops_nl`` (each crop set in a grey border);
* per photo (the photo sets): the whole plate stage with that recogniser: exact rate, char
  accuracy, CPU ms per photo.

Written as ``models_plates_recognisers.json`` and ``.png``.

With ``--breakdown`` it splits the shipped stage's CPU time per photo into text detector,
candidate filtering, recogniser runs (and how many), format decoding and the rest
(``bench/plate_breakdown.py``); with ``--detectors`` it adds plate *detectors* compared in the
same run (issue 15): the shipped text detector and OpenCV zoo's LPD-YuNet at several sizes and
score floors, plates found and ms per photo, and end to end with the shipped reader (LPD-YuNet
boxes refined or read directly, and the text detector searching only inside detected vehicles)
(``bench/plate_detectors.py``; ``models_plates_detectors_<subset>.json`` and ``.png``).
Host load is printed beside the times.

    .venv/bin/python bench/models_plates.py [--set images_us:US] [--set images_eu:HR,RS,...]
        [--subset a|b|all] [--yolo MODEL.onnx] [--out bench/out]
    .venv/bin/python bench/models_plates.py --recognisers ppocrv4,plate-crnn [--subset a]
        [--set crops_us:US] [--rec-model var/train/plates-v1/plate_crnn.onnx]
    .venv/bin/python bench/models_plates.py --breakdown [--subset a]
    .venv/bin/python bench/models_plates.py --detectors [--lpd-yunet FILE.onnx]
        [--lpd-floor 0.3] [--lpd-side 640] [--subset a|b|all]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.console import Console

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import Metrics, rows_table, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plates import PlateImageReport, load_photos, near, score_photo
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.stage import PlateStage

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()
SETS = ("images_eu:HR,RS,DE,SK,CZ,EU", "images_us:US")
COLUMNS = ("exact_rate", "char_accuracy", "found_rate", "ms_per_image", "cpu_ms_per_image")


def variants(formats: list[str], yolo: Path | None) -> dict[str, PlatesConfig]:
    base: dict[str, Any] = {"formats": formats}
    single = {"stretches": [1.0], "det_retry_side": None}
    out = {
        "greedy": {**base, "reader": {"decoder": "greedy", **single}},
        "constrained": {**base, "reader": single},
        "+stretch": {**base, "reader": {"det_retry_side": None}},
        "+retry": base,
    }
    if yolo is not None:
        out["yolo"] = {**base, "detector": {"type": "yolo", "model": str(yolo)}}
    return {name: PlatesConfig.model_validate(cfg) for name, cfg in out.items()}


def measure(
    folder: Path, formats: list[str], subset: Literal["all", "a", "b"], yolo: Path | None
) -> list[Metrics]:
    photos = load_photos(folder, subset)
    stages: dict[str, PlateStage] = {
        name: build_plate_stage(cfg, track=False) for name, cfg in variants(formats, yolo).items()
    }
    reports = {name: PlateImageReport() for name in stages}
    for photo in photos:
        image = load_image(photo.image)
        for name, stage in stages.items():  # take turns: load falls on every variant alike
            t0, c0 = time.perf_counter(), time.thread_time()
            plates = stage.read_plates(image)
            reports[name].ms.append((time.perf_counter() - t0) * 1000.0)
            reports[name].cpu_ms.append((time.thread_time() - c0) * 1000.0)
            reports[name].outcomes.extend(score_photo(photo, plates, stage.formats))
            reports[name].extra_reads += sum(
                not any(near(b, tp.box) for tp in photo.plates) for b in plates.xyxy
            )
    rows = []
    for name, report in reports.items():
        m = report.metrics(folder.name, subset)
        rows.append({"set": folder.name, "variant": name, **{k: m[k] for k in COLUMNS}})
    return rows


def plot(rows: list[Metrics], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sets = sorted({str(r["set"]) for r in rows})
    names = list(dict.fromkeys(str(r["variant"]) for r in rows))
    fig = Figure(figsize=(11, 4), dpi=110)
    FigureCanvasAgg(fig)
    acc, ms = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    x = np.arange(len(names))
    width = 0.8 / max(1, len(sets))
    for k, s in enumerate(sets):
        by = {str(r["variant"]): r for r in rows if r["set"] == s}
        off = (k - (len(sets) - 1) / 2) * width
        acc.bar(x + off, [float(by[n]["exact_rate"] or 0) for n in names], width, label=s)
        ms.bar(x + off, [float(by[n]["cpu_ms_per_image"] or 0) for n in names], width, label=s)
    for ax, title in ((acc, "exact_rate"), (ms, "CPU ms per image (one thread)")):
        ax.set_xticks(x, names, rotation=15, fontsize="small")
        ax.set_title(title)
        ax.legend(fontsize="x-small")
    acc.set_ylim(0, 1)
    ms.axhline(100, color="grey", linestyle=":", linewidth=0.8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if any(a.startswith("--recognisers") for a in argv):
        from plate_recognisers import main as compare  # bench/plate_recognisers.py

        return compare(argv)
    if "--breakdown" in argv or "--detectors" in argv:
        from plate_detectors import main as detectors  # bench/plate_detectors.py

        return detectors(argv)

    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--set", action="append", default=[], help="FOLDER:FORMATS under ../shared/data/plates"
    )
    ap.add_argument("--subset", choices=("all", "a", "b"), default="all")
    ap.add_argument("--yolo", type=Path, default=None, help="a local YOLO-style plate .onnx")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)

    console = Console()
    rows: list[Metrics] = []
    with LoadMeter() as load:
        for spec in args.set or SETS:
            folder, _, formats = spec.partition(":")
            started = time.perf_counter()
            rows += measure(DATA / folder, formats.split(","), args.subset, args.yolo)
            console.print(f"{folder}: done in {time.perf_counter() - started:.0f} s")
    console.print(rows_table(f"Plate variants ({args.subset})", rows))
    flat: Metrics = {"subset": args.subset, **load.metrics()}
    for r in rows:
        for k in COLUMNS:
            flat[f"{r['set']}.{r['variant']}.{k}"] = r[k]
    write_json(args.out / "models_plates.json", flat)
    plot(rows, args.out / "models_plates.png")
    console.print(f"written: {args.out / 'models_plates.json'}, {args.out / 'models_plates.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
