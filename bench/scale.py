"""Scaling: analysed frames/s and alert latency for 1, 2 and 4 worker processes (Ray actors)
and growing camera counts, with the scaling efficiency against the single-worker run measured
in the same run; plus the per-stage cost of one analysed frame and the store's write rate.

Each worker is a Ray actor (one process, its own models) running camera workers on threads,
the same :class:`~citywatch.engine.worker.CameraWorker` the engines run.  Cameras are the
demo street and square scenes (640x360, a hotlisted plate on the street), looped and read as
fast as the worker analyses them (no pacing, every sampled frame analysed): throughput is the
capacity of that many worker processes.  Alert latency: from the moment the frame that
completed a hotlisted plate's track was decoded to the moment the worker handed the read to
its sink (queueing in the worker included; the database write and fan-out are measured
separately below).

Efficiency(W, C) = throughput(W workers, C cameras) / (W x throughput(1 worker, C cameras)).
A worker's camera threads run in parallel wherever the native libraries release the GIL
(FFmpeg decode, ONNX Runtime, OpenCV), so one worker with many cameras already uses several
cores: efficiency measures what more processes add on top, not per-core scaling; CPU ms per
frame x frames/s gives the cores actually busy.  On a machine with fewer cores than workers
the extra workers share cores (the table prints the core count).

``--engine processes`` runs the workers as plain processes (a machine without Ray).

    .venv/bin/python bench/scale.py [--workers 1 2 4] [--cameras 2 4 8] [--seconds 8]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from citywatch.config.root import CitywatchConfig, parse_config  # noqa: E402
from citywatch.engine.allocator import keep_freed_buffers  # noqa: E402
from citywatch.eval.host_load import LoadMeter  # noqa: E402

ANALYSE_FPS = 5.0


def _config(clips: dict[str, Path], cameras: int) -> CitywatchConfig:
    names = sorted(clips)
    cams = [
        {
            "id": f"cam-{i:03d}",
            "url": str(clips[names[i % len(names)]]),
            "loop": True,
            "analyse_fps": ANALYSE_FPS,
            "purposes": ["plate"],
        }
        for i in range(cameras)
    ]
    return parse_config(
        {
            "alerts": {"console": False},
            "cameras": cams,
        }
    )


class BenchWorker:
    """One worker process: its own models, one camera worker thread per assigned camera."""

    def __init__(self, config: CitywatchConfig, camera_ids: list[str], plate: str) -> None:
        from citywatch.engine.assemble import Models, Permissions, build_pipeline
        from citywatch.engine.worker import CameraWorker
        from citywatch.sources.pyav import CameraSource

        keep_freed_buffers()  # each worker process, as a camera actor does
        self._plate = plate.replace("-", "").replace(" ", "")
        self.latencies: list[float] = []
        self._lock = threading.Lock()
        models = Models(config)
        models.plates  # noqa: B018 - load before the clock starts
        try:
            models.face_detector  # noqa: B018 - redacts faces in plate evidence
        except Exception:  # a machine without the face packages: evidence is not redacted
            from citywatch.vision.record import Detections

            class _NoFaces:
                def detect(self, image: Any) -> Detections:
                    return Detections.empty()

            models._face_detector = _NoFaces()  # type: ignore[assignment]
        perms = Permissions(faces=False, plates=True)
        self.pipelines = []
        self.workers = []
        for cam in [c for c in config.cameras if c.id in camera_ids]:
            pipeline = build_pipeline(cam, config, models, perms, None)
            self.pipelines.append(pipeline)
            worker = CameraWorker(cam.id, CameraSource(cam), pipeline, self, live=False, pace=False)
            self.workers.append(worker)

    def ready(self) -> bool:
        return True

    def handle(self, camera_id: str, sightings: list[Any]) -> None:
        now = time.time()
        with self._lock:
            for s in sightings:
                if getattr(s, "text", None) == self._plate:
                    self.latencies.append(now - s.frame_wall_time)

    def run(self, seconds: float) -> dict[str, Any]:
        threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]
        cpu0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        analysed = sum(w.stats.analysed for w in self.workers)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        for w in self.workers:
            w.stop()
        for t in threads:
            t.join(10)
        stages: dict[str, float] = {}
        frames = 0
        for p in self.pipelines:
            frames += p.counters.frames
            for k, v in p.counters.stage_ms.items():
                stages[k] = stages.get(k, 0.0) + v
        return {
            "analysed": analysed,
            "wall_s": wall,
            "cpu_s": cpu,
            "latencies": list(self.latencies),
            "stage_ms": stages,
            "frames": frames,
        }


def _process_worker(
    cfg: CitywatchConfig, ids: list[str], plate: str, seconds: float, barrier: Any, out: Any
) -> None:
    import traceback

    try:
        worker = BenchWorker(cfg, ids, plate)
    except BaseException:
        out.put({"error": traceback.format_exc()})
        barrier.abort()  # the others must not wait for this one
        raise
    barrier.wait()  # every worker has loaded its models: start together
    out.put(worker.run(seconds))


def _run_processes(
    cfg: CitywatchConfig, ids: list[str], plate: str, w: int, seconds: float
) -> list[dict[str, Any]]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(w), ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(cfg, ids[i::w], plate, seconds, barrier, out))
        for i in range(w)
    ]
    for p in procs:
        p.start()
    import queue

    results: list[dict[str, Any]] = []
    while len(results) < w:
        try:
            got = out.get(timeout=2)
        except queue.Empty:
            if all(p.exitcode is not None for p in procs) and out.empty():
                raise RuntimeError("a bench worker process died without a result") from None
            continue
        if "error" in got:
            for p in procs:
                p.terminate()
            raise RuntimeError(f"a bench worker failed:\n{got['error']}")
        results.append(got)
    for p in procs:
        p.join(30)
    return results


def _run_ray(
    cfg: CitywatchConfig, ids: list[str], plate: str, w: int, seconds: float
) -> list[dict[str, Any]]:
    import ray

    remote: Any = ray.remote(num_cpus=1)(BenchWorker)
    actors = [remote.remote(cfg, ids[i::w], plate) for i in range(w)]
    ray.get([a.ready.remote() for a in actors])  # models loaded everywhere: start together
    results: list[dict[str, Any]] = ray.get([a.run.remote(seconds) for a in actors])
    for a in actors:
        ray.kill(a)
    return results


def run_grid(
    clips: dict[str, Path],
    plate: str,
    workers: list[int],
    cameras: list[int],
    seconds: float,
    mode: str = "ray",
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c in cameras:
        cfg = _config(clips, c)
        ids = [cam.id for cam in cfg.cameras]
        for w in workers:
            if w > c:
                continue
            run = _run_ray if mode == "ray" else _run_processes
            results = run(cfg, ids, plate, w, seconds)
            analysed = sum(r["analysed"] for r in results)
            wall = max(r["wall_s"] for r in results)
            lat = [x for r in results for x in r["latencies"]]
            stages: dict[str, float] = {}
            frames = sum(r["frames"] for r in results)
            for r in results:
                for k, v in r["stage_ms"].items():
                    stages[k] = stages.get(k, 0.0) + v
            rows.append(
                {
                    "workers": w,
                    "cameras": c,
                    "fps": analysed / wall,
                    "cpu_ms_per_frame": 1000.0 * sum(r["cpu_s"] for r in results) / analysed
                    if analysed
                    else 0.0,
                    "alert_latency_p50_s": statistics.median(lat) if lat else None,
                    "alert_latency_max_s": max(lat) if lat else None,
                    "alerts": len(lat),
                    # wall ms per frame and stage, threads of a worker sharing its cores
                    "stage_wall_ms_per_frame": {k: v / frames for k, v in stages.items()}
                    if frames
                    else {},
                }
            )
            base = next(r for r in rows if r["cameras"] == c and r["workers"] == 1)
            rows[-1]["speedup"] = rows[-1]["fps"] / base["fps"]
            rows[-1]["efficiency"] = rows[-1]["speedup"] / w
    return rows


def stage_costs(workdir: Path, sizes: list[tuple[int, int]]) -> dict[str, dict[str, float]]:
    """CPU ms of each stage on one frame (one thread), per frame size: decode (H.264), motion
    gate, face detection, landmarks + embedding (per face), plate detection (full frame) and
    OCR (per plate)."""
    import av

    from citywatch.config.root import CitywatchConfig as Cfg
    from citywatch.config.root import ModelsConfig
    from citywatch.demo.footage import make_demo_videos
    from citywatch.engine.assemble import Models
    from citywatch.vision.motion import MotionGate

    def cpu_ms(fn: Any, items: list[Any]) -> float:
        fn(items[0])  # warm up
        t0 = time.process_time()
        for it in items:
            fn(it)
        return 1000.0 * (time.process_time() - t0) / len(items)

    models = Models(Cfg(models=ModelsConfig(threads=1)))
    detector, reader = models.plates
    out: dict[str, dict[str, float]] = {}
    for w, h in sizes:
        footage = make_demo_videos(workdir / f"stages-{w}x{h}", seconds=3, fps=10, size=(w, h))
        frames: dict[str, list[Any]] = {}
        for cam in ("cam-street", "cam-entrance"):
            with av.open(str(footage.path(cam))) as c:
                frames[cam] = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        street, entrance = frames["cam-street"], frames["cam-entrance"]

        def decode(path: Path) -> None:
            with av.open(str(path)) as c:
                c.streams.video[0].thread_type = "NONE"
                for f in c.decode(video=0):
                    f.to_ndarray(format="bgr24")

        t0 = time.process_time()
        decode(footage.path("cam-street"))
        dec = 1000.0 * (time.process_time() - t0) / len(street)
        gate = MotionGate()
        motion = cpu_ms(gate.update, street)
        face_det = cpu_ms(models.face_detector.detect, entrance)
        faces = [(img, models.face_detector.detect(img).xyxy) for img in entrance]
        faces = [(img, xy[:1]) for img, xy in faces if len(xy)]

        def embed(item: tuple[Any, Any]) -> None:
            img, xy = item
            models.embedder.embed(img, models.landmarker.landmarks(img, xy))

        emb = cpu_ms(embed, faces) if faces else float("nan")
        plate_det = cpu_ms(detector.detect, street)
        plates = [(img, detector.detect(img).xyxy) for img in street]
        plates = [(img, xy[:1]) for img, xy in plates if len(xy)]
        ocr = cpu_ms(lambda it: reader.read(it[0], it[1]), plates) if plates else float("nan")
        out[f"{w}x{h}"] = {
            "decode_ms": dec,
            "motion_ms": motion,
            "face_detect_ms": face_det,
            "face_embed_ms_per_face": emb,
            "plate_detect_ms": plate_det,
            "ocr_ms_per_plate": ocr,
            "faces_measured": float(len(faces)),
            "plates_measured": float(len(plates)),
        }
    return out


def store_rate(database_url: str, n: int = 300) -> dict[str, float]:
    """Plate reads written per second through the recorder (one connection), and the time
    from an alert's commit to its delivery by a LISTEN/NOTIFY listener."""
    import secrets

    from sqlalchemy import create_engine, text

    from citywatch.audit.chain import Actor
    from citywatch.config.camera import CameraConfig
    from citywatch.decisions.types import HotlistHit, PlateRead
    from citywatch.engine.fanout import AlertListener, PgNotifier
    from citywatch.services.cameras import register_camera
    from citywatch.services.events import EventRecorder
    from citywatch.store.db import make_engine, make_session_factory, upgrade_database
    from citywatch.store.media import MediaStore

    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    name = f"citywatch_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name)
    try:
        upgrade_database(url)
        engine = make_engine(url, pool_size=2, max_overflow=0)
        sessions = make_session_factory(engine)
        cam = CameraConfig.model_validate(
            {
                "id": "bench-1",
                "url": "rtsp://127.0.0.1:9/x",
                "purposes": ["plate"],
                "legal_basis": "bench",
                "impact_assessment": "bench",
                "approved_on": "2026-01-01",
            }
        )
        with sessions() as s:
            register_camera(s, cam, Actor.system("bench"))
        sent: dict[int, float] = {}
        got: list[float] = []

        def deliver(event: Any) -> None:
            got.append(time.perf_counter() - sent.get(event.id, time.perf_counter()))

        listen_engine = make_engine(url, pool_size=1, max_overflow=0)  # the driver's own
        listener = AlertListener(listen_engine, deliver, poll_s=1.0).start()
        notifier = PgNotifier(engine)

        def publish(event: Any) -> None:
            sent[event.id] = time.perf_counter()
            notifier.publish(event)

        def hit(r: PlateRead) -> HotlistHit | None:
            return HotlistHit(r, 0, r.text, 0) if r.text.startswith("HOT") else None

        rec = EventRecorder(
            sessions, MediaStore(Path(tempfile.mkdtemp())), hit, publish, repeat_window_s=0
        )
        t0 = time.perf_counter()
        for i in range(n):
            rec.record_plate_read(
                PlateRead(
                    "bench-1",
                    i,
                    ("HOT" if i % 10 == 0 else "AB") + f"{i:05d}",
                    0.9,
                    "",
                    3,
                    4,
                    float(i),
                    float(i) + 1,
                    time.time(),
                    time.time(),
                    (0.0, 0.0, 1.0, 1.0),
                )
            )
        wall = time.perf_counter() - t0
        deadline = time.monotonic() + 10
        while len(got) < n // 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        listener.stop()
        engine.dispose()
        listen_engine.dispose()
        return {
            "reads_per_s_one_connection": n / wall,
            "alerts_stored": n // 10,
            "alerts_delivered": len(got),
            "fanout_latency_p50_ms": 1000 * statistics.median(got) if got else -1.0,
            "fanout_latency_max_ms": 1000 * max(got) if got else -1.0,
        }
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def plot(out: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for w in sorted({r["workers"] for r in rows}):
        mine = [r for r in rows if r["workers"] == w]
        xs = [r["cameras"] for r in mine]
        axes[0].plot(xs, [r["fps"] for r in mine], "o-", label=f"{w} worker(s)")
        axes[1].plot(xs, [r["efficiency"] for r in mine], "o-", label=f"{w} worker(s)")
        axes[2].plot(
            xs, [r["alert_latency_p50_s"] or float("nan") for r in mine], "o-", label=f"{w}"
        )
    axes[0].set_ylabel("analysed frames/s (all cameras)")
    axes[1].set_ylabel("efficiency vs 1 worker")
    axes[1].axhline(1.0, color="grey", lw=0.5)
    axes[2].set_ylabel("alert latency p50 (s)")
    for ax in axes:
        ax.set_xlabel("cameras")
        ax.legend()
    fig.suptitle(f"citywatch scaling on {os.cpu_count()} cores")
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=110)


