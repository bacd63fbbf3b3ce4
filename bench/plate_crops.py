"""US plate decoding on crops_us, the development set: the shipped US format against the same
format without its letter prior and state-name list, in one run.

crops_us holds 751 tight crops of US plates from 51 states (``groundtruth.csv``:
``crop,state,PLATE``).  Each crop is set in a grey border (its height above and below, half its
width left and right): a plate filling the whole picture is not what a camera sees, and the
plate stage's shape filters would drop its line.  Each variant runs
:meth:`PlateStage.read_plates` (the code live cameras run) on the same pictures, taking turns;
a plate is read right when the best read equals the truth with the letter O and the digit 0 as
one symbol (as ``citywatch eval plates`` compares).  This is the set the US layout, letter and
name priors were chosen on: report accuracy on images_us (``citywatch eval plates``), not here.

With ``--recognisers`` (names) and ``--rec-model LABEL=FILE`` the variants are recognisers
instead: each reads through its own shipped US-only stage (text detector, reader settings), so
a recogniser is judged on the crops the stage cuts, not on true boxes; with two of them the
plates they disagree on are tested with McNemar's exact test.  ``--frame 1280x720`` places each
crop at its own size in the middle of a grey frame of that size (the text detector then scales
it as it scales a camera's frame) instead of the tight border.

Prints a table (per variant, and the plates the variants read differently), writes
``plate_crops.json`` and a bar plot ``plate_crops.png``.

    .venv/bin/python bench/plate_crops.py [--limit N] [--out bench/out]
    .venv/bin/python bench/plate_crops.py --recognisers ppocrv6-small --rec-model us=FILE.onnx
        [--frame 1280x720]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import (
    Metrics,
    mcnemar_p,
    new_figure,
    rows_table,
    save_figure,
    write_json,
)
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plates import same_plate
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_models
from citywatch.vision.plates.formats import FORMATS, PlateFormat
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.record import ImageBGR
from plate_recognisers import GREY, recognisers, stage_for  # bench/plate_recognisers.py
from plate_recognisers import in_scene as bordered

REPO = Path(__file__).resolve().parents[1]
CROPS = (REPO / ".." / "shared" / "data" / "plates" / "crops_us").resolve()


def in_scene(crop: ImageBGR, frame: tuple[int, int] | None = None) -> ImageBGR:
    """``crop`` bordered in grey as ``bench/plate_recognisers.py`` borders it; or, with
    ``frame`` (width, height), at its own size in the middle of a grey frame that size."""
    if frame is None:
        return bordered(crop)[0]
    h, w = crop.shape[:2]
    fw, fh = frame
    if w > fw or h > fh:
        raise ValueError(f"a crop {w}x{h} does not fit the frame {fw}x{fh}")
    out = np.full((fh, fw, 3), GREY, np.uint8)
    y0, x0 = (fh - h) // 2, (fw - w) // 2
    out[y0 : y0 + h, x0 : x0 + w] = crop
    return out


def frame_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise argparse.ArgumentTypeError(f"--frame {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    return int(w), int(h)


def variant_formats() -> dict[str, PlateFormat]:
    us = FORMATS["US"]
    return {
        "shipped": us,
        "no letter/name priors": dataclasses.replace(us, letter_weights=(), not_plates=frozenset()),
    }


def main() -> int:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=Path, default=CROPS)
    ap.add_argument("--limit", type=int, default=0, help="only the first N crops (0: all)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--recognisers", default="", help="compare these recognisers (names)")
    ap.add_argument("--rec-model", action="append", default=[], help="LABEL=FILE.onnx")
    ap.add_argument("--frame", type=frame_size, default=None, help="WIDTHxHEIGHT grey frame")
    args = ap.parse_args()
    console = Console()
    truth_csv = args.crops / "groundtruth.csv"
    if not truth_csv.is_file():
        console.print(f"[red]no crops_us here: {truth_csv} is missing[/]")
        return 2
    with truth_csv.open(newline="") as fh:
        rows = [r for r in csv.reader(fh) if len(r) >= 3]
    if args.limit:
        rows = rows[: args.limit]
    names = [n for n in args.recognisers.split(",") if n]
    if names or args.rec_model:
        compared = recognisers(names, args.rec_model)
        stages = {label: stage_for(c, ["US"]) for label, c in compared.items()}
    else:
        cfg = PlatesConfig(formats=["US"])
        detector, reader = build_plate_models(cfg)  # one set of models: the variants decode
        stages = {
            name: PlateStage(detector, reader, None, cfg, formats=(fmt,))
            for name, fmt in variant_formats().items()
        }
    ms: dict[str, list[float]] = {name: [] for name in stages}
    cpu: dict[str, list[float]] = {name: [] for name in stages}
    hit: dict[str, list[bool]] = {name: [] for name in stages}
    differ: list[Metrics] = []
    with LoadMeter() as load, Progress(console=console, transient=True) as bar:
        task = bar.add_task("crops_us", total=len(rows))
        for crop_name, state, plate in rows:
            image = in_scene(load_image(args.crops / "usimages" / crop_name), args.frame)
            reads: dict[str, str] = {}
            for name, stage in stages.items():  # take turns: load falls on both alike
                t0, c0 = time.perf_counter(), time.thread_time()
                found = stage.read_plates(image)
                ms[name].append((time.perf_counter() - t0) * 1000.0)
                cpu[name].append((time.thread_time() - c0) * 1000.0)
                reads[name] = found.text[0] if len(found) else ""
                hit[name].append(same_plate(reads[name], plate))
            if len(set(reads.values())) > 1:
                differ.append({"crop": crop_name, "state": state, "truth": plate, **reads})
            bar.advance(task)
    right = {name: sum(hit[name]) for name in stages}
    table: list[Metrics] = [
        {
            "variant": name,
            "plates": len(rows),
            "exact_rate": round(right[name] / max(1, len(rows)), 4),
            "right": right[name],
            "ms_per_crop": round(float(np.mean(ms[name])), 1) if ms[name] else None,
            "cpu_ms_per_crop": round(float(np.mean(cpu[name])), 1) if cpu[name] else None,
        }
        for name in stages
    ]
    console.print(rows_table(f"US plate decoding on {args.crops.name}", table))
    if differ:
        console.print(rows_table("plates the variants read differently", differ))
    flat: Metrics = {"plates": len(rows), "frame": "x".join(map(str, args.frame or ())) or None}
    if len(stages) == 2:
        a, b = stages
        only = {
            a: sum(x and not y for x, y in zip(hit[a], hit[b], strict=True)),
            b: sum(y and not x for x, y in zip(hit[a], hit[b], strict=True)),
        }
        p = mcnemar_p(only[a], only[b])
        flat |= {f"only_{a}": only[a], f"only_{b}": only[b], "mcnemar_p": round(p, 6)}
        console.print(f"plates only {a} reads: {only[a]}; only {b}: {only[b]}; McNemar p {p:.4f}")
    if note := load.note():
        console.print(f"[yellow]note:[/] {note}")
    flat |= load.metrics()
    for row in table:
        for key in ("exact_rate", "right", "ms_per_crop", "cpu_ms_per_crop"):
            flat[f"{row['variant']}.{key}"] = row[key]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "plate_crops.json", flat)
    fig = new_figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh([str(r["variant"]) for r in table], [float(r["exact_rate"] or 0) for r in table])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"exact plate rate on {len(rows)} crops_us plates")
    save_figure(fig, args.out / "plate_crops.png")
    console.print(f"written: {args.out / 'plate_crops.json'}, {args.out / 'plate_crops.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
