"""The ONNX back ends on an execution provider (CUDA by default) against the CPU, in one run.

For each shipped ONNX model, on the same real inputs: do the outputs agree with the CPU's, and
how many milliseconds does a run take on each?

* ``face-embedder``    -- dlib's ResNet (``dlib-onnx``) on face crops from ``--faces``
  (identity folders of aligned crops, resized to the network's 150x150 chip: real face pixels,
  not the live alignment, which is enough to compare two providers), at batches of 1, 16, 64;
  agreement: smallest cosine between the two providers' embeddings of one face.
* ``plate-detector``   -- the PP-OCRv4 text detector on ``--photos`` at the live scale (longer
  side 640); agreement: share of CPU boxes the provider finds too (IoU >= 0.9).  Timed with
  citywatch's provider options (``onnx_session.PROVIDER_OPTIONS``) and with cuDNN's
  convolution search set to DEFAULT (no search), photo sizes varying as motion regions do;
  ``first_ms`` is the first run at each new input shape.
* ``rec-<name>``       -- each prepared plate recogniser on the plate crops of ``--crops``
  (``cold``: the first pass, a new input width for nearly every batch); agreement: share of
  crops read to the same text, and the largest probability difference.
* ``plate-stage``      -- the whole plate stage (``formats: [US]``) on ``--photos``, twice
  (``cold``: the first pass, when the provider meets each input shape for the first time),
  the text detector on the provider (``plates.reader.det_providers``), the recogniser on the
  CPU: share of photos read the same, ms per photo.

Writes a table, ``providers.json`` (flat keys ``<model>.<metric>``) and ``providers.png``.
Exits 2 when the provider is not in this onnxruntime build (``pip install onnxruntime-gpu``).

    .venv/bin/python bench/providers.py [--provider CUDAExecutionProvider] [--faces DIR]
        [--photos DIR] [--crops DIR] [--models DIR] [--n 64] [--out bench/out]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console

from citywatch.config.plates import PlatesConfig
from citywatch.config.root import default_models_dir
from citywatch.eval.common import new_figure, rows_table, save_figure, write_json
from citywatch.vision.boxes import box_iou
from citywatch.vision.faces.onnx_dlib_embedder import CHIP_SIZE, OnnxDlibEmbedder
from citywatch.vision.onnx_session import CPU, PROVIDER_OPTIONS
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.plates.ctc import greedy, slots
from citywatch.vision.plates.ppocr import CtcRecogniser, default_model_path
from citywatch.vision.plates.rapidocr_backend import RapidOcrEngine
from citywatch.vision.plates.recognisers import PACKAGED

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
IMAGES = (".jpg", ".jpeg", ".png")


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(first call ms, median ms of ``repeat`` further calls)."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000.0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t0) * 1000.0)
    return first, float(np.median(runs))


def images_in(folder: Path, n: int) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGES)
    if not files:
        raise SystemExit(f"no images under {folder}")
    return files[:n]


def face_chips(folder: Path, n: int) -> np.ndarray:
    """(n, 150, 150, 3) RGB chips from the crops under ``folder``."""
    chips = [
        cv2.cvtColor(cv2.resize(cv2.imread(str(p)), (CHIP_SIZE, CHIP_SIZE)), cv2.COLOR_BGR2RGB)
        for p in images_in(folder, n)
    ]
    return np.stack(chips).astype(np.uint8)


def bench_faces(model: Path, chips: np.ndarray, provider: str, threads: int) -> list[dict]:
    rows = []
    ref = OnnxDlibEmbedder(model, threads=threads, batch_size=64).embed_chips(chips)
    for batch in (1, 16, 64):
        row: dict[str, object] = {"model": f"face-embedder b{batch}", "unit": "face"}
        for name, wanted in (("cpu", [CPU]), ("dev", [provider])):
            emb = OnnxDlibEmbedder(model, threads=threads, providers=wanted, batch_size=batch)
            part = chips[:batch]
            first, ms = timed(lambda e=emb, c=part: e.embed_chips(c), 10)
            row[f"{name}_ms"] = ms / len(part)
            row[f"{name}_first_ms"] = first
            if name == "dev":
                got = emb.embed_chips(chips)
                row["agreement"] = float(np.min(np.sum(got * ref, axis=1)))
                row["active"] = emb.providers[0]
        rows.append(row)
    return rows


def bench_detector(photos: Sequence[np.ndarray], provider: str, threads: int) -> dict:
    """The text detector on the CPU, and on ``provider`` with cuDNN's exhaustive and
    heuristic convolution searches: median ms per photo, mean ms of the first run at each new
    input shape, share of CPU boxes found again."""
    row: dict[str, object] = {"model": "plate-detector", "unit": "photo"}
    variants: dict[str, tuple[list[str], Mapping[str, Mapping[str, str]]]] = {
        "cpu": ([CPU], {}),
        "dev_default": ([provider], _search(provider, "DEFAULT")),
        "dev": ([provider], PROVIDER_OPTIONS),
    }
    ref: list[np.ndarray] = []
    for name, (wanted, options) in variants.items():
        engine = RapidOcrEngine(threads=threads, providers=wanted, provider_options=options)
        firsts, rest, same, total = [], [], 0, 0
        seen: set[tuple[int, int]] = set()
        for k, image in enumerate(photos):
            scale = 640 / max(image.shape[:2])
            first, ms = timed(lambda e=engine, i=image, s=scale: e.detect(i, s), 3)
            shape = (round(image.shape[0] * scale / 32), round(image.shape[1] * scale / 32))
            if shape not in seen:
                firsts.append(first)
                seen.add(shape)
            rest.append(ms)
            quads, _ = engine.detect(image, scale)
            if name == "cpu":
                ref.append(quads)
            else:
                same += _matched(ref[k], quads)
                total += len(ref[k])
        row[f"{name}_ms"] = float(np.median(rest))
        row[f"{name}_first_ms"] = float(np.mean(firsts))
        if name == "dev":
            row["shapes"] = len(seen)
            row["agreement"] = same / max(total, 1)
            row["active"] = engine.providers[0]
    return row


def _matched(ref: np.ndarray, got: np.ndarray) -> int:
    """CPU boxes (quads) that the provider's boxes cover at IoU >= 0.9."""
    if len(ref) == 0 or len(got) == 0:
        return 0
    a = np.concatenate([ref.min(axis=1), ref.max(axis=1)], axis=1)
    b = np.concatenate([got.min(axis=1), got.max(axis=1)], axis=1)
    return int((box_iou(a, b).max(axis=1) >= 0.9).sum())


