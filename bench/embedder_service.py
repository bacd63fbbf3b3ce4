"""Milliseconds per face: the local dlib-onnx embedder against the shared Ray embedder actor.

Three ways in one run, on the same chips (a real face from the shared data, or the demo
astronaut when it is absent):

* ``local``      -- the camera's own embedder in its own process (the baseline);
* ``actor-1by1`` -- through one :class:`EmbedderService` actor, one call at a time (no
  batching: each call pays the Ray round trip and a one-face network run);
* ``actor-N``    -- ``--callers`` threads (cameras) calling at once: the actor gathers their
  chips into batches.

Writes a table, ``embedder_service.json`` and ``embedder_service.png`` under ``--out``.

    .venv/bin/python bench/embedder_service.py [--faces 64] [--callers 8] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from citywatch.config.root import parse_config
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.engine.ray_inference import embedder_for, start_embedder_services
from citywatch.vision.faces.dlib_onnx_cache import ensure_onnx_model
from citywatch.vision.faces.registry import build_embedder

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()


def face() -> tuple[np.ndarray, np.ndarray]:
    """One image and the 5 landmarks of one face in it (the project's dlib back ends)."""
    import cv2
    from skimage import data

    from citywatch.config.faces import FaceDetectorConfig
    from citywatch.vision.faces.registry import build_detector, build_landmarker

    path = DATA / "faces/watchlist_video/examples/obama.jpg"
    image = cv2.imread(str(path)) if path.is_file() else None
    if image is None:
        image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    boxes = build_detector(FaceDetectorConfig(type="dlib")).detect(image).xyxy[:1]
    return image, build_landmarker().landmarks(image, boxes).astype(np.float32)


def main() -> None:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=int, default=64, help="embeddings per way")
    ap.add_argument("--callers", type=int, default=8, help="concurrent cameras for actor-N")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = ap.parse_args()
    import os

    import ray

    cache = Path(tempfile.mkdtemp(prefix="cw-models-"))
    ensure_onnx_model(cache)
    cfg = parse_config(
        {
            "models": {"cache_dir": str(cache)},
            "engine": {"kind": "ray", "ray": {"shared_embedder": True}},
        }
    )
    image, lm = face()
    local = build_embedder(cfg.faces.embedder, cache)
    ray.init(num_cpus=2, include_dashboard=False, namespace="citywatch", log_to_driver=False)
    rows: dict[str, dict[str, Any]] = {}
    try:
        (service,) = start_embedder_services(cfg, cfg.engine.ray, run_id="bench")
        remote = embedder_for("cam", "bench", cfg.engine.ray)
        remote.embed(image, lm)  # warm: actor started, session loaded
        local.embed(image, lm)

        def timed(name: str, run: Any) -> None:
            before = ray.get(service.stats.remote())
            t0 = time.perf_counter()
            run()
            ms = (time.perf_counter() - t0) * 1000 / args.faces
            after = ray.get(service.stats.remote())
            batches = after["batches"] - before["batches"]
            rows[name] = {"ms_per_face": round(ms, 2), "network_calls": batches}

        timed("local", lambda: [local.embed(image, lm) for _ in range(args.faces)])
        timed("actor-1by1", lambda: [remote.embed(image, lm) for _ in range(args.faces)])
        with ThreadPoolExecutor(args.callers) as pool:
            timed(
                f"actor-{args.callers}",
                lambda: list(pool.map(lambda _: remote.embed(image, lm), range(args.faces))),
            )
        rows["local"]["network_calls"] = args.faces
    finally:
        ray.shutdown()
    base = rows["local"]["ms_per_face"]
    print(f"{'way':<12} {'ms/face':>8} {'x local':>8} {'network calls':>14}")
    for name, r in rows.items():
        r["vs_local"] = round(r["ms_per_face"] / base, 2)
        print(f"{name:<12} {r['ms_per_face']:>8.2f} {r['vs_local']:>8.2f} {r['network_calls']:>14}")
    print(f"({os.cpu_count()} CPUs, dlib-onnx with flip, {args.faces} faces per way)")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"faces": args.faces, "callers": args.callers, "cpus": os.cpu_count(), "rows": rows}
    (args.out / "embedder_service.json").write_text(json.dumps(result, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(rows), [r["ms_per_face"] for r in rows.values()])
    ax.set_ylabel("ms per face")
    ax.set_title(f"dlib-onnx embedding, {os.cpu_count()} CPUs")
    fig.tight_layout()
    fig.savefig(args.out / "embedder_service.png", dpi=100)


if __name__ == "__main__":
    main()
