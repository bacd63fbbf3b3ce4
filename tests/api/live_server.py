"""The real app served by uvicorn on a free loopback port, in a thread (for tests that need
parallel requests from real threads).  ``X-Forwarded-For`` from 127.0.0.1 is trusted, so a
test can speak from several client addresses."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` while the block runs."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # up to 10 s for the socket to listen
        if server.started:
            started.set()
            break
        started.wait(0.02)
    if not started.is_set():
        server.should_exit = True
        raise RuntimeError("uvicorn did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
