"""Plate search per video frame at a camera's resolution: motion-gated vs every frame searched.

Decodes a clip, scales each analysed frame to ``--size`` (default 1280x720, the issue's target
frame), and runs the live code on it: :class:`MotionGate` then :meth:`PlateStage.process`
(``gated``), and in the same run, frame by frame on the same pictures, the plate stage on the
whole frame without the gate (``every frame``, the baseline).  Frames are counted as *warm-up*
(the gate's first frames: no background yet, searched whole, once per camera start), *moving*
(searched where something moved) or *still* (not searched).  Prints a table, writes
``plate_frames.json`` and a latency histogram ``plate_frames.png``.

    .venv/bin/python bench/plate_frames.py [--clip FILE] [--size 1280x720] [--fps 5]
        [--formats EU] [--out bench/out]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from rich.progress import Progress

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.eval.common import rows_table, write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.vision.motion import MotionGate
from citywatch.vision.plates.build import build_plate_stage
from citywatch.vision.record import Frame, FrameRecord, Motion

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / ".." / "shared" / "data" / "video" / "intel_sample_videos" / "car-detection.mp4"


def _stats(ms: list[float]) -> dict[str, float | int]:
    if not ms:
        return {"frames": 0, "ms_mean": 0.0, "ms_p50": 0.0, "ms_p95": 0.0}
    a = np.asarray(ms)
    return {
        "frames": len(ms),
        "ms_mean": round(float(a.mean()), 1),
        "ms_p50": round(float(np.percentile(a, 50)), 1),
        "ms_p95": round(float(np.percentile(a, 95)), 1),
    }


def main() -> int:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT each frame is scaled to")
    ap.add_argument("--fps", type=float, default=5.0, help="frames analysed per second")
    ap.add_argument("--formats", default="EU", help="plate formats, comma-separated")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console()
    if not args.clip.is_file():
        console.print(f"[red]clip not found: {args.clip}[/]")
        return 2
    width, height = (int(v) for v in args.size.lower().split("x"))
    cfg = PlatesConfig(formats=[f.strip() for f in args.formats.split(",")])
    gated_stage = build_plate_stage(cfg, track=False)
    full_stage = build_plate_stage(cfg, track=False)
    gate = MotionGate()
    kinds: dict[str, list[float]] = {"warm-up": [], "moving": [], "still": [], "every frame": []}
    motion_ms: list[float] = []
    with (
        LoadMeter() as load,
        av.open(str(args.clip)) as container,
        Progress(console=console, transient=True) as bar,
    ):
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        step = max(1, round(rate / args.fps))
        task = bar.add_task("frames", total=(stream.frames or 0) // step or None)
        for i, frame in enumerate(container.decode(video=0)):
            if i % step:
                continue
            image = cv2.resize(frame.to_ndarray(format="bgr24"), (width, height))
            rec = FrameRecord(Frame("bench", i, i / rate, time.time(), image))
            t0 = time.perf_counter()
            rec.motion = gate.update(image)
            t1 = time.perf_counter()
            gated_stage.process(rec)
            ms = (time.perf_counter() - t0) * 1000
            motion_ms.append((t1 - t0) * 1000)
            kind = "warm-up" if rec.motion.warmup else "moving" if rec.motion.moving else "still"
            kinds[kind].append(ms)
            base = FrameRecord(Frame("bench", i, i / rate, time.time(), image))
            base.motion = Motion(moving=True, fraction=1.0)
            t0 = time.perf_counter()
            full_stage.process(base)
            kinds["every frame"].append((time.perf_counter() - t0) * 1000)
            bar.advance(task)
    rows = [{"frames_kind": k, **_stats(v)} for k, v in kinds.items()]
    gated_all = kinds["warm-up"] + kinds["moving"] + kinds["still"]
    rows.append({"frames_kind": "gated, all frames", **_stats(gated_all)})
    console.print(rows_table(f"plate search per frame at {width}x{height}, {args.clip.name}", rows))
    console.print(f"motion gate alone: {np.mean(motion_ms):.1f} ms per frame")
    flat = {f"{r['frames_kind']}.{k}": v for r in rows for k, v in r.items() if k != "frames_kind"}
    flat.update({"clip": args.clip.name, "size": f"{width}x{height}", "fps": args.fps})
    flat.update(load.metrics())
    if note := load.note():
        console.print(f"[yellow]note:[/] {note}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "plate_frames.json", flat)
    _plot(kinds, args.out / "plate_frames.png", f"{args.clip.name} at {width}x{height}")
    console.print(f"written: {args.out / 'plate_frames.json'}, {args.out / 'plate_frames.png'}")
    return 0


def _plot(kinds: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    top = max((max(v) for v in kinds.values() if v), default=1.0)
    bins = np.linspace(0, top, 40)
    for name in ("every frame", "moving", "still"):
        if kinds[name]:
            ax.hist(kinds[name], bins=bins, alpha=0.55, label=f"{name} (n={len(kinds[name])})")
    ax.set_xlabel("ms per frame (motion gate + plate stage)")
    ax.set_ylabel("frames")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