def bench_recognisers(
    models: dict[str, Path], crops: list[np.ndarray], provider: str, threads: int
) -> list[dict]:
    """Per recogniser: ms per crop on the CPU and on ``provider`` (``cold``: the first pass,
    where nearly every batch has a new width; warm: the same batches again), agreement."""
    rows = []
    for label, path in models.items():
        cpu = CtcRecogniser(path, threads=threads, providers=[CPU])
        ref = cpu.probabilities(crops)
        _, cpu_ms = timed(lambda r=cpu: r.probabilities(crops), 3)
        row: dict[str, object] = {"model": f"rec-{label}", "unit": "crop"}
        row["cpu_ms"] = cpu_ms / len(crops)
        for name, options in (
            ("dev_default", _search(provider, "DEFAULT")),
            ("dev", PROVIDER_OPTIONS),
        ):
            dev = CtcRecogniser(
                path, threads=threads, providers=[provider], provider_options=options
            )
            cold, warm = timed(lambda r=dev: r.probabilities(crops), 3)
            got = dev.probabilities(crops)
            row[f"{name}_ms"] = warm / len(crops)
            row[f"{name}_cold_ms"] = cold / len(crops)
            if name == "dev":
                pairs = list(zip(ref, got, strict=True))
                row["agreement"] = sum(
                    greedy(slots(a))[0] == greedy(slots(b))[0] for a, b in pairs
                ) / len(crops)
                row["max_prob_diff"] = max(float(np.abs(a.chars - b.chars).max()) for a, b in pairs)
                row["active"] = dev.providers[0]
        rows.append(row)
    return rows


def _search(provider: str, how: str) -> dict[str, dict[str, str]]:
    """citywatch's options for ``provider`` with cuDNN's convolution search set to ``how``."""
    options = {k: dict(v) for k, v in PROVIDER_OPTIONS.items()}
    options.setdefault(provider, {})["cudnn_conv_algo_search"] = how
    return options


