"""Plates searched where vehicles are, against today's search of the moving regions, in one run.

``plates.vehicles.search``: ``frame`` (today: the motion gate's moving regions) or
``vehicles`` (those regions cut to the vehicle boxes PP-PicoDet finds on every moving frame).
Both run through the live pipeline (``citywatch.eval.plate_clips``: motion gate, plate stage,
tracker, voter, hotlist) on:

* the Dutch clips of ``../shared/data/plates/video_nl`` (640x480) with their truth:
  ``clip_hit_rate`` and ms per moving frame (motion gate + plate stage, vehicle detector
  included);
* the same clips scaled up to 1280x720 (written once to a temporary folder): a 720p camera
  with the same plates;
* ``car-detection.mp4`` of ``../shared/data/video/intel_sample_videos`` scaled to 1280x720:
  real traffic at 720p without plate truth, for ms per moving frame only.

The two settings alternate clip by clip so that the load of other work on the host falls on
both alike; the host's load is printed beside the figures.  Writes
``bench/out/plates_in_vehicles.json``.

    .venv/bin/python bench/plates_in_vehicles.py [--fps 5] [--clips N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
from rich.console import Console
from rich.table import Table

from citywatch.config.root import CitywatchConfig
from citywatch.engine.assemble import Models
from citywatch.eval.common import write_json
from citywatch.eval.host_load import LoadMeter
from citywatch.eval.plate_clips import (
    ClipOutcome,
    ClipTruth,
    hotlist_for,
    load_clip_truth,
    run_clip,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
NL = SHARED / "plates" / "video_nl"
STREET = SHARED / "video" / "intel_sample_videos" / "car-detection.mp4"
SETTINGS = ("frame", "vehicles")


def config(search: str) -> CitywatchConfig:
    base = CitywatchConfig()
    plates = base.plates.model_copy(
        update={
            "formats": ["NL"],
            "vehicles": base.plates.vehicles.model_copy(update={"search": search}),
        }
    )
    return base.model_copy(update={"plates": plates})


def upscale(src: Path, dst: Path, size: tuple[int, int] = (1280, 720)) -> Path:
    """``src`` re-encoded at ``size`` (MPEG-4 part 2 at a high bit rate: few new artefacts)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ins = inp.streams.video[0]
        rate = ins.average_rate or 12
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 8_000_000
        for frame in inp.decode(ins):
            img = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            for packet in stream.encode(img):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def detector_cpu_ms(video: Path, frames: int = 40) -> tuple[float, float, str]:
    """The vehicle detector alone (one thread) on ``frames`` frames of ``video``: median CPU ms
    of the calling thread (less sensitive to other work than wall time) and median wall ms."""
    import statistics
    import time

    from citywatch.config.vehicles import VehiclesConfig
    from citywatch.vision.vehicles.registry import build_vehicle_detector

    det = build_vehicle_detector(VehiclesConfig(threads=1))
    cpu, wall = [], []
    with av.open(str(video)) as inp:
        for n, frame in enumerate(inp.decode(video=0)):
            if n >= frames:
                break
            image = frame.to_ndarray(format="bgr24")
            t0, c0 = time.perf_counter(), time.thread_time()
            det.detect(image)
            cpu.append((time.thread_time() - c0) * 1000.0)
            wall.append((time.perf_counter() - t0) * 1000.0)
            size = f"{image.shape[1]}x{image.shape[0]}"
    return statistics.median(cpu), statistics.median(wall), size


