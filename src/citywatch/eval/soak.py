"""Soak: the whole platform running for a set time, its process watched for growth.

The demo scenario (faces and plates on looped footage, a watchlisted subject, a hotlisted
plate) runs in this process as `citywatch serve` runs it: the camera workers, the alert
dispatcher with the API's live hub, retention housekeeping, and the REST API on a local
port, asked for its health, metrics, alerts and live pictures while the cameras run.  Every
``sample`` records the process's resident memory, open files and threads, each camera's
counters and queues, the sinks' queues, the rows stored per camera and the host's load.

Memory must be flat once warmed up.  Two measures, both from samples after the warm-up:

* :func:`rss_slope_mb_per_h`: the least-squares slope of RSS against the hours of footage
  analysed (per camera), what `bench/soak.py` holds to a limit (1 MB/h by default);
* :func:`rss_growth_per_frame`: the median over the sampling intervals of the RSS growth per
  frame analysed (MB per frame), what the test suite's short soak holds to a limit: a leak
  that grows with work shows in every interval whatever the run's length, while a one-off
  step (a model loaded on first use, an arena extended) falls in one interval and out of the
  median.

``face_detector`` replaces the configured face detector (a leaking one proves that the check
catches a leak).  Nothing here downloads anything; the footage is generated or given.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from citywatch.audit.chain import Actor
from citywatch.eval.host_load import CpuTimes, load_between, sample
from citywatch.vision.faces.base import FaceDetector

log = logging.getLogger(__name__)

PROC_SELF = Path("/proc/self")
ACTOR = Actor("soak", "admin")


# ----------------------------------------------------------------------------- measures


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    rss_mb: float
    open_files: int
    threads: int


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_figures() -> tuple[float, float] | None:
    """(MB the C heap has handed out and not had back, MB it holds free) over all malloc
    arenas, from glibc's ``mallinfo2`` (None elsewhere).  RSS that grows while the first stays
    flat is memory the allocator keeps (fragmentation, per-thread arenas), not a leak."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    info = fn()
    return (info.uordblks + info.hblkhd) / 2**20, info.fordblks / 2**20


def process_figures(proc: Path = PROC_SELF) -> ProcessFigures:
    """Resident memory (``statm``), open file descriptors (``fd/``) and OS threads
    (``status``) of the process ``proc`` describes (Linux)."""
    resident_pages = int((proc / "statm").read_text().split()[1])
    threads = 0
    for line in (proc / "status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    return ProcessFigures(
        rss_mb=resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20,
        open_files=len(os.listdir(proc / "fd")),
        threads=threads,
    )


