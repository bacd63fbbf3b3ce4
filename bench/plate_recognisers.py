"""Plate recognisers compared in one run (issue 15): ``bench/models_plates.py --recognisers``.

Each recogniser reads behind the same constrained decoder with the shipped reader settings
(padding, stretches), and the recognisers take turns on every plate and photo, so load from
other processes falls on all alike; CPU time of the calling thread is reported beside the
counts.  See ``bench/models_plates.py`` for what is measured.

A set may name its own half (``--set images_us:US:a --set images_us:US:b``: both halves of the
US photos in one run; the row is labelled ``images_us (a)``), and ``--rec-model LABEL=FILE``
labels a model file (a fine-tuned recogniser's checkpoints side by side).
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import Progress

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import Metrics, new_figure, rows_table, save_figure, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plates import (
    PlateImageReport,
    Subset,
    char_accuracy,
    load_photos,
    same_plate,
    score_photo,
)
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_models
from citywatch.vision.plates.ensemble import MeanRecogniser
from citywatch.vision.plates.formats import resolve
from citywatch.vision.plates.ppocr import CtcPlateReader, CtcRecogniser, LineRecogniser
from citywatch.vision.plates.recognisers import recogniser_path
from citywatch.vision.plates.stage import PlateStage
from citywatch.vision.record import ImageBGR

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()
SETS = ("images_eu:HR,RS,DE,SK,CZ,EU", "images_us:US", "crops_us:US", "crops_nl:NL")
GREY = (90, 90, 90)


@dataclass(frozen=True)
class PlateCrop:
    image: ImageBGR
    box: tuple[float, float, float, float]
    truth: str


def in_scene(crop: ImageBGR) -> tuple[ImageBGR, tuple[float, float, float, float]]:
    """``crop`` in a grey border (its height above and below, half its width at each side),
    and where the crop lies in it."""
    h, w = crop.shape[:2]
    framed = cv2.copyMakeBorder(crop, h, h, w // 2, w // 2, cv2.BORDER_CONSTANT, value=GREY)
    return np.asarray(framed, np.uint8), (w // 2, h, w // 2 + w, 2 * h)


def plate_crops(folder: Path, subset: Subset) -> list[PlateCrop]:
    """Every true plate of a set: photo sets by their truth boxes, crop sets whole."""
    if (folder / "groundtruth.csv").is_file():  # crops_us: crop,state,PLATE
        with (folder / "groundtruth.csv").open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if len(r) >= 3]
        out = []
        for name, _, plate in rows:
            image, box = in_scene(load_image(folder / "usimages" / name))
            out.append(PlateCrop(image, box, plate))
        return out
    if folder.name.startswith("crops_"):  # crops_nl: the file name is the plate
        out = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".jpg", ".png", ".bmp"):
                image, box = in_scene(load_image(path))
                out.append(PlateCrop(image, box, path.stem.split("_")[0]))
        return out
    return [
        PlateCrop(load_image(photo.image), plate.box, plate.text)
        for photo in load_photos(folder, subset)
        for plate in photo.plates
    ]


@dataclass(frozen=True)
class Compared:
    """One compared recogniser: its model files (None: the default, found by its package; two
    or more: an ensemble, their probabilities averaged) and its name for the config ("": read
    from the files)."""

    files: tuple[Path | None, ...]
    name: str = ""

    def recogniser(self) -> LineRecogniser:
        recs = [CtcRecogniser(f, threads=1) for f in self.files]
        return recs[0] if len(recs) == 1 else MeanRecogniser(recs)


def recognisers(names: list[str], extra: list[str]) -> dict[str, Compared]:
    """Label -> what is compared; ``extra``: model files, each ``FILE`` (labelled
    ``file:<stem>``) or ``LABEL=FILE``, where ``FILE`` may be ``A+B``: an ensemble of two
    (each a file or a recogniser's name)."""
    from citywatch.config.root import default_models_dir

    def model_file(part: str) -> Path | None:
        path = Path(part)
        return path if path.suffix == ".onnx" else recogniser_path(part, default_models_dir())

    out: dict[str, Compared] = {}
    for name in names:
        out[name] = Compared((recogniser_path(name, default_models_dir()),), name)
    for spec in extra:
        label, sep, file = spec.partition("=")
        parts = (file if sep else spec).split("+")
        out[label if sep else f"file:{Path(parts[0]).stem}"] = Compared(
            tuple(model_file(p) for p in parts)
        )
    return out


def per_plate(
    crops: list[PlateCrop], formats: list[str], models: dict[str, Compared]
) -> dict[str, Metrics]:
    cfg = PlatesConfig(formats=formats).reader  # type: ignore[arg-type]
    fmts = resolve(formats)
    readers = {
        label: CtcPlateReader.from_config(compared.recogniser(), cfg)
        for label, compared in models.items()
    }
    exact = dict.fromkeys(readers, 0)
    chars = dict.fromkeys(readers, 0.0)
    cpu: dict[str, list[float]] = {k: [] for k in readers}
    for crop in crops:
        box = np.array([crop.box], np.float32)
        for label, reader in readers.items():  # take turns
            c0 = time.thread_time()
            cands = reader.read_formatted(crop.image, box, fmts)[0]
            cpu[label].append((time.thread_time() - c0) * 1000.0)
            read = cands[0].text if cands else ""
            exact[label] += same_plate(read, crop.truth)
            chars[label] += char_accuracy(read, crop.truth)
    n = max(1, len(crops))
    return {
        label: {
            "plates": len(crops),
            "exact_rate": round(exact[label] / n, 4),
            "char_accuracy": round(chars[label] / n, 4),
            "cpu_ms_per_plate": round(float(np.mean(cpu[label])), 2) if cpu[label] else None,
        }
        for label in readers
    }


def stage_for(compared: Compared, formats: list[str]) -> PlateStage:
    """The shipped plate stage for ``formats``, reading with ``compared``."""
    reader: dict[str, str] = {}
    if compared.name:
        reader = {"recogniser": compared.name}
    elif len(compared.files) == 1 and compared.files[0] is not None:
        reader = {"rec_model": str(compared.files[0])}
    cfg = PlatesConfig.model_validate({"formats": formats, "reader": reader})
    detector, read = build_plate_models(cfg)
    if len(compared.files) > 1:  # an ensemble: its members read instead
        read = CtcPlateReader.from_config(compared.recogniser(), cfg.reader)
    return PlateStage(detector, read, None, cfg)


def per_photo(
    folder: Path,
    formats: list[str],
    subset: Subset,
    models: dict[str, Compared],
) -> dict[str, Metrics]:
    photos = load_photos(folder, subset)
    stages = {label: stage_for(compared, formats) for label, compared in models.items()}
    reports = {label: PlateImageReport() for label in stages}
    for photo in photos:
        image = load_image(photo.image)
        for label, stage in stages.items():  # take turns
            c0 = time.thread_time()
            plates = stage.read_plates(image)
            reports[label].cpu_ms.append((time.thread_time() - c0) * 1000.0)
            reports[label].ms.append(0.0)
            reports[label].outcomes.extend(score_photo(photo, plates, stage.formats))
    out: dict[str, Metrics] = {}
    for label, report in reports.items():
        m = report.metrics(folder.name, subset)
        out[label] = {
            "photos": len(photos),
            "photo_exact_rate": round(float(m["exact_rate"] or 0), 4),
            "photo_char_accuracy": round(float(m["char_accuracy"] or 0), 4),
            "photo_found_rate": round(float(m["found_rate"] or 0), 4),
            "cpu_ms_per_photo": round(float(m["cpu_ms_per_image"] or 0), 1),
        }
    return out


def plot(rows: list[Metrics], path: Path) -> Path:
    sets = list(dict.fromkeys(str(r["set"]) for r in rows))
    labels = list(dict.fromkeys(str(r["recogniser"]) for r in rows))
    fig = new_figure(11.0, 4.0)
    acc, ms = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    x = np.arange(len(sets))
    width = 0.8 / max(1, len(labels))
    for k, label in enumerate(labels):
        by = {str(r["set"]): r for r in rows if r["recogniser"] == label}
        off = (k - (len(labels) - 1) / 2) * width
        acc.bar(x + off, [float(by[s]["exact_rate"] or 0) for s in sets], width, label=label)
        ms.bar(x + off, [float(by[s]["cpu_ms_per_plate"] or 0) for s in sets], width, label=label)
    for ax, title in ((acc, "exact rate per plate"), (ms, "CPU ms per plate (one thread)")):
        ax.set_xticks(x, sets, rotation=10, fontsize="small")
        ax.set_title(title)
        ax.legend(fontsize="x-small")
    acc.set_ylim(0, 1)
    return save_figure(fig, path)


def main(argv: list[str]) -> int:
    keep_freed_buffers()
    ap = argparse.ArgumentParser(description="plate recognisers compared")
    ap.add_argument("--recognisers", default="ppocrv6-plates,ppocrv4,ppocrv6-small,plate-crnn")
    ap.add_argument(
        "--rec-model",
        action="append",
        default=[],
        help="FILE or LABEL=FILE (FILE: A+B, an ensemble)",
    )
    ap.add_argument("--set", action="append", default=[], help="FOLDER:FORMATS[:a|b|all]")
    ap.add_argument("--subset", choices=("all", "a", "b"), default="all")
    ap.add_argument("--no-photos", action="store_true", help="per plate only (faster)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)
    console = Console()
    models = recognisers([n for n in args.recognisers.split(",") if n], args.rec_model)
    rows: list[Metrics] = []
    with LoadMeter() as load, Progress(console=console, transient=True) as bar:
        specs = args.set or list(SETS)
        task = bar.add_task("sets", total=len(specs))
        for spec in specs:
            name, _, rest = spec.partition(":")
            formats, _, half = rest.partition(":")
            if half not in ("", "all", "a", "b"):
                ap.error(f"--set {spec}: the half is a, b or all")
            subset: Subset = half or args.subset
            folder = DATA / name
            fmts = formats.split(",")
            plates = per_plate(plate_crops(folder, subset), fmts, models)
            photos: dict[str, Metrics] = {}
            if not args.no_photos and not name.startswith("crops_"):
                photos = per_photo(folder, fmts, subset, models)
            shown = f"{name} ({half})" if half else name
            for label in models:
                rows.append({"set": shown, "recogniser": label, **plates[label],
                             **photos.get(label, {})})  # fmt: skip
            bar.advance(task)
    console.print(rows_table(f"Plate recognisers ({args.subset})", rows))
    if note := load.note():
        console.print(f"[yellow]note:[/] {note}")
    flat: Metrics = {"subset": args.subset, **load.metrics()}
    for r in rows:
        for k, v in r.items():
            if k not in ("set", "recogniser"):
                flat[f"{r['set']}.{r['recogniser']}.{k}"] = v
    write_json(args.out / "models_plates_recognisers.json", flat)
    plot(rows, args.out / "models_plates_recognisers.png")
    console.print(f"written: {args.out / 'models_plates_recognisers.json'} and .png")
    return 0
