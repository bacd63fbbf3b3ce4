"""Shared, batching face-embedding actors for the Ray engine (``engine.ray.shared_embedder``).

Without them every camera actor loads its own copy of the embedding network and runs it on
the one or two faces of its frame.  With them the driver starts ``embedder_replicas``
:class:`EmbedderService` actors (each reserving ``embedder_cpus`` CPUs and ``embedder_gpus``
GPUs, so on a GPU node the ONNX session uses CUDA when ``faces.embedder.providers`` asks for
it); each camera actor's pipeline gets a :class:`RemoteEmbedder` that cuts the 150x150 chips
locally (cheap, and only chips cross the wire) and sends them to its replica.  The service
gathers the chips of concurrent calls for up to ``batch_wait_ms`` or ``max_batch`` chips,
runs them through the network in one call and hands each caller its rows.  The network half
(flip averaging, L2 normalisation) is the local back end's own
:meth:`~citywatch.vision.faces.onnx_dlib_embedder.OnnxDlibEmbedder.embed_chips`, so a remote
embedding equals the local one for the same image and landmarks.

Services are named actors in the engine's namespace, restarted without limit; a call to a
restarting service is retried by Ray (``max_task_retries=-1``).
"""

from __future__ import annotations

import asyncio
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from citywatch.config.engine import RayEngineConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import actor_runtime_env, keep_freed_buffers
from citywatch.vision.faces.onnx_dlib_embedder import CHIP_SIZE, dlib_chips
from citywatch.vision.record import FloatArray, ImageBGR

SHARED_TYPES = ("dlib-onnx",)  # back ends whose network half runs on chips (embed_chips)


class ChipEmbedder(Protocol):
    name: str
    dim: int

    def embed_chips(self, chips: np.ndarray) -> FloatArray: ...


@dataclass(frozen=True)
class EmbedderServiceSpec:
    """What one service actor needs, picklable: the config (its ``faces.embedder`` and
    ``models`` sections pick and place the network) and the batching limits."""

    config: CitywatchConfig
    batch_wait_ms: float = 5.0
    max_batch: int = 64


@dataclass
class _Pending:
    chips: np.ndarray
    future: asyncio.Future[FloatArray]


@dataclass
class ServiceStats:
    requests: int = 0
    chips: int = 0
    batches: int = 0
    largest_batch: int = 0
    providers: list[str] = field(default_factory=list)


class EmbedderService:
    """An async actor: concurrent :meth:`embed_chips` calls are gathered into batches.

    Plain Python (``ray.remote`` wraps it in :func:`start_embedder_services`), so it also runs
    under ``asyncio`` alone.  One batch runs at a time on a worker thread, and chips arriving
    meanwhile gather for the next one.
    """

    def __init__(self, spec: EmbedderServiceSpec, embedder: ChipEmbedder | None = None) -> None:
        keep_freed_buffers()
        self.spec = spec
        self._net = embedder if embedder is not None else _build_chip_embedder(spec)
        self._wait_s = spec.batch_wait_ms / 1000.0
        self._pending: list[_Pending] = []
        self._queued = 0
        self._timer: asyncio.TimerHandle | None = None
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._busy: asyncio.Lock | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self.stats_ = ServiceStats(providers=list(getattr(self._net, "providers", [])))

    async def embed_chips(self, chips: np.ndarray) -> FloatArray:
        """L2-normalised embeddings of (N, 150, 150, 3) uint8 chips, one row per chip."""
        chips = np.asarray(chips, dtype=np.uint8)
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"embed_chips: expected (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) chips")
        self.stats_.requests += 1
        if len(chips) == 0:
            return np.zeros((0, self._net.dim), np.float32)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[FloatArray] = loop.create_future()
        self._pending.append(_Pending(chips, future))
        self._queued += len(chips)
        if self._queued >= self.spec.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._queued = self._pending, [], 0
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._tasks.add(task)  # a reference until done, or the loop may drop it
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        if self._busy is None:
            self._busy = asyncio.Lock()
        chips = np.concatenate([p.chips for p in batch])
        try:
            async with self._busy:  # one network call at a time; new chips gather meanwhile
                loop = asyncio.get_running_loop()
                out = await loop.run_in_executor(self._runner, self._net.embed_chips, chips)
        except Exception as err:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        self.stats_.batches += 1
        self.stats_.chips += len(chips)
        self.stats_.largest_batch = max(self.stats_.largest_batch, len(chips))
        start = 0
        for p in batch:
            if not p.future.done():
                p.future.set_result(out[start : start + len(p.chips)])
            start += len(p.chips)

    async def stats(self) -> dict[str, Any]:
        s = self.stats_
        return {
            "requests": s.requests,
            "chips": s.chips,
            "batches": s.batches,
            "largest_batch": s.largest_batch,
            "providers": list(s.providers),
        }


