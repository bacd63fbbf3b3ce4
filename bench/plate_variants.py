"""Error analysis of the shipped plate stage on one half of a photo set, and crop variants read
on the stage's own boxes (issue 15).

The shipped stage (:func:`~citywatch.vision.plates.build.build_plate_stage` with only
``formats`` set) reads every photo of the half; for each true plate the best read near it is
kept with its box (as ``citywatch eval plates`` scores).  Every plate read wrong is listed with
its candidates, and with ``--pictures`` its surroundings (true box green, the boxes read red)
and the crop as read are written as PNGs to look at.

Then each found plate's box is read again as crop *variants*: the recogniser at several
horizontal stretches, with other margins, and with the crop's contrast equalised (CLAHE),
stretched (2-98 percentile), sharpened (unsharp mask) or made grey; with ``--also NAME`` by a
second recogniser too.  Each variant is decoded against the formats on its own, and merged with
the shipped reading (the stretches of ``plates.reader.stretches`` at its margins, merged by
:func:`~citywatch.vision.plates.ppocr.merge_candidates`: a text's mean score over the reads).
The table says how many plates each variant reads right alone and merged, beside the shipped
reading of the same boxes; ``oracle`` counts the plates some variant reads right (what any way
of choosing among these variants could reach at best).  The boxes stay the stage's, so this
measures the crop and the recogniser, not the detector.

Tune on one half (``--set images_us:US:a``) and report on the other.

    .venv/bin/python bench/plate_variants.py --set images_us:US:a [--also ppocrv4] [--pictures]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.progress import Progress

from citywatch.config.plates import PlatesConfig
from citywatch.config.root import default_models_dir
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import Metrics, rows_table, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plates import Subset, load_photos, near, same_plate
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.ctc import decode, slots
from citywatch.vision.plates.formats import Candidate, PlateFormat, resolve
from citywatch.vision.plates.ppocr import CtcRecogniser, merge_candidates
from citywatch.vision.plates.rapidocr_backend import crop_padded
from citywatch.vision.plates.recognisers import reader_model
from citywatch.vision.record import FloatArray, ImageBGR

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data" / "plates").resolve()
STRETCHES = (0.8, 1.0, 1.4, 1.8)
MARGINS = ((0.05, 0.15), (0.3, 0.15), (0.15, 0.05), (0.15, 0.3))  # (pad_x, pad_y) x height
# the line's box grown to about its plate (a US serial is 40-50 % of the plate's height)
PLATE_MARGINS = ((0.2, 0.6), (0.25, 0.8), (0.3, 1.0))


def clahe(crop: ImageBGR) -> ImageBGR:
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(lab[:, :, 0])
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), np.uint8)


def levels(crop: ImageBGR) -> ImageBGR:
    g = crop.astype(np.float32)
    lo, hi = float(np.percentile(g, 2)), float(np.percentile(g, 98))
    return np.asarray(np.clip((g - lo) * 255.0 / max(hi - lo, 1.0), 0, 255), np.uint8)


def sharpen(crop: ImageBGR) -> ImageBGR:
    blur = cv2.GaussianBlur(crop, (0, 0), 1.0)
    return np.asarray(cv2.addWeighted(crop, 1.6, blur, -0.6, 0), np.uint8)


def grey(crop: ImageBGR) -> ImageBGR:
    return np.asarray(cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))


FILTERS: dict[str, Callable[[ImageBGR], ImageBGR]] = {
    "clahe": clahe,
    "levels": levels,
    "sharpen": sharpen,
    "grey": grey,
}


@dataclass(frozen=True)
class Variant:
    recogniser: str
    stretch: float
    pad_x: float
    pad_y: float
    filter: str = ""

    @property
    def label(self) -> str:
        what = self.filter or f"pad {self.pad_x:g}/{self.pad_y:g}"
        return f"{self.recogniser} x{self.stretch:g} {what}"


@dataclass
class Plate:
    image: Path
    truth: str
    read: str
    box: FloatArray | None
    boxes_read: FloatArray


def stage_reads(folder: Path, subset: Subset, cfg: PlatesConfig) -> list[Plate]:
    """The shipped stage's read of every true plate of the half (box None: nothing near it)."""
    stage = build_plate_stage(cfg, track=False)
    out = []
    for photo in load_photos(folder, subset):
        found = stage.read_plates(load_image(photo.image))
        scores = found.text_score if found.text_score is not None else found.score
        for tp in photo.plates:
            near_ = [i for i in range(len(found)) if near(found.xyxy[i], tp.box)]
            best = max(near_, key=lambda i: float(scores[i])) if near_ else -1
            out.append(
                Plate(
                    photo.image,
                    tp.text,
                    found.text[best] if best >= 0 else "",
                    found.xyxy[best].copy() if best >= 0 else None,
                    found.xyxy.copy(),
                )
            )
    return out