@dataclass
class SoakSample:
    """One look at the running platform."""

    t_s: float  # wall seconds since the cameras started
    footage_s: float  # footage analysed so far, mean over the cameras (frames / analyse fps)
    frames: int  # frames analysed, all cameras
    rss_mb: float
    open_files: int
    threads: int
    heap_in_use_mb: float | None = None  # C heap handed out (glibc), see heap_figures
    heap_free_mb: float | None = None  # C heap kept free
    py_blocks: int = 0  # memory blocks Python's allocator has handed out
    heap_trims: int = 0  # times the workers' heap trimmer ran malloc_trim
    heap_trim_ms: float = 0.0  # the longest of them so far
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    sink_queues: dict[str, int] = field(default_factory=dict)
    events: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> camera -> rows
    api_ok: int = 0
    api_failed: int = 0
    host_other_busy: float | None = None
    host_steal: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The slope of the least-squares line through ``(xs, ys)``; needs two distinct xs."""
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError(f"least_squares_slope: need >= 2 paired points, got {n} and {len(ys)}")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("least_squares_slope: all x values are equal")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def after_warmup(samples: Sequence[SoakSample], warmup_s: float) -> list[SoakSample]:
    return [s for s in samples if s.t_s >= warmup_s]


def rss_slope_mb_per_h(
    samples: Sequence[SoakSample], warmup_s: float, *, measure: str = "rss_mb"
) -> float | None:
    """MB of RSS (or of another ``measure`` in MB) per hour of footage after the warm-up
    (None: fewer than 2 samples with it, or no footage analysed between them)."""
    kept = [s for s in after_warmup(samples, warmup_s) if getattr(s, measure) is not None]
    xs = [s.footage_s / 3600.0 for s in kept]
    if len(kept) < 2 or max(xs) == min(xs):
        return None
    return least_squares_slope(xs, [float(getattr(s, measure)) for s in kept])


def median_slope_mb_per_h(samples: Sequence[SoakSample], warmup_s: float) -> float | None:
    """The median, over the intervals between successive samples after the warm-up, of the
    RSS growth per hour of footage in the interval (None: fewer than 3 intervals with
    footage).  A leak grows in every interval; a step (the heap reaching a new high-water mark
    once) falls in one, which moves the least-squares slope of a one-hour run by MB per hour
    and this one not at all.  Steps that keep coming show in both over a longer run."""
    rates = sorted(
        (b.rss_mb - a.rss_mb) / ((b.footage_s - a.footage_s) / 3600.0)
        for a, b in itertools.pairwise(after_warmup(samples, warmup_s))
        if b.footage_s > a.footage_s
    )
    if len(rates) < 3:
        return None
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else (rates[mid - 1] + rates[mid]) / 2


def rss_growth_per_frame(samples: Sequence[SoakSample], warmup_s: float) -> float | None:
    """The median, over the intervals between successive samples after the warm-up, of the
    RSS growth per frame analysed in the interval (MB per frame; None: fewer than 3 intervals
    with frames).  A leak grows in every interval; a one-off reservation (a model loaded on
    first use, an allocator arena extended) grows in one, which the median leaves out."""
    kept = after_warmup(samples, warmup_s)
    rates = sorted(
        (b.rss_mb - a.rss_mb) / (b.frames - a.frames)
        for a, b in itertools.pairwise(kept)
        if b.frames > a.frames
    )
    if len(rates) < 3:
        return None
    mid = len(rates) // 2
    return rates[mid] if len(rates) % 2 else (rates[mid - 1] + rates[mid]) / 2


# ----------------------------------------------------------------------------- the platform


@dataclass
class _ApiPoller:
    """Asks the served API what an operator's console and Prometheus ask, every ``every_s``."""

    base: str
    tokens: Mapping[str, str]  # role -> bearer secret
    camera_ids: Sequence[str]
    every_s: float
    ok: int = 0
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def paths(self) -> list[tuple[str, str]]:
        """(role, path): the load balancer, Prometheus, an operator's console."""
        return [
            ("scraper", "/api/v1/health"),
            ("scraper", "/metrics"),
            ("operator", "/api/v1/alerts?limit=20"),
            *(("operator", f"/api/v1/cameras/{cam}/snapshot.jpg") for cam in self.camera_ids),
        ]

    def _get(self, role: str, path: str) -> None:
        req = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
            self.base + path, headers={"Authorization": f"Bearer {self.tokens[role]}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
                resp.read()
            self.ok += 1
        except urllib.error.HTTPError as err:
            # 404: no picture yet (the camera has not analysed a frame); not the API's fault
            if err.code == 404 and path.endswith(".jpg"):
                self.ok += 1
            else:
                self.failed += 1
                log.warning("soak: GET %s -> %s", path, err.code)
        except OSError as err:
            self.failed += 1
            log.warning("soak: GET %s failed: %s", path, err)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for role, path in self.paths():
                self._get(role, path)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)