def bench_stage(photos: Sequence[np.ndarray], provider: str, threads: int, models: Path) -> dict:
    out: dict[str, object] = {"model": "plate-stage", "unit": "photo"}
    reads: dict[str, list[tuple[str, ...]]] = {}
    for name, wanted in (("cpu", []), ("dev", [provider])):
        cfg = PlatesConfig.model_validate(
            {"formats": ["US"], "reader": {"threads": threads, "det_providers": wanted}}
        )
        stage = build_plate_stage(cfg, track=False, cache_dir=models)
        for label in ("cold", "warm"):  # the second pass finds every input shape prepared
            ms = []
            reads[name] = []
            for image in photos:
                t0 = time.perf_counter()
                plates = stage.read_plates(image)
                ms.append((time.perf_counter() - t0) * 1000.0)
                reads[name].append(plates.text)
            out[f"{name}_ms" if label == "warm" else f"{name}_cold_ms"] = float(np.mean(ms))
    same = sum(a == b for a, b in zip(reads["cpu"], reads["dev"], strict=True))
    out["agreement"] = same / len(photos)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--provider", default="CUDAExecutionProvider")
    ap.add_argument("--faces", type=Path, default=DATA / "faces" / "identities")
    ap.add_argument("--photos", type=Path, default=DATA / "plates" / "images_us")
    ap.add_argument("--crops", type=Path, default=DATA / "plates" / "crops_us")
    ap.add_argument("--models", type=Path, default=default_models_dir())
    ap.add_argument("--n", type=int, default=64, help="faces, photos and crops to use")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per session")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args(argv)
    console = Console()
    import onnxruntime as ort

    available = ort.get_available_providers()
    console.print(f"onnxruntime {ort.__version__}, providers {available}")
    if args.provider not in available:
        console.print(
            f"[red]{args.provider} is not in this onnxruntime build (have {available}); "
            "install the build that has it (e.g. pip install onnxruntime-gpu)[/]"
        )
        return 2
    photos = [cv2.imread(str(p)) for p in images_in(args.photos, args.n)]
    crops = [cv2.imread(str(p)) for p in images_in(args.crops, args.n)]
    rec_models = {"ppocrv4": default_model_path()}
    for name, packaged in PACKAGED.items():
        if (args.models / packaged.file_name).is_file():
            rec_models[name] = args.models / packaged.file_name
    rows: list[dict] = []
    embedder = args.models / "dlib_resnet_v1.onnx"
    if embedder.is_file():
        rows += bench_faces(embedder, face_chips(args.faces, args.n), args.provider, args.threads)
    else:
        console.print(f"[yellow]{embedder} missing (citywatch models prepare): faces skipped[/]")
    rows.append(bench_detector(photos, args.provider, args.threads))
    rows += bench_recognisers(rec_models, crops, args.provider, args.threads)
    rows.append(bench_stage(photos, args.provider, args.threads, args.models))
    shown = ("model", "unit", "cpu_ms", "dev_ms", "dev_first_ms", "dev_cold_ms", "agreement")
    console.print(
        rows_table(
            f"ms per unit: {args.provider} (dev) against {CPU} (cpu)",
            [{k: row.get(k, "-") for k in shown} for row in rows],
        )
    )
    for row in rows:
        extra = {k: v for k, v in row.items() if k not in shown}
        if extra:
            console.print(f"{row['model']}: {extra}")
    flat: dict[str, object] = {"provider": args.provider, "onnxruntime": ort.__version__}
    for row in rows:
        flat.update({f"{row['model']}.{k}": v for k, v in row.items() if k != "model"})
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "providers.json", flat)
    _plot(rows, args.out / "providers.png", args.provider)
    console.print(f"written: {args.out / 'providers.json'}, {args.out / 'providers.png'}")
    return 0


def _plot(rows: list[dict], path: Path, provider: str) -> None:
    labels = [f"{row['model']} (per {row['unit']})" for row in rows]
    cpu = [float(row.get("cpu_ms", 0.0)) for row in rows]
    dev = [float(row.get("dev_ms", 0.0)) for row in rows]
    fig = new_figure(8, 4.5)
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y - 0.2, cpu, 0.4, label=CPU)
    ax.barh(y + 0.2, dev, 0.4, label=provider)
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    ax.set_xlabel("ms per unit (log scale)")
    ax.legend()
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