def read_variant(
    rec: CtcRecogniser, image: ImageBGR, box: FloatArray, v: Variant, formats: Sequence[PlateFormat]
) -> list[Candidate]:
    crop = crop_padded(image, box, v.pad_x, v.pad_y)
    if v.filter:
        crop = FILTERS[v.filter](np.ascontiguousarray(crop))
    return decode(slots(rec.probabilities([crop], stretch=v.stretch)[0]), formats)


def write_pictures(
    plate: Plate, truth_box: FloatArray, out: Path, pad: tuple[float, float]
) -> None:
    image = load_image(plate.image)
    vis = image.copy()
    x0, y0, x1, y1 = (int(v) for v in truth_box)
    for b in plate.boxes_read:
        a, c, d, e = (int(v) for v in b)
        cv2.rectangle(vis, (a, c), (d, e), (0, 0, 255), 1)
    cv2.rectangle(vis, (x0, y0), (x1, y1), (0, 255, 0), 1)
    w, h = x1 - x0, y1 - y0
    ctx = vis[max(0, y0 - 2 * h) : y1 + 2 * h, max(0, x0 - w) : x1 + w]
    scale = 400.0 / max(1, ctx.shape[1])
    cv2.imwrite(
        str(out / f"{plate.image.stem}_context.png"), cv2.resize(ctx, None, fx=scale, fy=scale)
    )
    if plate.box is not None:
        crop = crop_padded(image, plate.box, *pad)
        scale = 96.0 / max(1, crop.shape[0])
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(out / f"{plate.image.stem}_crop.png"), big)