class Soak:
    """The demo platform in this process with the API served on 127.0.0.1 (a free port).

    ``cameras``: the demo camera ids to run (default: all three); ``videos``: a camera's
    looped footage instead of the demo's (e.g. a clip from ../shared/data);
    ``heap_trim_every_s``: the workers' C-heap trim interval (None: the config's default);
    ``alert_every_s``: a subject or plate seen again this many seconds after its alert raises a
    new alert, with its evidence clip (``alerts.repeat_window_s``, grouping off), so that clips
    keep being made through the soak; None keeps the config's windows (on looped footage an
    unreviewed alert then stays one alert, and clips are rare)."""

    def __init__(
        self,
        workdir: Path,
        *,
        cameras: Sequence[str] | None = None,
        videos: Mapping[str, Path] | None = None,
        face_detector: FaceDetector | None = None,
        clip_seconds: float = 8.0,
        api_every_s: float = 5.0,
        heap_trim_every_s: float | None = None,
        alert_every_s: float | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self._wanted = list(cameras) if cameras else None
        self._videos = dict(videos or {})
        self._face_detector = face_detector
        self._clip_seconds = clip_seconds
        self._api_every_s = api_every_s
        self._heap_trim_every_s = heap_trim_every_s
        self._alert_every_s = alert_every_s
        self._started = 0.0
        self._load_before: CpuTimes | None = None
        self._parts: dict[str, Any] = {}

    @property
    def camera_ids(self) -> list[str]:
        return [cam.id for cam in self._parts["config"].cameras]

    def start(self) -> None:
        import uvicorn

        from citywatch.api.app import create_app
        from citywatch.api.hub import EventHub
        from citywatch.api.settings import ApiSettings
        from citywatch.demo.footage import make_demo_videos
        from citywatch.demo.scenario import demo_config, enrol_demo_lists
        from citywatch.engine.assemble import Models
        from citywatch.engine.platform import Platform, make_embed_faces
        from citywatch.services.tokens import create_token
        from citywatch.store.db import make_engine, make_session_factory, upgrade_database

        self.workdir.mkdir(parents=True, exist_ok=True)
        footage = make_demo_videos(self.workdir / "footage", seconds=self._clip_seconds)
        cfg = demo_config(self.workdir, footage, loop=True)
        cfg.alerts.console = False
        if self._heap_trim_every_s is not None:
            cfg.engine.heap_trim_every_s = self._heap_trim_every_s
        if self._alert_every_s is not None:
            cfg.alerts.repeat_window_s = self._alert_every_s
            cfg.alerts.group_window_s = 0.0
        unknown = set(self._wanted or ()) - {c.id for c in cfg.cameras}
        if unknown or set(self._videos) - {c.id for c in cfg.cameras}:
            known = ", ".join(c.id for c in cfg.cameras)
            raise ValueError(f"soak: unknown camera(s) {sorted(unknown)}; known: {known}")
        cams = [c for c in cfg.cameras if self._wanted is None or c.id in self._wanted]
        for i, cam in enumerate(cams):
            if cam.id in self._videos:
                cams[i] = cam.model_copy(update={"url": SecretStr(str(self._videos[cam.id]))})
        cfg.cameras = cams
        upgrade_database(cfg.store.database_url)
        sessions = make_session_factory(make_engine(cfg.store.database_url))
        hub = EventHub()
        platform = Platform.create(cfg, sessions, ACTOR, extra_sinks=[hub])
        if self._face_detector is not None:
            platform = replace(
                platform, models=Models(platform.config, _face_detector=self._face_detector)
            )
        platform.register_cameras()
        enrol_demo_lists(sessions, platform.media, platform.models, cfg, footage, ACTOR)
        engine = platform.build_engine()
        tokens = {}
        for role in ("operator", "scraper"):
            with sessions() as session:
                new = create_token(
                    session, ACTOR, f"soak-{role}", role, expires_days=1, on_server=True
                )
            tokens[role] = new.secret
        app = create_app(
            platform.config,
            sessions,
            hub=hub,
            health=engine.snapshot,
            settings=ApiSettings(),
            dispatcher=platform.dispatcher,
            snapshots=engine.latest_jpeg,
            embed_faces=make_embed_faces(platform.models, platform.config),
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(app, access_log=False, log_config=None, server_header=False)
        )
        served = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="soak-http", daemon=True
        )
        served.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline and served.is_alive():
            time.sleep(0.05)
        if not server.started:
            raise RuntimeError("soak: the API server did not start within 30 s")
        port = sock.getsockname()[1]
        poller = _ApiPoller(
            f"http://127.0.0.1:{port}", tokens, [c.id for c in cfg.cameras], self._api_every_s
        )
        self._parts = {
            "config": platform.config,
            "sessions": sessions,
            "platform": platform,
            "engine": engine,
            "hub": hub,
            "server": server,
            "served": served,
            "poller": poller,
            "sock": sock,
        }
        engine.start()
        self._parts["housekeeping"] = platform.start_housekeeping()
        poller.start()
        self._started = time.monotonic()
        self._load_before = sample()

    def _stored(self) -> dict[str, dict[str, int]]:
        from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow

        out: dict[str, dict[str, int]] = {}
        with self._parts["sessions"]() as session:
            for name, table in (
                ("alerts", AlertRow),
                ("plate_reads", PlateReadRow),
                ("face_counts", FaceCountRow),
            ):
                rows = session.execute(
                    select(table.camera_id, func.count()).group_by(table.camera_id)
                )
                out[name] = {str(cam): int(n) for cam, n in rows}
            clips = session.execute(
                select(AlertRow.camera_id, func.count())
                .where(AlertRow.clip_path.is_not(None))
                .group_by(AlertRow.camera_id)
            )
            out["clips"] = {str(cam): int(n) for cam, n in clips}
        return out

    def sample(self) -> SoakSample:
        """The figures now (memory, files, threads, cameras, queues, stored rows, load)."""
        engine = self._parts["engine"]
        cfg = self._parts["config"]
        fps = {cam.id: cam.analyse_fps for cam in cfg.cameras}
        cameras: dict[str, dict[str, Any]] = {}
        for run in engine.runs:
            w = run.worker
            health = run.health()
            cameras[w.camera_id] = {
                "analysed": w.stats.analysed,
                "dropped": w.stats.dropped,
                "errors": w.stats.errors,
                "pending_results": w.pending,
                "lag_s": round(w.stats.lag_s, 3),
                "state": str(getattr(health, "state", "")),
            }
        footage = [c["analysed"] / fps[cam] for cam, c in cameras.items()]
        load_now = sample()
        load = load_between(self._load_before, load_now)
        self._load_before = load_now
        proc = process_figures()
        heap = heap_figures()
        poller: _ApiPoller = self._parts["poller"]
        trimmer = engine.runs[0].worker.trimmer if engine.runs else None
        return SoakSample(
            t_s=round(time.monotonic() - self._started, 2),
            footage_s=round(sum(footage) / len(footage), 2) if footage else 0.0,
            frames=sum(c["analysed"] for c in cameras.values()),
            rss_mb=round(proc.rss_mb, 2),
            open_files=proc.open_files,
            threads=proc.threads,
            heap_in_use_mb=None if heap is None else round(heap[0], 2),
            heap_free_mb=None if heap is None else round(heap[1], 2),
            py_blocks=sys.getallocatedblocks(),
            heap_trims=0 if trimmer is None else trimmer.trims,
            heap_trim_ms=0.0 if trimmer is None else round(trimmer.longest_ms, 1),
            cameras=cameras,
            sink_queues={
                n: s.queued for n, s in self._parts["platform"].dispatcher.stats().items()
            },
            events=self._stored(),
            api_ok=poller.ok,
            api_failed=poller.failed,
            host_other_busy=None if load is None else round(load.other_busy, 4),
            host_steal=None if load is None else round(load.steal, 4),
        )

    def stop(self) -> None:
        """Everything stopped, in the order `serve` stops it."""
        parts = self._parts
        if not parts:
            return
        parts["poller"].stop()
        parts["housekeeping"].stop()
        parts["engine"].stop()
        parts["server"].should_exit = True
        parts["served"].join(timeout=15)
        parts["platform"].dispatcher.close()
        parts["hub"].close()
        parts["sock"].close()
        self._parts = {}


def run_soak(
    soak: Soak,
    seconds: float,
    every_s: float,
    *,
    on_sample: Callable[[SoakSample], None] | None = None,
    stop: threading.Event | None = None,
) -> list[SoakSample]:
    """Samples of a started ``soak``: one now, then one every ``every_s`` until ``seconds``
    have passed (or ``stop`` is set)."""
    stop = stop or threading.Event()
    samples = [soak.sample()]
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0 or stop.wait(min(every_s, left)):
            break
        samples.append(soak.sample())
        if on_sample is not None:
            on_sample(samples[-1])
    return samples
