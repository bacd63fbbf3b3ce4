"""What batching several cameras' frames into one model call buys, per model (issue 18).

Batching across cameras means one session per model in a process and one network call for
the frames (or face chips) of several cameras.  This measures what the call costs per item at
batch sizes 1, 2, 4, 8 and 16 on real footage, for the face detector (YuNet, 640x360 frames of
the crowd clip) and the face embedder (the default back end, chips of real faces), on the
providers asked for (default: the CPU, one onnxruntime thread, as a camera worker runs them).

Reported per model and batch size: CPU ms per item (this process, all threads) and wall ms
per item, the median of ``--rounds`` rounds measured in turns, with the host's load beside.
On a CPU a larger batch is worth building only if it costs fewer CPU ms per item; on a GPU
(``--providers CUDAExecutionProvider``) wall ms per item is the figure.

    .venv/bin/python bench/batching.py [--rounds 5] [--items 32] [--providers ...] [--out bench/out]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from citywatch.config.root import parse_config
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import new_figure, save_figure, write_json
from citywatch.eval.host_load import LoadMeter

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
CROWD = DATA / "faces/crowd_video/video.mp4"
BATCHES = (1, 2, 4, 8, 16)


def frames(path: Path, count: int, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """``count`` frames of ``path`` (every 5th), scaled to ``size`` as a substream delivers."""
    import av
    import cv2

    if not path.is_file():
        raise SystemExit(f"{path}: missing (the shared data holds the crowd clip)")
    out: list[np.ndarray] = []
    with av.open(str(path)) as box:
        for i, frame in enumerate(box.decode(video=0)):
            if i % 5 == 0:
                out.append(cv2.resize(frame.to_ndarray(format="bgr24"), size))
            if len(out) >= count:
                break
    return out


def timed(
    run: Callable[[Sequence[Any]], object], items: Sequence[Any], batch: int
) -> tuple[float, float]:
    """CPU and wall ms per item of running ``items`` through ``run`` in batches of ``batch``."""
    c0, w0 = time.process_time(), time.perf_counter()
    for k in range(0, len(items), batch):
        run(items[k : k + batch])
    n = len(items)
    return (time.process_time() - c0) * 1000 / n, (time.perf_counter() - w0) * 1000 / n


def measure(
    name: str, run: Callable[[Sequence[Any]], object], items: Sequence[Any], rounds: int
) -> list[dict[str, Any]]:
    """Median CPU and wall ms per item for each batch size, sizes measured in turns."""
    for b in BATCHES:
        run(items[:b])  # warm: the session's buffers for this shape
    cpu: dict[int, list[float]] = {b: [] for b in BATCHES}
    wall: dict[int, list[float]] = {b: [] for b in BATCHES}
    for _ in range(rounds):
        for b in BATCHES:
            c, w = timed(run, items, b)
            cpu[b].append(c)
            wall[b].append(w)
    base = statistics.median(cpu[1])
    return [
        {
            "model": name,
            "batch": b,
            "cpu_ms_per_item": round(statistics.median(cpu[b]), 2),
            "wall_ms_per_item": round(statistics.median(wall[b]), 2),
            "cpu_vs_batch_1": round(statistics.median(cpu[b]) / base, 3),
        }
        for b in BATCHES
    ]


def main() -> None:
    keep_freed_buffers()  # as the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--items", type=int, default=32, help="frames (and chips) per round")
    ap.add_argument("--providers", nargs="*", default=None, help="onnxruntime providers")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    if args.items < max(BATCHES):
        raise SystemExit(f"--items must be at least {max(BATCHES)}")

    from citywatch.vision.faces.registry import build_detector, build_embedder, build_landmarker

    det_cfg: dict[str, Any] = {"type": "yunet"}
    emb_cfg: dict[str, Any] = {}
    if args.providers:
        det_cfg["providers"] = args.providers
        emb_cfg["providers"] = args.providers
    cfg = parse_config({"faces": {"detector": det_cfg, "embedder": emb_cfg}})
    detector = build_detector(cfg.faces.detector, threads=cfg.models.threads)
    embedder = build_embedder(cfg.faces.embedder, cfg.models.cache_dir, threads=cfg.models.threads)
    landmarker = build_landmarker()
    images = frames(CROWD, args.items)

    chips: list[np.ndarray] = []
    for image in images:  # real faces of the crowd, cut as the pipeline cuts them
        found = detector.detect(image)
        if len(found.xyxy):
            lms = landmarker.landmarks(image, found.xyxy)
            chips.extend(embedder.chips(image, lms))  # type: ignore[attr-defined]
    if len(chips) < max(BATCHES):
        raise SystemExit(f"only {len(chips)} faces found in {CROWD}; need {max(BATCHES)}")
    chips = chips[: args.items]

    rows: list[dict[str, Any]] = []
    with LoadMeter() as load:
        rows += measure(
            "face detector yunet 640x360",
            detector.detect_batch,  # type: ignore[attr-defined]
            images,
            args.rounds,
        )
        rows += measure(
            f"face embedder {embedder.name}",
            lambda c: embedder.embed_chips(np.stack(c)),  # type: ignore[attr-defined]
            chips,
            args.rounds,
        )
    host = load.metrics()

    table = Table(title="ms per item by batch size (median of rounds)")
    for col in ("model", "batch", "CPU ms/item", "wall ms/item", "CPU vs batch 1"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            str(r["batch"]),
            f"{r['cpu_ms_per_item']:.2f}",
            f"{r['wall_ms_per_item']:.2f}",
            f"{r['cpu_vs_batch_1']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(f"providers {args.providers or ['CPUExecutionProvider']}, host: {load.note()}")

    out = args.out
    flat: dict[str, object] = {"providers": ",".join(args.providers or ["CPU"]), **host}
    for r in rows:
        key = f"{r['model'].split()[1]}_b{r['batch']}"
        flat[f"{key}_cpu_ms"] = r["cpu_ms_per_item"]
        flat[f"{key}_wall_ms"] = r["wall_ms_per_item"]
    write_json(out / "batching.json", flat)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        ax.plot([r["batch"] for r in mine], [r["cpu_vs_batch_1"] for r in mine], "o-", label=model)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (frames or chips of several cameras)")
    ax.set_ylabel("CPU ms per item / batch 1")
    ax.legend()
    save_figure(fig, out / "batching.png")
    console.print(f"wrote {out / 'batching.json'} and {out / 'batching.png'}")


if __name__ == "__main__":
    main()