def main(argv: list[str] | None = None) -> int:
    keep_freed_buffers()
    ap = argparse.ArgumentParser(description="plate misses and crop variants on one half")
    ap.add_argument("--set", default="images_us:US:a", help="FOLDER:FORMATS:HALF (a, b, all)")
    ap.add_argument(
        "--also", default="", help="a second recogniser's variants (a name, or an .onnx file)"
    )
    ap.add_argument(
        "--plate-margins",
        action="store_true",
        help="also read each line's box grown to about its plate, by each recogniser",
    )
    ap.add_argument("--pictures", action="store_true", help="PNGs of every plate read wrong")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)
    name, _, rest = args.set.partition(":")
    formats_, _, half = rest.partition(":")
    half = half or "all"
    if half not in ("a", "b", "all"):
        ap.error(f"--set {args.set}: the half is a, b or all")
    subset: Subset = half  # type: ignore[assignment]
    cfg = PlatesConfig.model_validate({"formats": formats_.split(",")})
    console = Console()
    pad = (cfg.reader.pad_x, cfg.reader.pad_y)
    shipped = [Variant("shipped", s, *pad) for s in cfg.reader.stretches]
    names = []  # the shipped recogniser's name (``auto`` resolved), then --also's
    recs = {}
    for asked in [cfg.reader.recogniser, *([args.also] if args.also else [])]:
        if asked.endswith(".onnx"):
            label, path = Path(asked).stem, Path(asked)
        else:
            label, path = reader_model(
                asked, cfg.reader.rec_model, cfg.formats, default_models_dir()
            )
        names.append(label)
        recs[label] = CtcRecogniser(path)
    recs["shipped"] = recs[names[0]]
    variants = [
        *(Variant(n, s, *pad) for n in names for s in STRETCHES),
        *(Variant(names[0], s, px, py) for s in STRETCHES[:3] for px, py in MARGINS),
        *(Variant(names[0], s, *pad, f) for s in STRETCHES[:3] for f in FILTERS),
    ]
    if args.plate_margins:
        variants += [
            Variant(n, s, px, py) for n in names for s in STRETCHES[1:3] for px, py in PLATE_MARGINS
        ]
    formats = resolve(cfg.formats)
    with LoadMeter() as load:
        plates = stage_reads(DATA / name, subset, cfg)
        found = [p for p in plates if p.box is not None]
        reads: dict[tuple[int, str], list[Candidate]] = {}
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("variants", total=len(found))
            for k, p in enumerate(found):
                image = load_image(p.image)
                assert p.box is not None
                for v in [*shipped, *variants]:
                    reads[(k, v.label)] = read_variant(recs[v.recogniser], image, p.box, v, formats)
                bar.advance(task)

    def right(cands: Sequence[Candidate], truth: str) -> bool:
        return bool(cands) and same_plate(cands[0].text, truth)

    def base(k: int) -> list[list[Candidate]]:
        return [reads[(k, v.label)] for v in shipped]

    n = len(plates)
    stage_right = sum(same_plate(p.read, p.truth) for p in plates)
    shipped_right = sum(right(merge_candidates(base(k)), p.truth) for k, p in enumerate(found))
    rows: list[Metrics] = [
        {"variant": "stage (as eval plates reads)", "alone": stage_right, "merged": "-"},
        {"variant": "shipped reading of these boxes", "alone": shipped_right, "merged": "-"},
    ]
    oracle = set()
    for v in variants:
        alone = merged = 0
        for k, p in enumerate(found):
            own = reads[(k, v.label)]
            alone += right(own, p.truth)
            merged += right(merge_candidates([*base(k), own]), p.truth)
            if right(own, p.truth):
                oracle.add(k)
        rows.append({"variant": v.label, "alone": alone, "merged": merged})
    rows.append({"variant": "oracle (some variant right)", "alone": len(oracle), "merged": "-"})
    console.print(rows_table(f"{args.set}: {n} plates, {len(found)} found, right of {n}", rows))
    misses: list[Metrics] = []
    out = args.out / "plate_variants"
    if args.pictures:
        out.mkdir(parents=True, exist_ok=True)
    truths = {
        (ph.image, tp.text): tp.box for ph in load_photos(DATA / name, subset) for tp in ph.plates
    }
    index = {id(p): k for k, p in enumerate(found)}
    for p in plates:
        if same_plate(p.read, p.truth):
            continue
        at = index.get(id(p))
        by = (
            []
            if at is None
            else [v.label for v in variants if right(reads[(at, v.label)], p.truth)]
        )
        more = f" (+{len(by) - 3})" if len(by) > 3 else ""
        top = [] if at is None else merge_candidates(base(at))[:3]
        misses.append({
            "image": p.image.name, "truth": p.truth, "read": p.read or "-",
            "candidates": " ".join(f"{c.text}:{c.score:.2f}" for c in top) or "-",
            "read right by": (", ".join(by[:3]) + more) or "-",
        })  # fmt: skip
        if args.pictures:
            write_pictures(p, np.asarray(truths[(p.image, p.truth)], np.float32), out, pad)
    console.print(rows_table("plates read wrong", misses))
    if note := load.note():
        console.print(f"[yellow]note:[/] {note}")
    flat: Metrics = {"set": args.set, "plates": n, "found": len(found), **load.metrics()}
    for r in rows:
        flat[f"{r['variant']}.alone"] = r["alone"]
        flat[f"{r['variant']}.merged"] = r["merged"]
    path = write_json(args.out / f"plate_variants_{name}_{half}.json", flat)
    console.print(f"written: {path}" + (f" and pictures in {out}" if args.pictures else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