def summary(outcomes: list[ClipOutcome]) -> dict[str, Any]:
    pairs = sum(len(o.truth) for o in outcomes)
    moving = sum(o.moving_frames for o in outcomes)
    frames = sum(o.frames for o in outcomes)
    return {
        "clips": len(outcomes),
        "plates": pairs,
        "hits": sum(len(o.hits) for o in outcomes),
        "clip_hit_rate": sum(len(o.hits) for o in outcomes) / pairs if pairs else None,
        "false_alerts": sum(len(o.false_alerts) for o in outcomes),
        "frames": frames,
        "moving_frames": moving,
        "ms_per_moving_frame": sum(o.moving_ms for o in outcomes) / max(1, moving),
        "ms_per_frame": sum(o.stage_ms for o in outcomes) / max(1, frames),
        "missed": " ".join(o.clip for o in outcomes if len(o.hits) < len(o.truth)) or "-",
        "problems": "; ".join(o.problem for o in outcomes if o.problem),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--clips", type=int, default=0, help="only the first N clips (0: all)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument(
        "--detector-only", action="store_true", help="only time the vehicle detector alone"
    )
    args = ap.parse_args()
    console = Console()
    if not (NL / "clips").is_dir():
        console.print(f"[red]{NL} not found (../shared/data): nothing measured")
        return 2
    truth = load_clip_truth(NL / "per_clip_ground_truth.csv")
    if args.detector_only:
        with LoadMeter() as meter:
            cpu, wall, size = detector_cpu_ms(NL / "clips" / truth[0].clip)
        console.print(
            f"vehicle detector alone, one thread, {size}: {cpu:.1f} ms CPU, {wall:.1f} ms wall "
            f"(median of 40 frames; other work took {meter.metrics().get('host_other_busy')} "
            "of the CPUs)",
            highlight=False,
        )
        return 0
    if args.clips:
        truth = truth[: args.clips]
    configs = {s: config(s) for s in SETTINGS}
    models = {s: Models(configs[s]) for s in SETTINGS}
    hotlist = hotlist_for(truth, configs["frame"])
    results: dict[str, Any] = {"fps": args.fps, "clips": len(truth)}
    with LoadMeter() as meter, tempfile.TemporaryDirectory(prefix="cw-720p-") as tmp:
        sets: dict[str, list[tuple[Path, ClipTruth]]] = {
            "nl_640x480": [(NL / "clips" / t.clip, t) for t in truth],
            "nl_1280x720": [
                (upscale(NL / "clips" / t.clip, Path(tmp) / f"{Path(t.clip).stem}.mp4"), t)
                for t in truth
            ],
        }
        if STREET.is_file():
            sets["street_1280x720"] = [
                (upscale(STREET, Path(tmp) / "street.mp4"), ClipTruth("street.mp4", ()))
            ]
        table = Table(title=f"plates in vehicles vs today's search ({args.fps:g} fps analysed)")
        for col in ("set", "search", "clip hit rate", "false alerts", "ms/moving frame",
                    "moving frames", "clips missed"):  # fmt: skip
            table.add_column(col)
        for name, clips in sets.items():
            done: dict[str, list[ClipOutcome]] = {s: [] for s in SETTINGS}
            for path, t in clips:
                for s in SETTINGS:  # alternate: the host's load falls on both alike
                    done[s].append(
                        run_clip(path, t, hotlist, configs[s], models[s], analyse_fps=args.fps)
                    )
            for s in SETTINGS:
                m = summary(done[s])
                results.update({f"{name}.{s}.{k}": v for k, v in m.items()})
                rate = "-" if m["clip_hit_rate"] is None else f"{m['clip_hit_rate']:.3f}"
                table.add_row(
                    name,
                    s,
                    f"{rate} ({m['hits']}/{m['plates']})",
                    str(m["false_alerts"]),
                    f"{m['ms_per_moving_frame']:.1f}",
                    str(m["moving_frames"]),
                    str(m["missed"]),
                )
            console.print(f"{name}: done", highlight=False)
    results.update(meter.metrics())
    console.print(table)
    busy = results.get("host_other_busy")
    console.print(f"host: other work took {busy} of the CPUs during the run", highlight=False)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "plates_in_vehicles.json", results)
    console.print(f"written: {args.out / 'plates_in_vehicles.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
