"""How cameras are run: the embedded engine (threads in one process) or Ray (a cluster)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from citywatch.config.base import Strict


class RayEngineConfig(Strict):
    address: str = Field(
        default="",
        description="Ray cluster to join: 'auto' (the local `ray start` cluster), HOST:PORT, or "
        "empty to start a private single-node cluster in this process",
    )
    namespace: str = Field(default="citywatch", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cpus_per_camera: float = Field(
        default=1.0, gt=0, le=64, description="Ray CPUs reserved by each camera actor"
    )
    gpus_per_camera: float = Field(
        default=0.0,
        ge=0,
        le=8,
        description="Ray GPUs reserved by each camera actor (a fraction shares a GPU); 0 = CPU",
    )
    max_restarts: int = Field(
        default=-1, ge=-1, description="Restarts of a dead camera actor (-1 = without limit)"
    )
    max_task_retries: int = Field(
        default=-1, ge=-1, description="Retries of a call to an actor that died (-1 = no limit)"
    )
    health_every_s: float = Field(
        default=2.0, gt=0, le=300, description="How often the supervisor polls camera actors"
    )
    replace_after_s: float = Field(
        default=30.0,
        gt=0,
        description="An actor that answers no health poll for this long is killed and placed "
        "again (Ray's own restart covers a dead node; this covers a hung one)",
    )
    rebalance_on_join: bool = Field(
        default=True,
        description="When a node with CPUs joins, move cameras from crowded nodes onto it (each "
        "moved camera loses a few seconds of frames); off: only `rebalance()` on request",
    )
    db_pool_size: int = Field(
        default=2, ge=1, le=50, description="Database connections kept per camera actor"
    )
    db_max_overflow: int = Field(
        default=2, ge=0, le=50, description="Extra connections a camera actor may open at peaks"
    )
    include_dashboard: bool = Field(
        default=False, description="Start Ray's dashboard (private cluster only; loopback only)"
    )
    allow_sqlite: bool = Field(
        default=False,
        description="Allow a SQLite store with Ray (one machine only; PostgreSQL otherwise)",
    )
    alert_channel: str = Field(
        default="citywatch_alerts",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL LISTEN/NOTIFY channel that fans alerts out across nodes",
    )

    shared_embedder: bool = Field(
        default=False,
        description="Embed faces in shared actors that batch chips from many cameras (one "
        "network per replica, on a GPU where embedder_gpus > 0) instead of one network per "
        "camera actor",
    )
    embedder_replicas: int = Field(
        default=1, ge=1, le=256, description="Shared embedder actors; cameras are spread by id"
    )
    embedder_cpus: float = Field(
        default=1.0, gt=0, le=64, description="Ray CPUs reserved by each shared embedder actor"
    )
    embedder_gpus: float = Field(
        default=0.0,
        ge=0,
        le=8,
        description="Ray GPUs reserved by each shared embedder actor (its ONNX session uses "
        "CUDA when faces.embedder.providers asks for it); 0 = CPU",
    )
    batch_wait_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="How long a shared embedder waits for more chips before it runs a batch",
    )
    max_batch: int = Field(
        default=64, ge=1, le=4096, description="Chips a shared embedder runs in one batch at most"
    )


class EngineConfig(Strict):
    kind: Literal["local", "ray"] = Field(
        default="local", description="'local': threads in this process; 'ray': a Ray cluster"
    )
    ray: RayEngineConfig = Field(default_factory=RayEngineConfig)
    heap_trim_every_s: float = Field(
        default=0.0,
        ge=0,
        description="Seconds between handing the C heap's free pages back to the kernel "
        "(glibc's malloc_trim, from the camera workers): lowers resident memory by the free "
        "space the heap keeps (~400 MB in the demo's soak) at the cost of a pause of the "
        "camera that trims (3-600 ms on a loaded 2-core host) and of pages faulted in again; "
        "0: never (the default).  No effect off glibc",
    )
