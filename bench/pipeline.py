"""Pipeline throughput, latency and memory against a naive baseline measured in the same run.

Scenes (from ../shared/data): a quiet indoor scene, a busy 1080p crowd, a plate scene (Dutch
clips) and the Hamilton stage clip (two watchlisted people).  For each scene:

* citywatch: the live pipeline (motion gate, tracking, track-level decisions, best-frames
  embedding, plate reading in moving regions) at the analysed rate (5 fps);
* naive: every frame of the video, full-frame face detection, an embedding for every face in
  every frame matched on its own, full-frame OCR on every frame, no motion gate, no tracking.

With the two-stream support (issue 18) also ``crowd-dual``: the crowd's 1080p video as the
main stream (demuxed only; a snapshot picture decoded from it on demand, its CPU shown) and a
640x360 copy of it analysed.

Throughput is a camera's CPU time per analysed frame: for citywatch the process's CPU over
the camera's run (every thread: the reader decoding every frame the stream delivers, FFmpeg's
and onnxruntime's threads, the analysis; the analysis thread alone beside it, the figure
before issue 18), for naive one thread's analysis; turned into analysed frames per second per
core and camera streams per core (citywatch at 5 fps; naive at the camera's native rate).
"idle" is what a camera pays per analysed frame while nothing moves: a still frame's analysis
plus the decode share.  The mix is the harmonic mean of quiet, crowd, plates and Hamilton
(and with crowd-dual in the crowd's place).  ``bench/pipeline_compare.py`` runs this on an
earlier commit and on this tree in turns (before/after in one run).
Latency comes from a paced run (frames released in real time): decoded frame -> alert handed to
the sink, and first sighting -> alert.  Memory: resident set growth per running camera.

A camera's decoder rests on a still scene (``cameras[].still_decode``, issue 18: keyframes
only, or reference pictures only, after ``still_after_s`` without motion; back at the first
motion).  ``--still both`` runs every scene (and the paced latency runs) with it off
(``citywatch-full``) and on (``citywatch``, the default) in turns, ``--rounds`` times, the
order swapped each round; streams per core are then seconds of video per CPU second (a resting
camera analyses fewer frames).  The quiet scene's motion onsets (the first moving frame after
``still_after_s`` still, with every picture decoded) give the detection delay the rest adds:
how much later the first moving frame is analysed with it on.

    .venv/bin/python bench/pipeline.py [--out bench/out] [--naive-frames 60] [--citywatch-only]
        [--scenes quiet,plates,hamilton] [--still auto|off|both] [--rounds 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig, ModelsConfig
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.decisions.types import FaceMatch, PlateRead, Sighting
from citywatch.engine.allocator import keep_freed_buffers
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.platform import make_embed_faces
from citywatch.engine.worker import CameraWorker, PipelineLike
from citywatch.eval.host_load import LoadMeter
from citywatch.sources.pyav import CameraSource
from citywatch.vision.faces.stage import detect_faces
from citywatch.vision.images import load_image
from citywatch.vision.record import Frame
from pipeline_dual import (
    Result,
    Timed,
    camera_source,
    dual_supported,
    snapshot_ms,
    substream,
)
from pipeline_still import Moves, episodes_missed, onset_delays, still_supported, video_seconds

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
HAMILTON = DATA / "faces/watchlist_video/examples/short_hamilton_clip.mp4"
SUBJECTS = ("lin-manuel-miranda", "alex-lacamoire")


@dataclass
class Scene:
    name: str
    videos: list[Path]
    faces: bool
    plates: bool
    detect: list[Path] | None = None  # substreams analysed (dual-stream scene); videos: main


def scenes(cache: Path | None = None) -> list[Scene]:
    """The scenes; with ``cache`` (and a citywatch that has ``detect_url``) also the crowd
    as a two-stream camera: its 1080p video the main stream, a 640x360 copy analysed."""
    nl = DATA / "plates/video_nl"
    clips = [
        nl / "clips" / r["clip"] for r in csv.DictReader((nl / "per_clip_ground_truth.csv").open())
    ]
    crowd = DATA / "faces/crowd_video/video.mp4"
    dual = (
        [Scene("crowd-dual", [crowd], True, True, detect=[substream(crowd, cache)])]
        if cache is not None and dual_supported()
        else []
    )
    return [
        *dual,
        Scene(
            "quiet",
            [DATA / "video/intel_sample_videos/one-by-one-person-detection.mp4"],
            True,
            True,
        ),
        Scene("crowd", [crowd], True, True),
        Scene("plates", clips[:6], True, True),
        Scene("hamilton", [HAMILTON], True, True),
    ]


def gallery_and_hotlist(models: Models, cfg: CitywatchConfig) -> tuple[Gallery, HotlistMatcher]:
    embed = make_embed_faces(models, cfg)
    ex = HAMILTON.parent
    rows = [embed(load_image(ex / f"{s}.png"))[0] for s in SUBJECTS]
    gallery = Gallery.build(np.stack(rows), [1, 2], list(SUBJECTS), [1, 1])
    nl = DATA / "plates/video_nl/per_clip_ground_truth.csv"
    plates = [(i, 1, r["plate"]) for i, r in enumerate(csv.DictReader(nl.open()), start=1)]
    return gallery, HotlistMatcher(plates, max_distance=cfg.plates.max_distance)


class Collect:
    def __init__(self, hotlist: HotlistMatcher) -> None:
        self.hotlist = hotlist
        self.found: set[str] = set()
        self.last_frame: Frame | None = None
        self.latency_s: list[float] = []
        self.since_first_s: list[float] = []
        self.lock = threading.Lock()

    def on_frame(self, frame: Frame) -> None:
        self.last_frame = frame

    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        now = time.time()
        for s in sightings:
            alert = False
            if isinstance(s, FaceMatch):
                self.found.add(s.subject_name)
                alert = True
            elif isinstance(s, PlateRead) and self.hotlist.match(s.text) is not None:
                self.found.add(s.text)
                alert = True
            if alert and self.last_frame is not None:
                with self.lock:
                    self.latency_s.append(now - self.last_frame.wall_time)
                    first_wall = self.last_frame.wall_time - (
                        self.last_frame.pts_s - s.first_seen_s
                    )
                    self.since_first_s.append(now - first_wall)


def run_citywatch(
    scene: Scene,
    cfg: CitywatchConfig,
    models: Models,
    gallery: Gallery,
    hotlist: HotlistMatcher,
    *,
    pace: bool = False,
    still: str = "auto",
) -> tuple[Result, Collect]:
    """The scene's cameras one after another.  ``cpu_s`` is the process's CPU over each run
    (every thread: the reader decoding every delivered frame, FFmpeg's and onnxruntime's
    threads, the analysis); ``analysis_s`` the analysis thread's alone.  ``still``: the
    cameras' ``still_decode`` ("off": mode ``citywatch-full``)."""
    res = Result(scene.name, "citywatch-full" if still == "off" else "citywatch")
    col = Collect(hotlist)
    perms = Permissions(faces=scene.faces, plates=scene.plates)
    for i, video in enumerate(scene.videos):
        extra: dict[str, Any] = {}
        if scene.detect is not None:
            extra["detect_url"] = SecretStr(str(scene.detect[i]))
        if still_supported():
            extra["still_decode"] = still
        cam = CameraConfig(id=f"bench-{i}", url=SecretStr(str(video)), analyse_fps=5.0, **extra)
        pipeline: PipelineLike = build_pipeline(cam, cfg, models, perms, gallery)
        source, evidence, buffer = camera_source(cam, cfg, models)
        if evidence is not None:
            pipeline = evidence.wrap(pipeline)
        moves = Moves(pipeline)
        timed = Timed(moves)
        feed = {"motion_feed": source.motion_feed} if still_supported() else {}
        worker = CameraWorker(
            cam.id, source, timed, col, live=False, pace=pace, on_frame=col.on_frame, **feed
        )
        p0, t0 = time.process_time(), time.thread_time()
        stats = worker.run()
        res.cpu_s += time.process_time() - p0
        res.analysis_s += time.thread_time() - t0
        res.frames += stats.analysed
        res.decoded += source.health.frames_decoded
        res.still_s += timed.still_s
        res.still += timed.still
        res.video_s += video_seconds(scene.detect[i] if scene.detect is not None else video)
        res.moves.extend(moves.seen)
        res.idle_cpu_s += moves.idle_cpu_s
        res.idle_video_s += moves.idle_video_s
        res.decode = source.health.decode
        if buffer is not None:
            res.snapshot_ms = snapshot_ms(buffer, res.frames / res.analysed_fps)
    res.found = col.found
    return res, col


