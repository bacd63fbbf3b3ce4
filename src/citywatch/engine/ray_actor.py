"""One camera as a Ray actor: it builds its own store connection, models and pipeline.

Nothing unpicklable crosses the wire: the actor gets an :class:`ActorSpec` (the validated
config, the camera id and run settings) and builds everything else in its own process, so a
restart on another node (Ray re-runs the constructor with the same spec) is a fresh, complete
camera worker.  The spec's ``run_id`` is fixed by the supervisor for the whole engine run, so
a restarted actor that re-processes the same frames writes the same event ids (idempotent).

The class is plain Python; :mod:`citywatch.engine.ray_engine` wraps it with ``ray.remote``
(tests can also run it in-process).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import heap_trimmer, keep_freed_buffers
from citywatch.engine.assemble import Models
from citywatch.engine.camera import build_camera_worker
from citywatch.engine.fanout import PgNotifier
from citywatch.engine.local import health_record
from citywatch.engine.ray_inference import RemoteEmbedder
from citywatch.engine.runtime import ReloadingHotlist, utcnow
from citywatch.services.outbox import install_outbox
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore

log = logging.getLogger(__name__)

#: how long a finished camera waits for the clips of its alerts before it says finished
CLIP_DRAIN_S = 60.0


@dataclass(frozen=True)
class ActorSpec:
    """Everything a camera actor needs, picklable."""

    config: CitywatchConfig
    camera_id: str
    run_id: str
    live: bool | None = None  # None: from the source (network streams are live)
    pace: bool | None = None  # None: looped files are paced like a live camera
    refresh_s: float = 30.0
    db_pool_size: int = 2
    db_max_overflow: int = 2
    alert_channel: str = "citywatch_alerts"
    shared_embedder: RemoteEmbedder | None = None  # None: the actor loads its own embedder


class CameraActor:
    """Runs one camera's worker on a thread of the actor's process from construction on."""

    def __init__(self, spec: ActorSpec) -> None:
        keep_freed_buffers()
        self.spec = spec
        self.started_at = time.time()
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.error = ""
        cfg = spec.config
        cam = next((c for c in cfg.cameras if c.id == spec.camera_id), None)
        if cam is None:
            raise ValueError(f"camera {spec.camera_id!r} is not in the config")
        self._db = make_engine(
            cfg.store.database_url, pool_size=spec.db_pool_size, max_overflow=spec.db_max_overflow
        )
        sessions = make_session_factory(self._db)
        install_outbox(sessions, cfg.alerts)  # webhook/MQTT rows with each alert it stores
        media = MediaStore(cfg.store.media_dir)
        models = actor_models(spec)
        self.notifier = PgNotifier(self._db, spec.alert_channel)
        parts = build_camera_worker(
            cam,
            cfg,
            models,
            sessions,
            media,
            ReloadingHotlist(sessions, cfg),
            self.notifier.publish,
            now=utcnow(),
            run_id=spec.run_id,
            replayable=True,  # a restarted actor re-analysing footage writes the same ids
            live=spec.live,
            pace=spec.pace,
            refresh_s=spec.refresh_s,
            trimmer=heap_trimmer(cfg.engine.heap_trim_every_s),  # one camera per actor process
        )
        perms = parts.permissions
        self.permissions = {"faces": perms.faces, "plates": perms.plates, "reasons": perms.reasons}
        self._source = parts.source
        self.worker = parts.worker
        self._clips = parts.clips
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cam-{cam.id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.worker.run()
        except Exception as err:
            self.error = f"worker crashed: {type(err).__name__}: {err}"
            log.exception("camera %s: worker crashed", self.spec.camera_id)
        finally:
            # finished means the evidence is in place: the clips of the alerts raised
            if self._clips is not None and not self._clips.drain(CLIP_DRAIN_S):
                log.warning("camera %s: clips still in progress at the end", self.spec.camera_id)
            self._done.set()

    def health(self) -> dict[str, Any]:
        """The camera's health record (the same shape as the local engine's), plus where the
        actor runs and whether its worker has ended."""
        return {
            **health_record(self._source.health, self.worker),
            "actor": {
                "node_id": _node_id(),
                "host": self.host,
                "pid": self.pid,
                "started_at": self.started_at,
                "finished": self._done.is_set(),
                "error": self.error,
                "alerts_notified": self.notifier.sent,
            },
        }

    def finished(self) -> bool:
        return self._done.is_set()

    def stop(self, timeout: float = 10.0) -> dict[str, Any]:
        """Stop the worker (results still pending are flushed to the store) and report."""
        self.worker.stop()
        self._done.wait(timeout)
        record = self.health()
        self._db.dispose()
        return record


def actor_models(spec: ActorSpec) -> Models:
    """The camera actor's model back ends: its own, except the face embedder when the engine
    runs shared embedder actors (then chips go to the camera's replica)."""
    if spec.shared_embedder is not None:
        return Models(spec.config, _embedder=spec.shared_embedder)
    return Models(spec.config)


def _node_id() -> str:
    try:
        import ray

        if ray.is_initialized():
            return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: S110 - outside Ray there is no node id
        pass
    return ""
