"""Quick plate benchmark on ../shared/data/plates: still images (top-1 exact rate, ms/image) and
the Dutch video clips (voted read per clip against the truth via the hotlist matcher).

    .venv/bin/python bench/plates_quick.py [images_eu images_us video_nl] [--formats SK,CZ,EU]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np

from citywatch.config.plates import PlatesConfig
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.vision.plates.build import build_plate_stage

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "plates"


def still_images(folder: str, cfg: PlatesConfig, verbose: bool) -> None:
    stage = build_plate_stage(cfg, track=False)
    files = sorted((DATA / folder).glob("*.jpg"))
    exact = loose = 0
    times = []
    for f in files:
        truth = f.with_suffix(".txt").read_text().split("\t")[-1].strip().upper()
        image = cv2.imread(str(f))
        t0 = time.perf_counter()
        plates = stage.read_plates(image)
        times.append((time.perf_counter() - t0) * 1000)
        got = plates.text[0] if len(plates) else ""
        exact += got == truth
        ok = got.replace("O", "0") == truth.replace("O", "0")
        loose += ok
        if verbose and not ok:
            print(f"  {f.name}: truth {truth} got {got!r} all {plates.text[:4]}")
    n = len(files)
    print(
        f"{folder}: exact {exact}/{n} = {exact / n:.3f}; O=0 {loose}/{n} = {loose / n:.3f}; "
        f"ms/image mean {np.mean(times):.0f} median {np.median(times):.0f}"
    )


def video_clips(cfg: PlatesConfig, fps: float, verbose: bool, motion: bool) -> None:
    import av

    from citywatch.decisions.hotlist import HotlistMatcher
    from citywatch.decisions.plates import PlateTrackVoter
    from citywatch.vision.motion import MotionGate
    from citywatch.vision.record import Frame, FrameRecord, Motion

    root = DATA / "video_nl"
    rows = list(csv.DictReader((root / "per_clip_ground_truth.csv").open()))
    entries = [(i, 1, r["plate"]) for i, r in enumerate(rows)]
    matcher = HotlistMatcher(entries, max_distance=cfg.max_distance)
    hits = false = 0
    ms: list[float] = []
    searched: list[float] = []
    for row in rows:
        stage = build_plate_stage(cfg)
        voter = PlateTrackVoter(cfg, "nl")
        gate = MotionGate()
        truth = row["plate"].replace("-", "")
        reads = []
        with av.open(str(root / "clips" / row["clip"])) as c:
            rate = float(c.streams.video[0].average_rate or 12)
            step = max(1, round(rate / fps))
            for i, fr in enumerate(c.decode(video=0)):
                if i % step:
                    continue
                img = fr.to_ndarray(format="bgr24")
                t0 = time.perf_counter()
                rec = FrameRecord(Frame("nl", i, i / rate, time.time(), img))
                rec.motion = gate.update(img) if motion else Motion(True, 1.0)
                stage.process(rec)
                reads += voter.update(rec)
                ms.append((time.perf_counter() - t0) * 1000)
                if rec.motion is not None and rec.motion.moving:
                    searched.append(ms[-1])
        reads += voter.flush()
        matched = [(r, matcher.match(r.text)) for r in reads]
        good = any(m is not None and rows[m.entry_id]["plate"] == row["plate"] for _, m in matched)
        bad = [
            r.text
            for r, m in matched
            if m is not None and rows[m.entry_id]["plate"] != row["plate"]
        ]
        hits += good
        false += len(bad)
        if verbose:
            got = [(r.text, r.reads, round(r.confidence, 2)) for r in reads]
            print(f"  {row['clip']}: truth {truth} reads {got} hit {good} false {bad}")
    print(
        f"video_nl: hits {hits}/{len(rows)}, false alerts {false}, ms/frame mean "
        f"{np.mean(ms):.0f} (frames with motion: {len(searched)}/{len(ms)}, "
        f"mean {np.mean(searched):.0f} ms)"
    )


def main() -> None:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=["images_eu", "images_us", "video_nl"])
    ap.add_argument("--formats", default="")
    ap.add_argument("--max-side", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--upscale", type=float, default=1.0)
    ap.add_argument("--fps", type=float, default=5.0)
    ap.add_argument("--no-motion", action="store_true", help="read every frame in full")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    for name in args.sets:
        cfg = PlatesConfig()
        cfg.reader.threads = args.threads
        cfg.reader.det_max_upscale = args.upscale
        if args.max_side:
            cfg.reader.det_max_side = args.max_side
        default_formats = {"images_eu": "SK,CZ,DE,EU", "images_us": "US", "video_nl": "NL"}
        fmts = args.formats or default_formats[name]
        cfg.formats = fmts.split(",")  # type: ignore[assignment]
        print(f"[{name}] formats {cfg.formats} det_max_side {cfg.reader.det_max_side}")
        if name == "video_nl":
            video_clips(cfg, args.fps, args.v, not args.no_motion)
        else:
            still_images(name, cfg, args.v)


if __name__ == "__main__":
    main()