def run_naive(
    scene: Scene,
    cfg: CitywatchConfig,
    models: Models,
    gallery: Gallery,
    hotlist: HotlistMatcher,
    max_frames: int,
) -> Result:
    import av

    res = Result(scene.name, "naive")
    detector, reader = models.plates
    for video in scene.videos:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            res.native_fps = float(stream.average_rate or 25)
            for n, vf in enumerate(container.decode(stream)):
                if n >= max_frames:
                    break
                image = vf.to_ndarray(format="bgr24")
                t0 = time.thread_time()
                faces = detect_faces(image, models.face_detector, models.landmarker, cfg.faces)
                if len(faces) and faces.landmarks is not None:
                    emb = models.embedder.embed(image, faces.landmarks)
                    idx, score = gallery.search(emb)
                    for i, s in zip(idx, score, strict=True):
                        if s >= cfg.faces.threshold:
                            res.found.add(gallery.subject_names[int(i)])
                boxes = detector.detect(image, None)
                for text, _conf in reader.read(image, boxes.xyxy):
                    if text and hotlist.match(text) is not None:
                        res.found.add(text)
                res.cpu_s += time.thread_time() - t0
                res.frames += 1
    res.analysed_fps = res.native_fps
    return res


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def memory_per_camera(cfg: CitywatchConfig, models: Models, gallery: Gallery, n: int = 4) -> float:
    """RSS growth per camera with ``n`` looped cameras running for a few seconds."""
    from citywatch.engine.sink import RecorderSink  # noqa: F401  (same import cost as live)

    base = rss_mb()
    workers = []
    perms = Permissions(faces=True, plates=True)
    for i in range(n):
        cam = CameraConfig(id=f"mem-{i}", url=SecretStr(str(HAMILTON)), loop=True, analyse_fps=5.0)
        pipe = build_pipeline(cam, cfg, models, perms, gallery)
        w = CameraWorker(cam.id, CameraSource(cam), pipe, Collect(HotlistMatcher([])), pace=True)
        workers.append(w)
        threading.Thread(target=w.run, daemon=True).start()
    time.sleep(6.0)
    grown = rss_mb() - base
    for w in workers:
        w.stop()
    return grown / n


