"""Soak: the demo platform (faces and plates on looped footage, the API serving and polled)
running in this process for ``--minutes``; memory must be flat after the warm-up.

Every ``--sample-s`` (default: each minute) it records the process's RSS, open files and
threads, each camera's frames, drops, errors, pending results and lag, the alert sinks'
queues, the rows stored per camera (alerts, plate reads, face counts), the API requests
answered, and the host's load (``eval/host_load.py``: on a shared machine the cameras may
analyse less footage than the wall time; the slope is per hour of *footage*).

The slope of RSS against hours of footage analysed (least squares over the samples after
``--warmup-min``) is printed, written to ``soak.json`` beside every sample, and plotted to
``soak.png``; the exit status is 1 when it exceeds ``--max-slope`` MB/h, unless the median
growth over the sampling intervals and the slope of the last third of the run are both
within it (one high-water step of the allocator, not a leak: ``eval/soak_verdict.py``).
Run it for each camera alone (``--cameras cam-entrance``) to see each camera's own RSS.
RSS moves in steps (the allocator and onnxruntime's memory arena reserve memory in chunks:
the C heap in use, also recorded, jumped 256 MB once while RSS rose 8 MB): a step of a few
MB weighs a few MB/h only over an hour of footage, so judge the 1 MB/h limit on runs of
hours.

    .venv/bin/python bench/soak.py [--minutes 10] [--cameras cam-entrance cam-street]
        [--video cam-street=../shared/data/video/intel_sample_videos/car-detection.mp4]
        [--max-slope 1.0] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from citywatch.engine.allocator import keep_freed_buffers  # noqa: E402
from citywatch.eval.common import new_figure, save_figure  # noqa: E402
from citywatch.eval.host_load import LoadMeter  # noqa: E402
from citywatch.eval.soak import (  # noqa: E402
    Soak,
    SoakSample,
    median_slope_mb_per_h,
    rss_growth_per_frame,
    rss_slope_mb_per_h,
    run_soak,
)
from citywatch.eval.soak_verdict import soak_verdict  # noqa: E402


def _videos(pairs: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pair in pairs:
        cam, sep, path = pair.partition("=")
        if not sep or not Path(path).is_file():
            raise SystemExit(f"--video {pair!r}: expected CAMERA=PATH of an existing file")
        out[cam] = Path(path)
    return out


def summary(samples: list[SoakSample], warmup_s: float) -> dict[str, Any]:
    """The figures the report and the exit status use."""
    first, last = samples[0], samples[-1]
    kept = [s for s in samples if s.t_s >= warmup_s]
    start = kept[0] if kept else last
    return {
        "wall_s": last.t_s,
        "footage_s": last.footage_s,
        "frames": last.frames,
        "rss_mb_first": first.rss_mb,
        "rss_mb_after_warmup": start.rss_mb,
        "rss_mb_end": last.rss_mb,
        "rss_mb_max": max(s.rss_mb for s in samples),
        "slope_mb_per_h": rss_slope_mb_per_h(samples, warmup_s),
        "median_slope_mb_per_h": median_slope_mb_per_h(samples, warmup_s),
        "heap_in_use_slope_mb_per_h": rss_slope_mb_per_h(
            samples, warmup_s, measure="heap_in_use_mb"
        ),
        "heap_in_use_mb": [start.heap_in_use_mb, last.heap_in_use_mb],
        "heap_free_mb": [start.heap_free_mb, last.heap_free_mb],
        "heap_size_mb": [
            None
            if s.heap_in_use_mb is None or s.heap_free_mb is None
            else round(s.heap_in_use_mb + s.heap_free_mb, 2)
            for s in (start, last)
        ],
        "py_blocks": [start.py_blocks, last.py_blocks],
        "heap_trims": last.heap_trims,
        "heap_trim_ms_max": last.heap_trim_ms,
        "growth_mb_per_frame": rss_growth_per_frame(samples, warmup_s),
        "open_files": [start.open_files, last.open_files],
        "threads": [start.threads, last.threads],
        "api_ok": last.api_ok,
        "api_failed": last.api_failed,
        "cameras": last.cameras,
        "events": last.events,
        "sink_queues_end": last.sink_queues,
    }


def plot(samples: list[SoakSample], warmup_s: float, slope: float | None, path: Path) -> Path:
    """RSS over the whole run, RSS after the warm-up (zoomed, with the fitted line), open
    files and threads, frames per camera; all against the footage analysed."""
    fig = new_figure(8.0, 9.0)
    mem, zoom, res, work = fig.subplots(4, 1, sharex=True)
    minutes = [s.footage_s / 60.0 for s in samples]
    mem.plot(minutes, [s.rss_mb for s in samples], "o-", color="tab:blue", label="RSS")
    warm = [m for m, s in zip(minutes, samples, strict=True) if s.t_s < warmup_s]
    if warm:
        mem.axvspan(min(minutes), max(warm), color="0.9", label="warm-up")
    mem.set_ylabel("RSS (MB)")
    mem.legend(loc="best", fontsize=8)
    kept = [(m, s) for m, s in zip(minutes, samples, strict=True) if s.t_s >= warmup_s]
    if kept:
        xs = [m for m, _ in kept]
        rss0 = kept[0][1].rss_mb
        zoom.plot(xs, [s.rss_mb - rss0 for _, s in kept], "o-", label="RSS")
        heap = [s.heap_in_use_mb for _, s in kept]
        if all(h is not None for h in heap):
            h0 = float(heap[0] or 0.0)
            other = zoom.twinx()  # its own scale: untouched reservations count there, not in RSS
            other.plot(xs, [float(h or 0.0) - h0 for h in heap], "s:", color="tab:orange")
            other.set_ylabel("C heap in use (MB since warm-up)", color="tab:orange", fontsize=8)
        if slope is not None and len(kept) >= 2:
            x0 = sum(xs) / len(xs)
            y0 = sum(s.rss_mb - rss0 for _, s in kept) / len(kept)
            ends = [xs[0], xs[-1]]
            fit = [y0 + slope * (x - x0) / 60.0 for x in ends]
            zoom.plot(ends, fit, "--", color="tab:red", label=f"RSS fit: {slope:+.2f} MB/h")
    zoom.set_ylabel("RSS (MB since warm-up)")
    zoom.legend(loc="best", fontsize=8)
    res.plot(minutes, [s.open_files for s in samples], "o-", label="open files")
    res.plot(minutes, [s.threads for s in samples], "s-", label="threads")
    clips = [sum(s.events.get("clips", {}).values()) for s in samples]
    if any(clips):
        res.plot(minutes, clips, "^-", label="evidence clips made")
    res.set_ylabel("count")
    res.legend(loc="best", fontsize=8)
    for cam in samples[-1].cameras:
        work.plot(minutes, [s.cameras.get(cam, {}).get("analysed", 0) for s in samples], label=cam)
    work.set_ylabel("frames analysed")
    work.set_xlabel("footage analysed per camera (minutes)")
    work.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the cameras run")
    ap.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--warmup-min", type=float, default=2.0, help="minutes left out of the fit")
    ap.add_argument("--max-slope", type=float, default=1.0, help="MB of RSS per hour of footage")
    ap.add_argument("--cameras", nargs="*", default=None, help="demo camera ids (default: all)")
    ap.add_argument("--video", action="append", default=[], help="CAMERA=PATH looped instead")
    ap.add_argument("--api-every-s", type=float, default=5.0, help="API poll interval")
    ap.add_argument(
        "--heap-trim-s",
        type=float,
        default=None,
        help="seconds between the workers' malloc_trim (0: never; default: the config's)",
    )
    ap.add_argument(
        "--alert-every-s",
        type=float,
        default=None,
        help="a subject seen again this many seconds after its alert raises a new alert and "
        "evidence clip (grouping off), so clips are made all through the soak "
        "(default: the config's windows: looped footage stays one alert)",
    )
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--name", default="soak", help="file name stem of the JSON and the plot")
    args = ap.parse_args()
    if args.minutes <= 0 or args.sample_s <= 0 or args.warmup_min < 0:
        raise SystemExit("--minutes and --sample-s must be > 0, --warmup-min >= 0")
    if args.warmup_min >= args.minutes:
        raise SystemExit("--warmup-min must be shorter than --minutes")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    keep_freed_buffers()  # as every analysing process does
    console = Console()
    seconds, warmup_s = args.minutes * 60.0, args.warmup_min * 60.0
    with tempfile.TemporaryDirectory(prefix="citywatch-soak-") as tmp:
        soak = Soak(
            Path(tmp),
            cameras=args.cameras,
            videos=_videos(args.video),
            api_every_s=args.api_every_s,
            heap_trim_every_s=args.heap_trim_s,
            alert_every_s=args.alert_every_s,
        )
        console.print("starting the platform (footage, models, API) ...")
        soak.start()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
        )
        try:
            with LoadMeter() as load, Progress(*columns, console=console) as progress:
                task = progress.add_task("soak", total=seconds, status="")

                args.out.mkdir(parents=True, exist_ok=True)
                live = args.out / f"{args.name}.samples.jsonl"  # each sample as it is taken:
                live.write_text("", encoding="utf-8")  # what a run cut short still leaves

                def on_sample(s: SoakSample) -> None:
                    with live.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(s.as_dict()) + "\n")
                    progress.update(
                        task,
                        completed=min(s.t_s, seconds),
                        status=f"RSS {s.rss_mb:.0f} MB, {s.frames} frames, "
                        f"{s.open_files} files, {s.threads} threads",
                    )

                samples = run_soak(soak, seconds, args.sample_s, on_sample=on_sample)
        finally:
            soak.stop()
    result = summary(samples, warmup_s)
    host = load.load.metrics() if load.load is not None else {}
    slope = result["slope_mb_per_h"]
    verdict = soak_verdict(samples, warmup_s, args.max_slope)
    passed = verdict.passed
    doc = {
        "bench": "soak",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **host,
        "summary": result,
        "max_slope_mb_per_h": args.max_slope,
        "passed": passed,
        "verdict": verdict.reason,
        "last_third_slope_mb_per_h": verdict.tail_slope_mb_per_h,
        "samples": [s.as_dict() for s in samples],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{args.name}.json"
    json_path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    png = plot(samples, warmup_s, slope, args.out / f"{args.name}.png")

    table = Table(
        title=f"soak: {result['wall_s'] / 60:.1f} min wall, "
        f"{result['footage_s'] / 60:.1f} min of footage per camera"
    )
    cols = ("camera", "frames", "dropped", "errors", "pending", "alerts", "clips", "plate reads")
    for col in cols:
        table.add_column(col)
    for cam, c in result["cameras"].items():
        table.add_row(
            cam,
            str(c["analysed"]),
            str(c["dropped"]),
            str(c["errors"]),
            str(c["pending_results"]),
            str(result["events"].get("alerts", {}).get(cam, 0)),
            str(result["events"].get("clips", {}).get(cam, 0)),
            str(result["events"].get("plate_reads", {}).get(cam, 0)),
        )
    console.print(table)
    slope_text = "n/a" if slope is None else f"{slope:+.2f}"
    console.print(
        f"RSS {result['rss_mb_first']:.0f} MB at start, {result['rss_mb_after_warmup']:.0f} "
        f"after warm-up, {result['rss_mb_end']:.0f} at the end (max {result['rss_mb_max']:.0f}); "
        f"slope {slope_text} MB per hour of footage (limit {args.max_slope}); open files "
        f"{result['open_files']}, threads {result['threads']}; API {result['api_ok']} ok, "
        f"{result['api_failed']} failed"
    )
    median = result["median_slope_mb_per_h"]
    if median is not None:
        console.print(
            f"median slope over the sampling intervals {median:+.2f} MB per hour of footage: a "
            "one-off step moves the least-squares slope, not this one"
        )
    heap_slope = result["heap_in_use_slope_mb_per_h"]
    if heap_slope is not None:
        console.print(
            f"C heap in use {result['heap_in_use_mb']} MB (slope {heap_slope:+.2f} MB/h), "
            f"its size (in use + free) {result['heap_size_mb']} MB, "
            f"free in the heap {result['heap_free_mb']} MB, Python blocks {result['py_blocks']}; "
            f"heap trimmed {result['heap_trims']} times (longest "
            f"{result['heap_trim_ms_max']:.0f} ms)"
        )
    if load.load is not None and (note := load.load.note()):
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"wrote {json_path} and {png}")
    if not passed:
        console.print(f"[bold red]{verdict.reason}[/]")
        return 1
    console.print(f"[green]memory flat[/]: {verdict.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