def _build_chip_embedder(spec: EmbedderServiceSpec) -> ChipEmbedder:
    from citywatch.vision.faces.registry import build_embedder

    config = spec.config
    cfg = config.faces.embedder
    # A gathered batch goes through the network in one run (mirrored chips too, with flip),
    # up to the config's limit on one inference call.
    cfg = cfg.model_copy(update={"batch_size": min(256, max(cfg.batch_size, 2 * spec.max_batch))})
    if cfg.type not in SHARED_TYPES:
        raise ValueError(
            f"engine.ray.shared_embedder supports faces.embedder.type {SHARED_TYPES}, "
            f"not {cfg.type!r}"
        )
    net = build_embedder(cfg, config.models.cache_dir, threads=config.models.threads)
    if not hasattr(net, "embed_chips"):  # pragma: no cover - SHARED_TYPES all have it
        raise ValueError(f"face embedder {cfg.type!r} cannot embed chips")
    chip_net: ChipEmbedder = net  # type: ignore[assignment]
    return chip_net


class RemoteEmbedder:
    """A :class:`~citywatch.vision.faces.base.FaceEmbedder` whose network is a shared
    :class:`EmbedderService`: chips are cut here, embedded there.  Picklable (it holds the
    service's name and namespace; the handle is looked up in the process that uses it)."""

    name = "dlib-onnx"
    dim = 128

    def __init__(self, service: str, namespace: str, *, timeout_s: float = 60.0) -> None:
        self.service = service
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._handle: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"service": self.service, "namespace": self.namespace, "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.service = state["service"]
        self.namespace = state["namespace"]
        self.timeout_s = state["timeout_s"]
        self._handle = None

    def __repr__(self) -> str:
        return f"RemoteEmbedder({self.service!r}, namespace={self.namespace!r})"

    def embed(self, image: ImageBGR, landmarks: FloatArray) -> FloatArray:
        import ray

        chips = dlib_chips(image, landmarks, who=self.name)
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._handle is None:
            self._handle = ray.get_actor(self.service, namespace=self.namespace)
        out: FloatArray = ray.get(self._handle.embed_chips.remote(chips), timeout=self.timeout_s)
        return out


def service_name(run_id: str, replica: int) -> str:
    return f"embedder-{run_id}-{replica}"


def embedder_for(camera_id: str, run_id: str, ray_cfg: RayEngineConfig) -> RemoteEmbedder:
    """The camera's replica, by a stable hash of its id (the same after a restart)."""
    replica = zlib.crc32(camera_id.encode()) % ray_cfg.embedder_replicas
    return RemoteEmbedder(service_name(run_id, replica), ray_cfg.namespace)


def start_embedder_services(
    config: CitywatchConfig, ray_cfg: RayEngineConfig, run_id: str
) -> list[Any]:
    """Start the named service actors (call on the driver, connected); returns their handles."""
    import ray

    if config.faces.embedder.type not in SHARED_TYPES:
        raise ValueError(
            f"engine.ray.shared_embedder supports faces.embedder.type {SHARED_TYPES}, "
            f"not {config.faces.embedder.type!r}"
        )
    spec = EmbedderServiceSpec(config, ray_cfg.batch_wait_ms, ray_cfg.max_batch)
    remote_cls: Any = ray.remote(EmbedderService)
    return [
        remote_cls.options(
            name=service_name(run_id, i),
            namespace=ray_cfg.namespace,
            num_cpus=ray_cfg.embedder_cpus,
            num_gpus=ray_cfg.embedder_gpus,
            max_restarts=-1,
            max_task_retries=-1,
            max_concurrency=1000,
            scheduling_strategy="SPREAD",
            runtime_env=actor_runtime_env(),
        ).remote(spec)
        for i in range(ray_cfg.embedder_replicas)
    ]
