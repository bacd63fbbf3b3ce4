"""What a still frame costs, part by part (issue 18: an idle camera is nearly free).

A camera analysing 5 of its stream's frames per second pays, for a frame in which nothing
moves: the decode of every picture the stream delivers (two per analysed frame for a 10 fps
stream), the picture's conversion to BGR (before issue 18's lazy frames: every analysed frame),
and the motion gate (a downscale, a blur, MOG2).  This script times each on one thread, in
turns, for the quiet scene of ``bench/pipeline.py`` (or any video): CPU ms per analysed frame.

    .venv/bin/python bench/idle_frame.py [--video PATH] [--rounds 3] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from citywatch.sources.picture import AvPicture
from citywatch.vision.motion import MotionGate
from citywatch.vision.record import Luma, Motion

REPO = Path(__file__).resolve().parents[1]
QUIET = REPO.parent / "shared/data/video/intel_sample_videos/one-by-one-person-detection.mp4"


def _cpu() -> float:
    return time.thread_time()


def one_round(video: Path, fps: float) -> dict[str, float]:
    """CPU ms per analysed frame of each part, over the whole video."""
    decode = convert = luma_s = 0.0
    pictures: list[AvPicture] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"  # one thread, as a camera decodes
        rate = float(stream.average_rate or 25)
        every = max(1, round(rate / fps))
        delivered = 0
        packets = iter(container.demux(stream))
        while True:
            t0 = _cpu()
            try:
                frames = next(packets).decode()
            except StopIteration:
                break
            decode += _cpu() - t0
            for vf in frames:
                delivered += 1
                if delivered % every:
                    continue
                pic = AvPicture(vf)
                t0 = _cpu()
                pic.bgr()
                convert += _cpu() - t0
                t0 = _cpu()
                pic.luma()
                luma_s += _cpu() - t0
                pictures.append(pic)
    n = len(pictures)
    bgr = [p.bgr() for p in pictures]
    lumas = [p.luma() for p in pictures]
    gates: dict[str, Callable[[int], Motion]] = {}
    on_bgr, on_luma = MotionGate(), MotionGate()
    gates["BGR"] = lambda i: on_bgr.update(bgr[i])
    gates["luma"] = lambda i: on_luma.update(_luma(lumas[i]))
    out = {
        "decode (every delivered picture)": decode,
        "BGR conversion": convert,
        "luma plane (a view)": luma_s,
    }
    still: dict[str, int] = {}
    for name, gate in gates.items():
        spent = 0.0
        still[name] = 0
        for i in range(n):
            t0 = _cpu()
            motion = gate(i)
            if not motion.moving:  # what a still frame pays
                spent += _cpu() - t0
                still[name] += 1
        out[f"gate on {name}, a still frame"] = spent * n / max(1, still[name])
    mog = cv2.createBackgroundSubtractorMOG2(history=200, varThreshold=25, detectShadows=False)
    small = [cv2.GaussianBlur(cv2.resize(_luma(x).plane, (320, 180)), (5, 5), 0) for x in lumas]
    t0 = _cpu()
    for s in small:
        mog.apply(s)
    out["of which MOG2 (320x180)"] = _cpu() - t0
    result = {k: 1000.0 * v / max(1, n) for k, v in out.items()}
    result["analysed frames"] = float(n)
    result["still frames (gate on BGR)"] = float(still["BGR"])
    result["still frames (gate on luma)"] = float(still["luma"])
    result["delivered per analysed"] = delivered / max(1, n)
    return result


def _luma(value: Luma | None) -> Luma:
    if value is None:
        raise SystemExit("the video's pictures have no luma plane (not YUV)")
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=QUIET)
    ap.add_argument("--fps", type=float, default=5.0, help="analysed frames per second")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if not args.video.is_file():
        print(f"no video at {args.video}", file=sys.stderr)
        return 2
    rounds = [one_round(args.video, args.fps) for _ in range(args.rounds)]
    table = Table(title=f"a still frame, CPU ms per analysed frame ({args.video.name}, one thread)")
    table.add_column("part")
    for k in range(len(rounds)):
        table.add_column(f"round {k + 1}", justify="right")
    table.add_column("median", justify="right")
    summary: dict[str, float] = {}
    for key in rounds[0]:
        vals = [r[key] for r in rounds]
        summary[key] = round(statistics.median(vals), 3)
        table.add_row(key, *(f"{v:.3f}" for v in vals), f"{summary[key]:.3f}")
    before = summary["decode (every delivered picture)"] + summary["BGR conversion"]
    summary["still frame before lazy frames (decode + BGR + gate on BGR)"] = round(
        before + summary["gate on BGR, a still frame"], 3
    )
    summary["still frame now (decode + gate on luma)"] = round(
        summary["decode (every delivered picture)"] + summary["gate on luma, a still frame"], 3
    )
    Console(width=130).print(table)
    for key in list(summary)[-2:]:
        print(f"{key}: {summary[key]:.2f} ms")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "idle_frame.json").write_text(
        json.dumps({"video": str(args.video), "rounds": rounds, "median": summary}, indent=2)
    )
    print(f"wrote {args.out / 'idle_frame.json'}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