def main() -> int:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--cameras", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument(
        "--stage-sizes",
        nargs="*",
        default=["1280x720", "1920x1080"],
        help="frame sizes (WxH) for the per-stage costs; none to skip",
    )
    ap.add_argument("--stages-only", action="store_true", help="only the per-stage costs")
    ap.add_argument(
        "--engine",
        choices=["ray", "processes"],
        default="ray",
        help="workers as Ray actors, or as plain processes (a machine without Ray)",
    )
    args = ap.parse_args()
    if 1 not in args.workers:
        ap.error("--workers must include 1 (the baseline)")
    console = Console()
    args.out.mkdir(parents=True, exist_ok=True)

    from citywatch.demo.footage import make_demo_videos

    sizes = [tuple(int(v) for v in x.split("x")) for x in args.stage_sizes]
    with LoadMeter() as stages_load:
        stages_by_size = stage_costs(args.out, sizes) if sizes else {}  # type: ignore[arg-type]
    if note := stages_load.note():
        console.print(f"[yellow]note (per-stage costs):[/] {note}")
    if stages_by_size:
        st = Table(title="CPU ms per analysed frame and stage (one thread)")
        st.add_column("stage")
        for size in stages_by_size:
            st.add_column(size, justify="right")
        for key in next(iter(stages_by_size.values())):
            st.add_row(key, *(f"{v[key]:.1f}" for v in stages_by_size.values()))
        console.print(st)
    if args.stages_only:
        stages_out = {**stages_by_size, "host_load": stages_load.metrics()}
        (args.out / "stages.json").write_text(json.dumps(stages_out, indent=2))
        return 0
    footage = make_demo_videos(args.out / "scale-footage", seconds=8, fps=10, size=(640, 360))
    clips = {"street": footage.path("cam-street"), "square": footage.path("cam-square")}

    if args.engine == "ray":
        import ray

        from citywatch.engine.ray_engine import refresh_ray_auth

        os.environ.setdefault("RAY_AUTH_MODE", "token")
        refresh_ray_auth()
        ray.init(
            num_cpus=max(args.workers),
            include_dashboard=False,
            logging_level=logging.ERROR,
            configure_logging=False,
        )
    try:
        rows = run_grid(
            clips, footage.plate_text, args.workers, args.cameras, args.seconds, args.engine
        )
    finally:
        if args.engine == "ray":
            ray.shutdown()
    try:
        store = store_rate(args.database_url)
    except Exception as err:  # no PostgreSQL here: the rest of the bench stands
        console.print(f"[yellow]store rate skipped: {type(err).__name__}: {err}[/]")
        store = {}

    table = Table(title=f"scaling, {os.cpu_count()} cores, {args.seconds:.0f} s per run")
    for col in ("cameras", "workers", "frames/s", "speedup", "efficiency", "CPU ms/frame"):
        table.add_column(col, justify="right")
    table.add_column("alert latency p50 / max (s)", justify="right")
    for r in rows:
        p50, mx = r["alert_latency_p50_s"], r["alert_latency_max_s"]
        table.add_row(
            str(r["cameras"]),
            str(r["workers"]),
            f"{r['fps']:.1f}",
            f"{r['speedup']:.2f}",
            f"{r['efficiency']:.2f}",
            f"{r['cpu_ms_per_frame']:.1f}",
            "-" if p50 is None else f"{p50:.2f} / {mx:.2f} ({r['alerts']})",
        )
    console.print(table)
    if store:
        console.print(store)
    summary = {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "seconds": args.seconds,
        "engine": args.engine,
        "analyse_fps": ANALYSE_FPS,
        "stages": stages_by_size,
        "stages_host_load": stages_load.metrics(),
        "runs": rows,
        "store": store,
    }
    (args.out / "scale.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot(args.out, rows)
    console.print(f"wrote {args.out / 'scale.json'} and {args.out / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
