"""The embedded engine: every camera worker on a thread of this process.

Camera health (source state, fps, reconnects, worker stats) is written as one JSON file per
camera under ``<state_dir>/health/`` every few seconds, so `citywatch cameras status` can read
it from another process.  A camera that fails (bad URL, corrupt file) is reported in its
health and does not stop the others.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from citywatch.engine.worker import CameraWorker

log = logging.getLogger(__name__)


@dataclass
class CameraRun:
    """One camera's worker and a way to read its source's health."""

    worker: CameraWorker
    health: Callable[[], Any]


class LocalEngine:
    def __init__(
        self,
        runs: list[CameraRun],
        *,
        state_dir: Path | None = None,
        health_every_s: float = 2.0,
    ) -> None:
        self._runs = runs
        self._threads: list[threading.Thread] = []
        self._state_dir = state_dir
        self._health_every_s = health_every_s
        self._stop = threading.Event()
        self._health_thread: threading.Thread | None = None

    @property
    def runs(self) -> list[CameraRun]:
        return self._runs

    def start(self) -> None:
        for run in self._runs:
            t = threading.Thread(
                target=self._run_one, args=(run,), name=f"cam-{run.worker.camera_id}", daemon=True
            )
            t.start()
            self._threads.append(t)
        if self._state_dir is not None:
            self._health_thread = threading.Thread(
                target=self._health_loop, name="health", daemon=True
            )
            self._health_thread.start()

    def _run_one(self, run: CameraRun) -> None:
        try:
            run.worker.run()
        except Exception:
            log.exception("camera %s: worker crashed", run.worker.camera_id)

    def latest_jpeg(self, camera_id: str, *, max_width: int = 960) -> bytes | None:
        """The camera's latest analysed picture as JPEG (live view), or None.  Held in
        memory only; nothing is written."""
        for run in self._runs:
            if run.worker.camera_id == camera_id and run.worker.last_frame is not None:
                image: np.ndarray = run.worker.last_frame.image
                h, w = image.shape[:2]
                if w > max_width:
                    image = cv2.resize(image, (max_width, round(h * max_width / w)))
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
                return buf.tobytes() if ok else None
        return None

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every worker has ended (files without loop) or the timeout passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(remaining)
        done = not self.alive()
        if done:
            self.write_health()
        return done

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for run in self._runs:
            run.worker.stop()
        self.wait(timeout)
        self.write_health()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for run in self._runs:
            out[run.worker.camera_id] = health_record(run.health(), run.worker)
        return out

    def write_health(self) -> None:
        if self._state_dir is not None:
            write_health_files(self._state_dir, self.snapshot())

    def _health_loop(self) -> None:
        while not self._stop.wait(self._health_every_s):
            try:
                self.write_health()
            except OSError as err:
                log.warning("could not write camera health: %s", err)


def health_record(source_health: Any, worker: CameraWorker) -> dict[str, Any]:
    """One camera's health record, the same shape whichever engine runs the camera: the
    source's health, the worker's counters, results waiting for the store, when."""
    health = (
        asdict(source_health)
        if source_health is not None and hasattr(source_health, "__dataclass_fields__")
        else {}
    )
    return {
        "source": _jsonable(health),
        "worker": asdict(worker.stats),
        "pending_results": worker.pending,
        "written_at": time.time(),
    }


def write_health_files(state_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    """One ``health/<camera>.json`` per camera under ``state_dir``, each replaced atomically
    (what `citywatch cameras status` and the API read, whichever engine wrote it)."""
    folder = state_dir / "health"
    folder.mkdir(parents=True, exist_ok=True)
    for camera_id, record in records.items():
        tmp = folder / f".{camera_id}.json.tmp"
        tmp.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
        tmp.replace(folder / f"{camera_id}.json")


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in d.items()}


def read_health(state_dir: Path) -> dict[str, dict[str, Any]]:
    folder = state_dir / "health"
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.glob("*.json")):
        try:
            out[f.stem] = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            out[f.stem] = {"error": f"unreadable health file {f.name}: {err}"}
    return out