CORE = ("quiet", "crowd", "plates", "hamilton")  # the mix (as before issue 18)


def mix(by: dict[tuple[str, str], Result], names: tuple[str, ...], mode: str) -> float:
    vals = [by[(n, mode)].streams_per_core for n in names if (n, mode) in by]
    return statistics.harmonic_mean(vals) if len(vals) == len(names) else float("nan")


def main() -> int:
    keep_freed_buffers()  # as the CLI and the camera workers do
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument(
        "--naive-frames", type=int, default=60, help="frames per video for naive (not Hamilton)"
    )
    ap.add_argument(
        "--citywatch-only",
        action="store_true",
        help="no naive baseline, no memory run (what pipeline_compare.py runs on each code)",
    )
    ap.add_argument("--tag", default="pipeline", help="name of the JSON/PNG files written")
    ap.add_argument(
        "--still",
        choices=("auto", "off", "both"),
        default="auto",
        help="the cameras' still_decode; both: off and auto in turns (before/after in one run)",
    )
    ap.add_argument("--rounds", type=int, default=1, help="with --still both: rounds of turns")
    ap.add_argument(
        "--scenes",
        default="",
        help="comma-separated scenes to run (default all: crowd-dual,quiet,crowd,plates,hamilton);"
        " a mix needs all of its scenes",
    )
    args = ap.parse_args()
    console = Console(width=170)
    if not DATA.is_dir():
        console.print(f"[red]no data at {DATA}[/]")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = CitywatchConfig(models=ModelsConfig())
    models = Models(cfg)
    gallery, hotlist = gallery_and_hotlist(models, cfg)
    results: list[Result] = []
    all_scenes = scenes(args.out / "cache")
    wanted = {n.strip() for n in args.scenes.split(",") if n.strip()}
    if wanted - {s.name for s in all_scenes}:
        console.print(f"[red]unknown scene(s): {sorted(wanted - {s.name for s in all_scenes})}[/]")
        return 2
    all_scenes = [s for s in all_scenes if not wanted or s.name in wanted]
    stills = ["off", "auto"] if args.still == "both" else [args.still]
    rounds = max(1, args.rounds) if args.still == "both" else 1
    paced_by: dict[str, list[Collect]] = {}
    with LoadMeter() as meter:
        for turn in range(rounds):
            order = stills if turn % 2 == 0 else stills[::-1]
            for scene in all_scenes:
                for still in order:
                    console.log(f"citywatch (round {turn + 1}, still_decode {still}): {scene.name}")
                    r = run_citywatch(scene, cfg, models, gallery, hotlist, still=still)[0]
                    r.round = turn + 1
                    results.append(r)
                if args.citywatch_only or scene.detect is not None or turn > 0:
                    continue
                console.log(f"naive: {scene.name}")
                # Hamilton in full on both sides: recall is compared on the same frames.
                limit = 10**9 if scene.name == "hamilton" else args.naive_frames
                results.append(run_naive(scene, cfg, models, gallery, hotlist, limit))
            console.log(f"latency (paced, real time), round {turn + 1}")
            for still in order:
                paced_by.setdefault(still, []).extend(
                    run_citywatch(s, cfg, models, gallery, hotlist, pace=True, still=still)[1]
                    for s in all_scenes
                    if s.name in ("hamilton", "plates")
                )
        paced = paced_by[stills[-1] if args.still != "both" else "auto"]
        mem = float("nan")
        if not args.citywatch_only:
            console.log("memory per camera")
            mem = memory_per_camera(cfg, models, gallery)

    lat = [x for c in paced for x in c.latency_s]
    since = [x for c in paced for x in c.since_first_s]

    def pct(xs: list[float], q: float) -> float:
        return float(np.percentile(xs, q)) if xs else float("nan")

    table = Table(
        title="pipeline cost per camera (one core: CPU of every thread, decode of every "
        "delivered frame included, per analysed frame)"
    )
    for col in (
        "round", "scene", "mode", "frames", "decoded", "ms/frame", "analysis ms", "streams/core",
        "still frames", "idle ms/frame", "idle streams/core", "idle ms per s",
        "idle streams/core (per s)", "snapshot ms", "found",
    ):  # fmt: skip
        table.add_column(col, justify="right")
    summary: dict[str, object] = {}
    for r in results:
        table.add_row(
            str(r.round), r.scene, r.mode, str(r.frames), str(r.decoded or "-"),
            f"{r.ms_per_frame:.1f}",
            f"{r.analysis_ms:.1f}", f"{r.streams_per_core:.2f}",
            f"{r.still}/{r.frames}" if r.mode.startswith("citywatch") else "-",
            f"{r.still_ms:.1f}" if r.still else "-",
            f"{r.idle_streams_per_core:.1f}" if r.still else "-",
            f"{r.idle_ms_per_s:.1f}" if r.idle_video_s else "-",
            f"{1000.0 / r.idle_ms_per_s:.1f}" if r.idle_video_s and r.idle_cpu_s else "-",
            f"{r.snapshot_ms:.1f}" if r.snapshot_ms else "-",
            ",".join(sorted(r.found)) or "-",
        )  # fmt: skip
        rnd = r.round
        key = f"{r.scene}_{r.mode}" + (f"_r{rnd}" if rnd > 1 else "")
        summary[f"{key}_ms_per_frame"] = round(r.ms_per_frame, 2)
        summary[f"{key}_streams_per_core"] = round(r.streams_per_core, 3)
        if r.mode.startswith("citywatch"):
            summary[f"{key}_decode"] = r.decode
            summary[f"{key}_video_s"] = round(r.video_s, 2)
            summary[f"{key}_idle_video_s"] = round(r.idle_video_s, 1)
            summary[f"{key}_idle_ms_per_video_s"] = round(r.idle_ms_per_s, 2)
            summary[f"{key}_analysis_ms_per_frame"] = round(r.analysis_ms, 2)
            summary[f"{key}_decoded"] = r.decoded
            summary[f"{key}_frames"] = r.frames
            summary[f"{key}_still_frames"] = r.still
            summary[f"{key}_idle_ms_per_frame"] = round(r.still_ms, 2) if r.still else None
            summary[f"{key}_idle_streams_per_core"] = (
                round(r.idle_streams_per_core, 2) if r.still else None
            )
            summary[f"{key}_found"] = sorted(r.found)
            if r.snapshot_ms:
                summary[f"{key}_snapshot_ms"] = round(r.snapshot_ms, 1)
    console.print(table)
    by = {(r.scene, r.mode): r for r in results if r.round == 1}
    if args.still == "both":
        for n in range(1, rounds + 1):
            in_round = {(r.scene, r.mode): r for r in results if r.round == n}
            for mode in ("citywatch-full", "citywatch"):
                summary[f"r{n}_mix_{mode}"] = round(mix(in_round, CORE, mode), 3)
                dual = tuple("crowd-dual" if n == "crowd" else n for n in CORE)
                summary[f"r{n}_mix_dual_{mode}"] = round(mix(in_round, dual, mode), 3)
            full, rested = (
                in_round.get(("quiet", "citywatch-full")),
                in_round.get(("quiet", "citywatch")),
            )
            if full is not None and rested is not None:
                delays = onset_delays(full.moves, rested.moves)
                summary[f"r{n}_quiet_motion_onsets"] = len(delays)
                summary[f"r{n}_quiet_onset_delay_s"] = [round(d, 2) for d in delays]
                summary[f"r{n}_quiet_onset_delay_max_s"] = round(max(delays, default=0.0), 2)
                moved = {round(p, 3) for p, m in full.moves if m}
                seen = {round(p, 3): m for p, m in rested.moves}
                summary[f"r{n}_quiet_motion_episodes_missed"] = episodes_missed(
                    full.moves, rested.moves
                )
                summary[f"r{n}_quiet_moving_frames_full"] = len(moved)
                summary[f"r{n}_quiet_moving_not_analysed"] = len(moved - set(seen))
                summary[f"r{n}_quiet_moving_judged_still"] = sum(
                    1 for p in moved if p in seen and not seen[p]
                )
        for still, cols in paced_by.items():
            ls = [x for c in cols for x in c.latency_s]
            tag = "citywatch-full" if still == "off" else "citywatch"
            summary[f"latency_frame_to_alert_p95_s_{tag}"] = round(pct(ls, 95), 3)
            summary[f"alerts_timed_{tag}"] = len(ls)
    with_dual = tuple("crowd-dual" if n == "crowd" else n for n in CORE)
    ham = by.get(("hamilton", "citywatch"))
    ham_cw = {x for x in ham.found if x in SUBJECTS} if ham is not None else set()
    plates = by.get(("plates", "citywatch"))
    summary.update(
        {
            "mix_streams_per_core_citywatch": round(mix(by, CORE, "citywatch"), 3),
            "mix_dual_streams_per_core_citywatch": round(mix(by, with_dual, "citywatch"), 3),
            "hamilton_recall_citywatch": len(ham_cw) / len(SUBJECTS) if ham else None,
            "plates_found_citywatch": sorted(plates.found) if plates else None,
            "latency_frame_to_alert_p50_s": round(pct(lat, 50), 3),
            "latency_frame_to_alert_p95_s": round(pct(lat, 95), 3),
            "latency_first_seen_to_alert_p50_s": round(pct(since, 50), 3),
            "latency_first_seen_to_alert_p95_s": round(pct(since, 95), 3),
            "alerts_timed": len(lat),
            **meter.metrics(),
        }
    )
    if not args.citywatch_only:
        gains = {
            n: by[(n, "citywatch")].streams_per_core / max(1e-9, by[(n, "naive")].streams_per_core)
            for n in CORE
        }
        mix_nv = mix(by, CORE, "naive")
        ham_nv = {x for x in by[("hamilton", "naive")].found if x in SUBJECTS}
        summary.update(
            {f"gain_{k}": round(v, 2) for k, v in gains.items()}
            | {
                "mix_streams_per_core_naive": round(mix_nv, 3),
                "mix_gain": round(mix(by, CORE, "citywatch") / mix_nv, 2),
                "hamilton_recall_naive": len(ham_nv) / len(SUBJECTS),
                "rss_mb_per_camera": round(mem, 1),
            }
        )
    t2 = Table(title="summary")
    t2.add_column("metric")
    t2.add_column("value", justify="right")
    for k, v in summary.items():
        if not k.startswith(tuple(f"{r.scene}_" for r in results)):
            t2.add_row(k, str(v))
    console.print(t2)
    (args.out / f"{args.tag}.json").write_text(json.dumps(summary, indent=2))
    plot(args.out / f"{args.tag}.png", results, lat, since)
    console.print(f"wrote {args.out / (args.tag + '.json')} and {args.tag}.png in {args.out}")
    return 0


def plot(png: Path, results: list[Result], lat: list[float], since: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = sorted({r.scene for r in results})
    x = np.arange(len(names))
    for k, mode in enumerate(("naive", "citywatch")):
        vals = [
            next((r.streams_per_core for r in results if r.scene == n and r.mode == mode), 0.0)
            for n in names
        ]
        axes[0].bar(x + (k - 0.5) * 0.38, vals, 0.38, label=mode)
    axes[0].set_xticks(x, names)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("camera streams per core")
    axes[0].legend()
    axes[0].set_title("throughput")
    if lat:
        axes[1].hist(lat, bins=20, alpha=0.7, label="decoded frame -> alert")
    if since:
        axes[1].hist(since, bins=20, alpha=0.7, label="first seen -> alert")
    axes[1].set_xlabel("seconds")
    axes[1].set_title("alert latency (paced at 5 fps)")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
