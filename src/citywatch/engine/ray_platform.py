"""`citywatch run --engine ray`: the platform's cameras as Ray actors, alerts fanned back.

The driver (this process) registers the cameras, checks policy for the start table, joins the
cluster, places one actor per camera and listens for the alerts any node stores, handing each
to the configured sinks (console, webhooks, MQTT) once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from citywatch.config.root import CitywatchConfig
from citywatch.engine.fanout import AlertListener
from citywatch.engine.platform import CameraStart, Platform
from citywatch.engine.ray_engine import RayEngine, build_ray_engine, check_store, connect
from citywatch.engine.runtime import camera_permissions

log = logging.getLogger(__name__)


def wants_gpu(config: CitywatchConfig) -> bool:
    """Whether any ONNX back end of the config asks for the CUDA provider."""
    asked = [
        *config.faces.detector.providers,
        *config.faces.embedder.providers,
        *config.plates.detector.providers,
        *config.plates.reader.det_providers,
    ]
    return any("CUDA" in str(p) for p in asked)


def cluster_gpus() -> float:
    """GPUs the connected Ray cluster has in all."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


@dataclass
class RayRun:
    engine: RayEngine
    listener: AlertListener
    starts: list[CameraStart]
    notes: list[str]

    def stop(self) -> None:
        self.engine.stop()
        self.listener.stop()


def start_ray(
    platform: Platform,
    address: str | None = None,
    *,
    live: bool | None = None,
    pace: bool | None = None,
    run_id: str | None = None,
) -> RayRun:
    """Register, check, connect, place and listen.  Raises
    :class:`~citywatch.engine.ray_engine.RayEngineError` when the store does not fit."""
    ray_cfg = platform.config.engine.ray
    notes = [n for n in [check_store(platform.config, ray_cfg)] if n]
    if wants_gpu(platform.config) and ray_cfg.gpus_per_camera == 0:
        notes.append(
            "a model asks for CUDA but engine.ray.gpus_per_camera is 0: camera actors are "
            "placed without a GPU (set e.g. 0.1 to share one GPU among ten cameras)"
        )
    starts = platform.starts or platform.register_cameras()
    for start in starts:
        if start.error:
            continue
        with platform.sessions() as session:
            start.permissions = camera_permissions(session, start.camera, platform.now())
        if not (start.permissions.faces or start.permissions.plates):
            start.error = f"camera {start.camera.id!r}: nothing may be analysed"
            log.warning("%s (%s)", start.error, start.permissions.reasons)
    done = connect(ray_cfg, address)
    notes.append(f"ray: {done['address']}, auth {done['auth']}")
    if ray_cfg.gpus_per_camera > 0 and not cluster_gpus():
        notes.append(
            "engine.ray.gpus_per_camera asks for GPUs but no node of the cluster has one: "
            "cameras are placed on CPUs"
        )
        ray_cfg = ray_cfg.model_copy(update={"gpus_per_camera": 0.0})
    if ray_cfg.shared_embedder and ray_cfg.embedder_gpus > 0 and not cluster_gpus():
        notes.append(
            "engine.ray.embedder_gpus asks for GPUs but no node of the cluster has one: "
            "the shared embedders run on CPUs"
        )
        ray_cfg = ray_cfg.model_copy(update={"embedder_gpus": 0.0})
    if ray_cfg.shared_embedder:
        notes.append(
            f"faces: {ray_cfg.embedder_replicas} shared embedder actor(s), batches of up to "
            f"{ray_cfg.max_batch} chips within {ray_cfg.batch_wait_ms:g} ms"
        )
    engine = build_ray_engine(
        platform.config,
        [s.camera.id for s in starts if not s.error],
        ray_cfg,
        run_id=run_id,
        live=live,
        pace=pace,
    )
    listener = AlertListener.on(
        platform.sessions, platform.dispatcher.publish, channel=ray_cfg.alert_channel
    )
    listener.start()
    engine.start()
    return RayRun(engine, listener, starts, notes)
