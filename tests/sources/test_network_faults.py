"""Network faults that need no RTSP server: a server that accepts and never answers, and one
that stops sending in the middle of a stream.  Both are timeouts, and say so (issue 13,
item 9), with the redacted URL and the seconds waited."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from citywatch.config.camera import CameraConfig
from citywatch.sources import Backoff, CameraSource, SourceState
from tests.sources.conftest import make_clip


class _Listener:
    """A TCP server on 127.0.0.1; ``handle(conn)`` runs for each connection in a thread."""

    def __init__(self, handle: object) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._handle = handle
        self.conns: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.conns.append(conn)
            self.accepted.set()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()  # type: ignore[arg-type]

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()


@contextlib.contextmanager
def _listener(handle: object) -> Iterator[_Listener]:
    server = _Listener(handle)
    try:
        yield server
    finally:
        server.close()


def _read_one_pass(url: str, *, open_timeout_s: float, read_timeout_s: float) -> CameraSource:
    """Run the source until its first reconnect; return it (its health tells what happened)."""
    cam = CameraConfig(id="gate-1", url=url, analyse_fps=5)  # type: ignore[arg-type]
    waits: list[float] = []
    sources: list[CameraSource] = []

    def sleep(delay: float) -> None:  # the first backoff ends the run
        waits.append(delay)
        sources[0].stop()

    source = CameraSource(
        cam,
        backoff=Backoff(0.1, 0.1, rng=random.Random(1)),
        sleep=sleep,
        open_timeout_s=open_timeout_s,
        read_timeout_s=read_timeout_s,
    )
    sources.append(source)
    done = threading.Event()

    def consume() -> None:
        for _ in source.frames():
            pass
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    assert done.wait(30), f"the source did not give up: {source.health}"
    assert waits, "no backoff"
    return source


def test_a_server_that_never_answers_is_a_timeout() -> None:
    password = "s3cret-pw"
    with _listener(lambda conn: None) as server:  # accepts, reads nothing, says nothing
        url = f"rtsp://admin:{password}@127.0.0.1:{server.port}/cam"
        source = _read_one_pass(url, open_timeout_s=1.0, read_timeout_s=1.0)
        assert server.accepted.is_set()
    h = source.health
    assert h.state is SourceState.STOPPED and h.reconnects == 1
    assert h.last_error.startswith(f"cannot open rtsp://***@127.0.0.1:{server.port}/cam: timed out")
    assert "(open timeout 1 s)" in h.last_error
    assert "Invalid data" not in h.last_error and password not in h.last_error


def test_a_stream_that_stops_sending_is_a_read_timeout(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.ts", frames=50).read_bytes()

    def serve_then_stall(conn: socket.socket) -> None:
        conn.recv(4096)  # the request
        head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n"
        with contextlib.suppress(OSError):
            conn.sendall(head + clip)  # then silence, the connection left open

    with _listener(serve_then_stall) as server:
        url = f"http://127.0.0.1:{server.port}/live.ts?token=abc123"
        source = _read_one_pass(url, open_timeout_s=5.0, read_timeout_s=1.0)
    h = source.health
    assert h.frames_decoded > 0  # the stream had started
    assert h.last_error.startswith(
        f"read timed out: no data from http://127.0.0.1:{server.port}/live.ts?token=*** within"
    ), h.last_error
    assert "(read timeout 1 s)" in h.last_error and "abc123" not in h.last_error
