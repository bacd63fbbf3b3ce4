"""The embedded engine: every camera worker on a thread of this process.

Camera health (source state, fps, reconnects, worker stats) is written as one JSON file per
camera under ``<state_dir>/health/`` every few seconds, so `citywatch cameras status` can read
it from another process.  Each file says when it was written and how often it is rewritten:
:func:`read_health` reports a record that claims a live state but has not been rewritten for
:data:`STALE_AFTER_INTERVALS` intervals as ``stale`` (the process that wrote it is gone or
hung), with its age.  A camera that fails (bad URL, corrupt file) is reported in its health
and does not stop the others; :func:`failed_cameras` names them when every one has failed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from citywatch.engine.worker import CameraWorker
from citywatch.sources.health import stream_text
from citywatch.vision.cadence import SearchCadence, search_text

if TYPE_CHECKING:
    from citywatch.services.clips import ClipMaker

log = logging.getLogger(__name__)

#: How often an engine rewrites the health files by default (seconds).
DEFAULT_HEALTH_EVERY_S = 2.0
#: A record not rewritten for this many intervals (and at least MIN_STALE_S) is stale.
STALE_AFTER_INTERVALS = 3
MIN_STALE_S = 5.0
#: Source states that claim the camera is being read now: a stale record cannot vouch for them.
LIVE_STATES = frozenset({"starting", "connecting", "streaming", "backoff"})


@dataclass
class CameraRun:
    """One camera's worker, a way to read its source's health and its evidence clips."""

    worker: CameraWorker
    health: Callable[[], Any]
    clips: ClipMaker | None = None


class LocalEngine:
    def __init__(
        self,
        runs: list[CameraRun],
        *,
        state_dir: Path | None = None,
        health_every_s: float = DEFAULT_HEALTH_EVERY_S,
    ) -> None:
        self._runs = runs
        self._threads: list[threading.Thread] = []
        self._state_dir = state_dir
        self._health_every_s = health_every_s
        self._stop = threading.Event()
        self._health_thread: threading.Thread | None = None
        self._crashed: dict[str, str] = {}  # camera -> why its worker crashed

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
        except Exception as err:
            self._crashed[run.worker.camera_id] = f"worker crashed: {type(err).__name__}: {err}"
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
        """Wait until every worker has ended (files without loop) and the clips of the
        alerts they raised are made, or the timeout passes."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        for t in self._threads:
            t.join(remaining())
        done = not self.alive()
        for run in self._runs:
            if run.clips is not None:
                done = run.clips.drain(remaining()) and done
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
            record = health_record(run.health(), run.worker)
            crash = self._crashed.get(run.worker.camera_id)
            if crash:
                record["error"] = crash
            out[run.worker.camera_id] = record
        return out

    def write_health(self) -> None:
        if self._state_dir is not None:
            write_health_files(self._state_dir, self.snapshot(), every_s=self._health_every_s)

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
        "lookalike_magnets": lookalike_magnets(worker),
        "searching": search_figures(worker),
        "written_at": time.time(),
    }


def analysis_text(record: Mapping[str, Any]) -> str:
    """A camera health record's stream (:func:`~citywatch.sources.health.stream_text`) and
    how its stages search it (``searching``: :func:`~citywatch.vision.cadence.search_text`),
    e.g. ``detect_url 640x360 h264; faces: resting, every 3rd moving frame (120 of 340
    left); plates: every moving frame`` (the console's and ``cameras status``' stream
    column)."""
    source = record.get("source")
    searching = record.get("searching")
    stream = stream_text(source) if isinstance(source, Mapping) else ""
    search = search_text(searching) if isinstance(searching, Mapping) else ""
    return "; ".join(t for t in (stream, search) if t)


def search_figures(worker: CameraWorker) -> dict[str, dict[str, int | bool]]:
    """How often the camera's face and plate stages search while they find nothing
    (:class:`~citywatch.vision.cadence.SearchCadence`): per stage it has, numbers only."""
    out: dict[str, dict[str, int | bool]] = {}
    for name in ("faces", "plates"):
        cadence = getattr(getattr(worker.pipeline, name, None), "cadence", None)
        if isinstance(cadence, SearchCadence):
            out[name] = cadence.figures()
    return out


