"""Fixtures for the Ray engine tests: throw-away PostgreSQL databases, a three-node Ray
cluster on this machine (token auth on, no dashboard), replaying RTSP servers and the demo
footage padded with black so that a clip's scene lies well inside the stream."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from av.video.stream import VideoStream
from sqlalchemy import create_engine, text

from citywatch.demo.footage import make_demo_videos
from citywatch.engine.ray_engine import refresh_ray_auth
from citywatch.store.db import upgrade_database
from tests.conftest import require
from tests.sources.conftest import SYSTEM_PYTHON, free_port, gst_rtsp_available
from tests.store.db_fixtures import PG_ADMIN_URL, _pg_reachable

SERVER = Path(__file__).with_name("replay_rtsp_server.py")
SIZE = (480, 270)
FPS = 10
LEAD_S = 2.0  # black before the scene: start-up jitter falls on empty frames
SCENE_S = 6.0
TAIL_S = 90.0  # black after: the stream outlasts the test, so it never ends and reconnects


def ray_available() -> tuple[bool, str]:
    try:
        import ray  # noqa: F401
        from ray.cluster_utils import Cluster  # noqa: F401
    except ImportError as err:
        return False, f"ray not importable ({err}); pip install -e '.[dev]'"
    return True, ""


@pytest.fixture(scope="module")
def pg_url_factory() -> Iterator[Callable[[], str]]:
    """Fresh, migrated PostgreSQL databases; all dropped at the end of the module."""
    ok, why = _pg_reachable()
    require(ok, why)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def make() -> str:
        name = f"citywatch_ray_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        upgrade_database(url)
        return url

    yield make
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class RayCluster:
    cluster: Any
    workers: list[Any]

    @property
    def address(self) -> str:
        return str(self.cluster.address)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A head (no CPUs: it runs no camera) and two worker nodes of 3 CPUs each, with token
    authentication and fast node-death detection; the dashboard is off."""
    ok, why = ray_available()
    require(ok, why)
    import ray
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    refresh_ray_auth()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "_system_config": {
                "health_check_period_ms": 500,
                "health_check_failure_threshold": 3,
                "health_check_initial_delay_ms": 0,
            },
        },
    )
    workers = [cluster.add_node(num_cpus=3) for _ in range(2)]
    try:
        yield RayCluster(cluster, workers)
    finally:
        ray.shutdown()
        cluster.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        refresh_ray_auth()


def _pad(src: Path, dst: Path) -> Path:
    """``src`` with LEAD_S of black before and TAIL_S after, H.264 at FPS."""
    w, h = SIZE
    black = np.zeros((h, w, 3), np.uint8)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}

        def put(img: np.ndarray) -> None:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)

        for _ in range(int(LEAD_S * FPS)):
            put(black)
        for frame in inp.decode(video=0):
            put(frame.to_ndarray(format="bgr24"))
        for _ in range(int(TAIL_S * FPS)):
            put(black)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def scene_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo street (hotlisted plate) and square (another plate) scenes, padded."""
    folder = tmp_path_factory.mktemp("footage")
    footage = make_demo_videos(folder / "demo", seconds=SCENE_S, fps=FPS, size=SIZE)
    return {
        "plate": footage.plate_text,
        "street": _pad(footage.path("cam-street"), folder / "street.mp4"),
        "square": _pad(footage.path("cam-square"), folder / "square.mp4"),
    }


@pytest.fixture(scope="module")
def replay_rtsp() -> Iterator[Callable[[Path], str]]:
    """Start a replaying RTSP server for a file; returns its URL.  All stop at the end."""
    require(
        gst_rtsp_available(),
        f"GStreamer RTSP server not importable by {SYSTEM_PYTHON} (see .ci/install-system-deps.sh)",
    )
    procs: list[subprocess.Popen[bytes]] = []

    def start(file: Path) -> str:
        port = free_port()
        w, h = SIZE
        args = ["--port", str(port), "--file", str(file), "--width", str(w), "--height", str(h)]
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), *args, "--fps", str(FPS), "--copy"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"replay RTSP server exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"rtsp://127.0.0.1:{port}/cam"
            time.sleep(0.05)
        raise RuntimeError(f"replay RTSP server did not listen on {port}")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
