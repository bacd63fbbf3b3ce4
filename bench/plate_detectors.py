"""Plate *detectors* compared on the same photos in one run (``models_plates.py --detectors``).

Per photo, taking turns (load from other work falls on all alike), wall ms of one thread:

* detection alone, and the plates it finds:

  - ``text``: the shipped text detector's first search as the stage makes it
    (``PlateStage._coarse``: the DB detector on the frame at ``det_max_side``, pieces of a line
    merged, the geometry filter): the candidates the stage goes on to refine and read;
  - ``lpd-yunet@S``: OpenCV zoo's LPD-YuNet (``bench/plate_lpd_yunet.py``) on the frame scaled
    to longer side S (320: about the zoo's 320x240; 640: the text detector's scale; 960),
    found rate at each of the score floors :data:`FLOORS` (0.8 the zoo's default);

  - ``plate-det@S`` (with ``--plate-det FILE``): a DB plate detector (``citywatch train
    plate-detector``) as ``plates.detector.type: plates`` runs it, its first search at S;

  **Found**: a true plate counts as found when one detected box *covers* it: the box holds at
  least :data:`COVER` of the true box's area (intersection over the true box) and is at most
  :data:`MAX_WIDTH` times as wide (a box over a whole car does not count).  ``iou50`` beside it:
  a box overlapping the true box at IoU >= 0.5 (a plate detector's usual rule; a text detector's
  line boxes inside a plate rarely meet it);

  ms: wall and CPU time of the calling thread per photo;

* end to end (the shipped reader on what each detector finds, scored like ``eval plates``):

  - ``text (shipped)``: the shipped default stage;
  - ``lpd+refine``: LPD-YuNet's boxes, each searched again by the text detector for its line
    (as ``plates.detector.type: yolo`` is wired: :class:`RefinedDetector`), then read;
  - ``lpd direct``: LPD-YuNet's boxes read as they are (no text detector at all);
  - ``plate-det+refine`` (with ``--plate-det``): its boxes refined and read as a YOLO
    detector's, with its own second search;
  - ``text in vehicles``: the shipped stage searching only inside the vehicles PP-PicoDet finds
    (``plates.vehicles.search: vehicles``), the vehicle detector's time included.

  A frame with no read is searched again as the shipped stage does (the LPD variants: with
  contrast equalised only; they have no zoomed search).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

import numpy as np

from citywatch.config.plates import PlatesConfig
from citywatch.eval.common import Metrics
from citywatch.eval.plates import PhotoTruth, PlateImageReport, load_photos, score_photo
from citywatch.vision.images import load_image
from citywatch.vision.plates.build import build_plate_models
from citywatch.vision.plates.rapidocr_backend import RapidOcrTextDetector
from citywatch.vision.plates.stage import PlateStage, inside_vehicles
from citywatch.vision.plates.yolo import RefinedDetector
from citywatch.vision.record import Detections, FloatArray, ImageBGR

COVER = 0.5  # a box finds a plate when it holds this share of the true box's area ...
MAX_WIDTH = 3.0  # ... and is at most this many times as wide as the true box
FLOORS = (0.3, 0.5, 0.8)  # LPD-YuNet score floors the found rate is given at
SIDES = (320, 640, 960)  # LPD-YuNet's analysis sizes (longer side)
E2E_SIDE = 640  # the LPD size the end-to-end variants run at (chosen on the halves a)


def found(boxes: FloatArray, truth: tuple[float, float, float, float]) -> tuple[bool, bool]:
    """(covered, iou >= 0.5) of one true plate by any of ``boxes`` (xyxy)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(b) == 0:
        return False, False
    x0, y0, x1, y1 = truth
    area = max(1e-6, (x1 - x0) * (y1 - y0))
    iw = np.clip(np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0), 0, None)
    ih = np.clip(np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0), 0, None)
    inter = iw * ih
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    cover = (inter / area >= COVER) & ((b[:, 2] - b[:, 0]) <= MAX_WIDTH * (x1 - x0))
    iou = inter / np.maximum(areas + area - inter, 1e-6)
    return bool(cover.any()), bool((iou >= 0.5).any())