def lookalike_magnets(worker: CameraWorker) -> list[dict[str, Any]]:
    """Watchlist entries the passers-by of this camera keep scoring near (subject ids and
    counts only: :mod:`citywatch.decisions.entry_stats`)."""
    decider = getattr(worker.pipeline, "face_decider", None)
    stats = getattr(decider, "entry_stats", None)
    if stats is None:
        return []
    return [
        {
            "subject_id": m.subject_id,
            "near_misses": m.near_misses,
            "passers_by": m.tracks,
            "highest": round(m.highest, 4),
            "own_threshold": round(m.own_threshold, 4),
        }
        for m in stats.magnets()
    ]


def write_health_files(
    state_dir: Path,
    records: dict[str, dict[str, Any]],
    *,
    every_s: float = DEFAULT_HEALTH_EVERY_S,
) -> None:
    """One ``health/<camera>.json`` per camera under ``state_dir``, each replaced atomically
    (what `citywatch cameras status` and the API read, whichever engine wrote it).
    ``every_s``: how often the writer rewrites them (readers judge staleness by it)."""
    folder = state_dir / "health"
    folder.mkdir(parents=True, exist_ok=True)
    for camera_id, record in records.items():
        tmp = folder / f".{camera_id}.json.tmp"
        body = {**record, "health_every_s": every_s}
        tmp.write_text(json.dumps(body, indent=1, default=str), encoding="utf-8")
        tmp.replace(folder / f"{camera_id}.json")


def failed_cameras(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Camera -> why, for every camera whose source failed for good or whose worker crashed
    (from an engine's snapshot); the others are left out."""
    failed: dict[str, str] = {}
    for cam, record in records.items():
        source = record.get("source") if isinstance(record.get("source"), dict) else {}
        worker = record.get("worker") if isinstance(record.get("worker"), dict) else {}
        assert isinstance(source, dict) and isinstance(worker, dict)
        actor = record.get("actor") if isinstance(record.get("actor"), dict) else {}
        assert isinstance(actor, dict)
        crash = record.get("error") or actor.get("error")
        if source.get("state") == "failed" or crash:
            why = crash or worker.get("last_error") or source.get("last_error") or "failed"
            failed[cam] = str(why)
    return failed


def every_camera_failed(records: dict[str, dict[str, Any]]) -> str | None:
    """A message naming each camera and why it failed when every camera has (a run that
    analysed nothing must not end as a success); None when at least one did not."""
    failed = failed_cameras(records)
    if not records or len(failed) < len(records):
        return None
    reasons = "; ".join(f"{cam}: {why}" for cam, why in sorted(failed.items()))
    return f"every camera failed ({len(failed)}): {reasons}"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in d.items()}


def read_health(state_dir: Path, *, now: float | None = None) -> dict[str, dict[str, Any]]:
    """The health files under ``state_dir``, each judged at ``now`` (default: the time
    now) by :func:`judge_staleness`."""
    folder = state_dir / "health"
    out: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return out
    at = time.time() if now is None else now
    for f in sorted(folder.glob("*.json")):
        try:
            record = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            out[f.stem] = {"error": f"unreadable health file {f.name}: {err}"}
            continue
        if not isinstance(record, dict):
            out[f.stem] = {"error": f"unreadable health file {f.name}: not a JSON object"}
            continue
        out[f.stem] = judge_staleness(record, at)
    return out


def judge_staleness(record: dict[str, Any], now: float) -> dict[str, Any]:
    """The record with ``age_s`` (seconds since it was written; None when it does not say)
    and, when it claims a live state but was not rewritten for a few health intervals (the
    writer was killed or hangs), its source state replaced by ``stale`` (the claimed one
    kept as ``last_state``) and its frame rates by 0: they are not being measured.

    Pure: a new dict; ``record`` is not changed.  A stopped, ended or failed camera keeps its
    state however old the record (it was the writer's last word)."""
    written = record.get("written_at")
    age = (
        now - float(written)
        if isinstance(written, int | float) and not isinstance(written, bool)
        else None
    )
    every = record.get("health_every_s")
    every_s = every if isinstance(every, int | float) and every > 0 else DEFAULT_HEALTH_EVERY_S
    out = {**record, "age_s": age}
    source = record.get("source")
    if not isinstance(source, dict) or source.get("state") not in LIVE_STATES:
        return out
    if age is not None and age <= max(MIN_STALE_S, STALE_AFTER_INTERVALS * every_s):
        return out
    out["source"] = {
        **source,
        "state": "stale",
        "last_state": source.get("state"),
        "input_fps": 0.0,
        "analysed_fps": 0.0,
    }
    return out
