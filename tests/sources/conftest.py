"""Fixtures for camera-source tests: small generated clips and a real RTSP server.

``rtsp_server`` (and ``rtsp_server_factory`` for other settings) run
``tests/sources/rtsp_server.py`` under the system python, which has GStreamer's RTSP server
(Debian: python3-gi, gir1.2-gst-rtsp-server-1.0, GStreamer plugins; see
``.ci/install-system-deps.sh``).  Where it is missing the test skips (fails under
CITYWATCH_STRICT=1).  Other areas may use these fixtures by importing them into their own
conftest: ``from tests.sources.conftest import rtsp_server, rtsp_server_factory``.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.stream import VideoStream

from tests.conftest import require

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")


def make_clip(
    path: Path,
    *,
    frames: int = 50,
    fps: int = 25,
    width: int = 160,
    height: int = 120,
    gop: int = 10,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a small synthetic clip (a moving bar; frame i has green level 4*i % 256)."""
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, (i * 3) % width] = 255
            img[..., 1] = (i * 4) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """50 frames, 25 fps, 160x120 H.264 in MP4, a keyframe every 10 frames."""
    return make_clip(tmp_path / "clip.mp4")


@functools.cache
def gst_rtsp_available() -> bool:
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0'); gi.require_version('Gst', '1.0')"
    )
    try:
        done = subprocess.run(
            [SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """One RTSP server subprocess; :meth:`stop` and :meth:`restart` keep the same port."""

    def __init__(
        self,
        *,
        user: str = "",
        password: str = "",
        path: str = "/cam",
        file: Path | None = None,
        width: int = 320,
        height: int = 240,
        fps: int = 25,
        corruptible: bool = False,
    ) -> None:
        self.port = free_port()
        self.user, self.password, self.path = user, password, path
        self._args = ["--port", str(self.port), "--path", path]
        self._args += ["--width", str(width), "--height", str(height), "--fps", str(fps)]
        if user:
            self._args += ["--user", user, "--password", password]
        if file is not None:
            self._args += ["--file", str(file)]
        if corruptible:
            self._args += ["--corruptible"]
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url_without_auth(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    @property
    def url(self) -> str:
        """The URL with credentials in it (when the server asks for them)."""
        if not self.user:
            return self.url_without_auth
        return f"rtsp://{self.user}:{self.password}@127.0.0.1:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), *self._args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"RTSP server exited with {self._proc.returncode}: {err}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"RTSP server did not listen on port {self.port} in {timeout_s} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def corrupt(self, on: bool = True) -> None:
        """(``corruptible`` servers) The H.264 data turns to random bytes while the RTP
        packets keep flowing; ``on=False`` makes it clean again."""
        assert self._proc is not None and self.running, "the server is not running"
        self._proc.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def rtsp_server_factory() -> Iterator[Callable[..., RtspServer]]:
    """Start RTSP servers with custom settings (see :class:`RtspServer`); all stop after."""
    require(
        gst_rtsp_available(),
        f"GStreamer RTSP server not importable by {SYSTEM_PYTHON} "
        "(apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-*; "
        "see .ci/install-system-deps.sh)",
    )
    servers: list[RtspServer] = []

    def start(**kwargs: object) -> RtspServer:
        server = RtspServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def rtsp_server(rtsp_server_factory: Callable[..., RtspServer]) -> RtspServer:
    """A live 320x240 25 fps H.264 test pattern behind basic auth (random password)."""
    return rtsp_server_factory(user="viewer", password=f"pw-{secrets.token_hex(6)}")