class Tally:
    """Found counts and times of one detector over a set."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.cpu_ms: list[float] = []
        self.boxes: list[float] = []
        self.cover: dict[float, int] = {}
        self.iou: dict[float, int] = {}

    def add(
        self,
        photo: PhotoTruth,
        dets: Detections,
        ms: tuple[float, float],
        floors: tuple[float, ...],
    ) -> None:
        self.ms.append(ms[0])
        self.cpu_ms.append(ms[1])
        for floor in floors:
            keep = dets.xyxy[dets.score >= floor]
            if floor == floors[-1]:
                self.boxes.append(float(len(keep)))
            for tp in photo.plates:
                c, i = found(keep, tp.box)
                self.cover[floor] = self.cover.get(floor, 0) + c
                self.iou[floor] = self.iou.get(floor, 0) + i


def measure(
    folder: Path,
    formats: list[str],
    subset: Literal["all", "a", "b"],
    model: Path,
    floor: float,
    side: int = E2E_SIDE,
    plate_det: Path | None = None,
) -> tuple[list[Metrics], list[Metrics]]:
    """Detection rows and end-to-end rows for one photo set; LPD-YuNet end to end at the score
    ``floor`` and longer side ``side``."""
    from citywatch.config.vehicles import VehiclesConfig
    from citywatch.vision.vehicles.describe import VehicleDescriber
    from citywatch.vision.vehicles.registry import build_vehicle_detector
    from plate_lpd_yunet import LpdYunetDetector  # bench/

    cfg = PlatesConfig.model_validate({"formats": formats})
    text_det, reader = build_plate_models(cfg)
    text = cast(RapidOcrTextDetector, text_det)
    shipped = PlateStage(text, reader, None, cfg)
    lowest = min(FLOORS)
    lpd = {s: LpdYunetDetector(model, max_side=s, score_thresh=lowest) for s in SIDES}
    e2e_lpd = LpdYunetDetector(model, max_side=side, score_thresh=floor)
    direct_cfg = cfg.model_copy(update={"reader": cfg.reader.model_copy(update={"refine": False})})
    vehicles = VehicleDescriber(build_vehicle_detector(VehiclesConfig()))

    def in_vehicles(image: ImageBGR) -> Detections:
        v = vehicles.detect(image)
        regions = inside_vehicles(None, v.xyxy, image.shape[1], image.shape[0])
        if len(regions) == 0:
            return Detections.empty()
        return shipped.read_plates(image, regions)

    stages: dict[str, Callable[[ImageBGR], Detections]] = {
        "text (shipped)": shipped.read_plates,
        "lpd+refine": PlateStage(RefinedDetector(e2e_lpd, text), reader, None, cfg).read_plates,
        "lpd direct": PlateStage(e2e_lpd, reader, None, direct_cfg).read_plates,
        "text in vehicles": in_vehicles,
    }
    detectors: dict[str, Callable[[ImageBGR], Detections]] = {
        "text": lambda im: shipped._coarse(im, None),
        **{f"lpd-yunet@{s}": d.detect for s, d in lpd.items()},
    }
    if plate_det is not None:  # a DB plate detector (citywatch train plate-detector)
        ours_cfg = PlatesConfig.model_validate(
            {"formats": formats, "detector": {"type": "plates", "model": str(plate_det)}}
        )
        ours = PlateStage(build_plate_models(ours_cfg)[0], reader, None, ours_cfg)
        stages["plate-det+refine"] = ours.read_plates
        detectors[f"plate-det@{ours_cfg.detector.max_side}"] = lambda im: ours._coarse(im, None)
    tallies = {name: Tally() for name in detectors}
    reports = {name: PlateImageReport() for name in stages}
    photos = load_photos(folder, subset)
    warm = load_image(photos[0].image)
    for fn in (*detectors.values(), *stages.values()):
        fn(warm)
    for photo in photos:
        image = load_image(photo.image)
        for name, det in detectors.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            dets = det(image)
            ms = ((time.perf_counter() - t0) * 1000.0, (time.thread_time() - c0) * 1000.0)
            floors = FLOORS if name.startswith("lpd") else (0.0,)
            tallies[name].add(photo, dets, ms, floors)
        for name, stage in stages.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            plates = stage(image)
            reports[name].ms.append((time.perf_counter() - t0) * 1000.0)
            reports[name].cpu_ms.append((time.thread_time() - c0) * 1000.0)
            reports[name].outcomes.extend(score_photo(photo, plates, shipped.formats))
    n_plates = sum(len(p.plates) for p in photos)
    det_rows: list[Metrics] = []
    for name, t in tallies.items():
        for fl in sorted(t.cover):
            det_rows.append(
                {
                    "set": folder.name,
                    "detector": name,
                    "floor": fl if name.startswith("lpd") else "-",
                    "plates": n_plates,
                    "found_cover": round(t.cover[fl] / n_plates, 3),
                    "found_iou50": round(t.iou[fl] / n_plates, 3),
                    "boxes_per_photo": round(float(np.mean(t.boxes)), 1)
                    if fl == max(t.cover)
                    else "",
                    "ms_per_photo": round(float(np.mean(t.ms)), 1),
                    "cpu_ms_per_photo": round(float(np.mean(t.cpu_ms)), 1),
                }
            )
    e2e_rows: list[Metrics] = []
    for name, report in reports.items():
        m = report.metrics(folder.name, subset)
        e2e_rows.append(
            {
                "set": folder.name,
                "variant": name,
                "exact_rate": m["exact_rate"],
                "found_rate": m["found_rate"],
                "ms_per_image": m["ms_per_image"],
                "cpu_ms_per_image": m["cpu_ms_per_image"],
            }
        )
    return det_rows, e2e_rows


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def plot(det_rows: list[Metrics], e2e_rows: list[Metrics], path: Path) -> Path:
    """Found rate against CPU ms per photo (detectors), exact rate against CPU ms (end to end)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    markers = {"images_eu": "o", "images_us": "s"}
    for r in det_rows:
        label = f"{r['detector']} {r['floor']}"
        m = markers.get(str(r["set"]), "^")
        x, y = _num(r["cpu_ms_per_photo"]), _num(r["found_cover"])
        left.scatter(x, y, marker=m)
        left.annotate(label, (x, y), fontsize=6)
    for r in e2e_rows:
        m = markers.get(str(r["set"]), "^")
        x, y = _num(r["cpu_ms_per_image"]), _num(r["exact_rate"])
        right.scatter(x, y, marker=m)
        right.annotate(f"{r['variant']}", (x, y), fontsize=6)
    left.set_title("detectors: plates found (cover) vs CPU ms/photo", fontsize="small")
    right.set_title("end to end: exact rate vs CPU ms/photo", fontsize="small")
    for ax in (left, right):
        ax.set_xlabel("CPU ms per photo (one thread; o EU, s US)", fontsize="small")
        ax.set_ylim(0, 1.05)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def main(argv: list[str]) -> int:
    """``models_plates.py --breakdown`` and ``--detectors``: see the module docs."""
    import argparse

    from rich.console import Console

    from citywatch.engine.allocator import keep_freed_buffers
    from citywatch.eval.common import rows_table, write_json
    from citywatch.eval.host_load import LoadMeter
    from plate_breakdown import measure as breakdown  # bench/
    from plate_lpd_yunet import SHA256, sha256_of

    keep_freed_buffers()
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description="plate detectors and where a photo's time goes")
    ap.add_argument("--breakdown", action="store_true", help="the time breakdown only")
    ap.add_argument("--detectors", action="store_true", help="breakdown, detectors, end to end")
    ap.add_argument("--set", action="append", default=[], help="FOLDER:FORMATS")
    ap.add_argument("--subset", choices=("all", "a", "b"), default="all")
    ap.add_argument(
        "--lpd-yunet",
        type=Path,
        default=repo
        / "var"
        / "models"
        / "lpd_yunet"
        / "license_plate_detection_lpd_yunet_2023mar.onnx",
        help="OpenCV zoo's LPD-YuNet .onnx (see docs/models.md for how to get it)",
    )
    ap.add_argument("--lpd-floor", type=float, default=0.3, help="end-to-end score floor")
    ap.add_argument("--lpd-side", type=int, default=E2E_SIDE, help="end-to-end longer side")
    ap.add_argument(
        "--plate-det",
        type=Path,
        default=None,
        help="a DB plate detector .onnx (citywatch train plate-detector) to compare too",
    )
    ap.add_argument("--out", type=Path, default=repo / "bench" / "out")
    args = ap.parse_args(argv)
    console = Console(width=180)
    data = (repo / ".." / "shared" / "data" / "plates").resolve()
    sets = args.set or ["images_eu:HR,RS,DE,SK,CZ,EU", "images_us:US"]
    if args.detectors:
        if not args.lpd_yunet.is_file():
            console.print(f"[red]no LPD-YuNet model at {args.lpd_yunet}[/red] (docs/models.md)")
            return 2
        digest = sha256_of(args.lpd_yunet)
        if digest != SHA256:
            console.print(f"[red]{args.lpd_yunet}: SHA-256 {digest}, expected {SHA256}[/red]")
            return 2
    parts: list[Metrics] = []
    det_rows: list[Metrics] = []
    e2e_rows: list[Metrics] = []
    flat: Metrics = {"subset": args.subset}
    with LoadMeter() as load:
        for spec in sets:
            folder, _, formats = spec.partition(":")
            row, _ = breakdown(data / folder, formats.split(","), args.subset)
            parts.append(row)
            if args.detectors:
                d, e = measure(
                    data / folder, formats.split(","), args.subset, args.lpd_yunet,
                    args.lpd_floor, args.lpd_side, args.plate_det,
                )  # fmt: skip
                det_rows += d
                e2e_rows += e
            console.print(f"{folder}: done")
    flat.update(load.metrics())
    console.print(
        rows_table(
            f"Where a photo's time goes (CPU ms of the thread; wall beside; {args.subset})", parts
        )
    )
    for r in parts:
        for k, v in r.items():
            if k not in ("set", "formats"):  # a folder may be measured with several lists
                flat[f"{r['set']}[{r['formats']}].breakdown.{k}"] = v
    name = f"models_plates_breakdown_{args.subset}"
    if args.detectors:
        console.print(rows_table("Plate detectors: plates found, ms per photo", det_rows))
        console.print(rows_table("End to end with the shipped reader", e2e_rows))
        for r in det_rows:
            for k in ("found_cover", "found_iou50", "ms_per_photo", "cpu_ms_per_photo"):
                flat[f"{r['set']}.{r['detector']}@{r['floor']}.{k}"] = r[k]
        for r in e2e_rows:
            for k in ("exact_rate", "found_rate", "ms_per_image", "cpu_ms_per_image"):
                flat[f"{r['set']}.e2e.{r['variant']}.{k}"] = r[k]
        name = f"models_plates_detectors_{args.subset}"
        plot(det_rows, e2e_rows, args.out / f"{name}.png")
    console.print(f"host: {load.metrics()}")
    write_json(args.out / f"{name}.json", flat)
    console.print(f"written: {args.out / name}.json")
    return 0
