"""A camera worker on a real RTSP stream: the server dies and comes back; the camera recovers
on its own and its health (as `citywatch cameras status` reads it) tells the story."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from citywatch.engine.local import read_health
from tests.engine.test_platform import _camera, _config, _platform

pytestmark = pytest.mark.integration


def _wait(what, timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {why}")
        time.sleep(0.05)


def test_worker_survives_a_server_restart(rtsp_server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CW_ENG_PW", rtsp_server.password)
    url = f"rtsp://{rtsp_server.user}:${{CW_ENG_PW}}@127.0.0.1:{rtsp_server.port}/cam"
    cfg = _config(tmp_path, [_camera("gate-2", url, ["plate"])])
    platform = _platform(cfg)
    platform.register_cameras()
    engine = platform.build_engine()
    engine.start()
    run = engine.runs[0]
    try:
        _wait(lambda: run.worker.stats.analysed >= 5, 30, "first frames")
        rtsp_server.stop()
        _wait(lambda: run.health().reconnects >= 1, 30, "the loss to be noticed")
        before = run.worker.stats.analysed
        rtsp_server.restart()
        _wait(lambda: run.worker.stats.analysed >= before + 5, 40, "frames after the restart")
        engine.write_health()
    finally:
        engine.stop(timeout=15)
        platform.dispatcher.close()
    health = read_health(tmp_path)["gate-2"]
    assert health["source"]["reconnects"] >= 1
    assert health["worker"]["analysed"] >= before + 5
    text = json.dumps(health)
    assert rtsp_server.password not in text
