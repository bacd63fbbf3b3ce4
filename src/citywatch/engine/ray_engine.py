"""The Ray engine: one actor per camera, spread over a Ray cluster, supervised from the driver.

Placement: each camera is one actor (:class:`~citywatch.engine.ray_actor.CameraActor`)
reserving ``cpus_per_camera`` CPUs (and ``gpus_per_camera`` GPUs where the config asks for
GPU inference), placed with Ray's ``SPREAD`` strategy so cameras land on every live node.  One
actor per camera (not per group) keeps a failure's blast radius to one camera, lets Ray pack
cameras by their resources, and makes a restart re-open exactly one stream.

Failure: actors are created with ``max_restarts``/``max_task_retries`` (unlimited by default),
so when a node dies Ray re-runs the constructor of its cameras on the nodes still alive.  The
supervisor thread polls every actor's health every ``health_every_s`` seconds, writes the same
health files as the local engine, and places again any actor that is dead for good (restarts
used up) or has not answered for ``replace_after_s`` (hung).

Rebalancing: new and restarted actors go to live nodes (``SPREAD``).  When a node with CPUs
joins, the supervisor moves cameras from crowded nodes onto it (``rebalance_on_join``, on by
default; a moved live camera loses a few seconds of frames); with it off,
:meth:`RayEngine.rebalance` does it on request (an operator's decision).

Security: the driver turns on Ray's token authentication (``RAY_AUTH_MODE=token``) unless
the environment says otherwise, and a private cluster starts without the dashboard (or with it
on 127.0.0.1 only).  A cluster joined by address is secured by how it was started
(``ray start``); see docs/capacity.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citywatch.config.engine import RayEngineConfig
from citywatch.config.root import CitywatchConfig
from citywatch.engine.allocator import actor_runtime_env
from citywatch.engine.local import write_health_files
from citywatch.engine.ray_actor import ActorSpec, CameraActor
from citywatch.engine.ray_inference import embedder_for, start_embedder_services

log = logging.getLogger(__name__)

AUTH_MODE_ENV = "RAY_AUTH_MODE"


class RayEngineError(RuntimeError):
    """The Ray engine cannot start with this config; the message says why."""


def check_store(config: CitywatchConfig, ray_cfg: RayEngineConfig) -> str:
    """PostgreSQL is the store in Ray mode: every node writes to it.  SQLite is refused unless
    ``allow_sqlite`` (one machine, e.g. a private cluster), and then a warning is returned."""
    url = config.store.database_url
    if url.startswith("postgres"):
        return ""
    if not url.startswith("sqlite"):
        raise RayEngineError(f"the Ray engine needs a PostgreSQL store, not {url.split(':')[0]!r}")
    if not ray_cfg.allow_sqlite:
        raise RayEngineError(
            "the Ray engine needs PostgreSQL as its store (store.database_url = "
            "postgresql://...): camera actors on other nodes cannot share a SQLite file. "
            "Set engine.ray.allow_sqlite: true to run on one machine with SQLite anyway."
        )
    return "SQLite store with the Ray engine: every camera actor must run on this machine"


def connect(ray_cfg: RayEngineConfig, address: str | None = None) -> dict[str, Any]:
    """Join (``address``: 'auto' or HOST:PORT) or start (empty) a Ray cluster, with token
    authentication on.  Returns what was done, for the log."""
    import ray

    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is None:
        os.environ[AUTH_MODE_ENV] = "token"
        mode = "token"
        refresh_ray_auth()
    elif mode.lower() != "token":
        log.warning(
            "%s=%s: Ray token authentication is OFF; anyone who reaches the cluster's ports "
            "can run code on it",
            AUTH_MODE_ENV,
            mode,
        )
    target = ray_cfg.address if address is None else address
    if ray.is_initialized():
        return {"address": "already connected", "auth": mode}
    kwargs: dict[str, Any] = {
        "namespace": ray_cfg.namespace,
        "logging_level": logging.WARNING,
        "configure_logging": False,
    }
    if target:
        ray.init(address=target, **kwargs)
    else:
        ray.init(
            include_dashboard=ray_cfg.include_dashboard,
            dashboard_host="127.0.0.1",
            **kwargs,
        )
    return {"address": target or "private", "auth": mode}


def refresh_ray_auth() -> None:
    """Make an already imported Ray see a changed ``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN`` (it
    caches its config and token at import)."""
    try:
        from ray._raylet import (  # type: ignore[attr-defined]
            AuthenticationTokenLoader,
            Config,
        )
    except ImportError:  # pragma: no cover - another Ray version: env read at init
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@dataclass
class _Placed:
    spec: ActorSpec
    handle: Any
    generation: int = 1  # placements by the supervisor (Ray's own restarts not counted)
    last_ok: float = field(default_factory=time.monotonic)
    record: dict[str, Any] = field(default_factory=dict)
    state: str = "starting"  # starting | running | restarting | finished | replaced | stopped
    node_id: str = ""
    node_changes: int = 0


class RayEngine:
    """Camera actors on a Ray cluster; the same surface as the local engine for the CLI."""

    def __init__(
        self,
        specs: list[ActorSpec],
        ray_cfg: RayEngineConfig,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self._specs = specs
        self._cfg = ray_cfg
        self._state_dir = state_dir
        self._placed: dict[str, _Placed] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.replacements = 0
        self._nodes: set[str] | None = None  # CPU nodes alive at the last supervisor round
        self.services: list[Any] = []  # shared embedder actors (engine.ray.shared_embedder)

    @property
    def runs(self) -> list[ActorSpec]:
        return list(self._specs)

    # --- placement ------------------------------------------------------------------------
    def _options(self, spec: ActorSpec, generation: int) -> dict[str, Any]:
        return {
            "name": f"camera-{spec.camera_id}-{spec.run_id}-{generation}",
            "namespace": self._cfg.namespace,
            "num_cpus": self._cfg.cpus_per_camera,
            "num_gpus": self._cfg.gpus_per_camera,
            "max_restarts": self._cfg.max_restarts,
            "max_task_retries": self._cfg.max_task_retries,
            "max_concurrency": 4,  # health polls answer while stop() waits
            "scheduling_strategy": "SPREAD",
            # the arena limit from the worker process's first allocation (engine/allocator.py)
            "runtime_env": actor_runtime_env(),
        }

    def _place(self, spec: ActorSpec, generation: int = 1, node_id: str = "") -> Any:
        """Create the camera's actor; ``node_id``: prefer that node (soft: a later restart
        may still go anywhere)."""
        import ray

        options = self._options(spec, generation)
        if node_id:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=True)
        remote_cls: Any = ray.remote(CameraActor)
        return remote_cls.options(**options).remote(spec)

    def start(self) -> None:
        if self._cfg.shared_embedder and self._specs:
            first = self._specs[0]
            self.services = start_embedder_services(first.config, self._cfg, first.run_id)
        for spec in self._specs:
            self._placed[spec.camera_id] = _Placed(spec, self._place(spec))
        self._thread = threading.Thread(target=self._supervise, name="ray-supervisor", daemon=True)
        self._thread.start()

    def _replace(self, placed: _Placed, why: str, node_id: str = "") -> None:
        import ray

        log.warning("camera %s: %s; placing its actor again", placed.spec.camera_id, why)
        with contextlib.suppress(Exception):  # already gone
            ray.kill(placed.handle, no_restart=True)
        placed.generation += 1
        placed.handle = self._place(placed.spec, placed.generation, node_id)
        placed.last_ok = time.monotonic()
        placed.state = "replaced"
        self.replacements += 1

    # --- supervision ----------------------------------------------------------------------
    def poll(self, timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """Ask every actor for its health once; place again those dead for good or hung."""
        import ray
        from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError

        with self._lock:
            items = [p for p in self._placed.values() if p.state not in ("finished", "stopped")]
            refs = {p.spec.camera_id: p.handle.health.remote() for p in items}
            for p in items:
                cam = p.spec.camera_id
                try:
                    record = ray.get(refs[cam], timeout=timeout)
                except (ActorUnavailableError, GetTimeoutError) as err:
                    p.state = "restarting"
                    p.record.setdefault("actor", {})["error"] = type(err).__name__
                    if time.monotonic() - p.last_ok > self._cfg.replace_after_s:
                        self._replace(p, f"no answer for {self._cfg.replace_after_s:.0f} s")
                    continue
                except ActorDiedError as err:
                    if _dead_for_good(err):
                        self._replace(p, "its actor died for good")
                        continue
                    p.state = "restarting"
                    p.record.setdefault("actor", {})["error"] = _first_line(err)
                    if time.monotonic() - p.last_ok > self._cfg.replace_after_s:
                        self._replace(p, "its actor keeps dying")
                    continue
                except Exception as err:  # the constructor failed (bad camera, no store)
                    p.state = "restarting"
                    p.record.setdefault("actor", {})["error"] = _first_line(err)
                    if time.monotonic() - p.last_ok > self._cfg.replace_after_s:
                        self._replace(p, f"it keeps failing: {type(err).__name__}")
                    continue
                p.last_ok = time.monotonic()
                node = record.get("actor", {}).get("node_id", "")
                if p.node_id and node and node != p.node_id:
                    p.node_changes += 1
                    log.warning("camera %s: resumed on node %s", cam, node[:12])
                p.node_id = node or p.node_id
                p.record = record
                p.state = "finished" if record.get("actor", {}).get("finished") else "running"
            return self.snapshot()

    def _supervise(self) -> None:
        while not self._stop.wait(self._cfg.health_every_s):
            try:
                self.poll()
                if self._cfg.rebalance_on_join:
                    self._rebalance_if_joined()
                self.write_health()
            except Exception:
                log.exception("ray supervisor: poll failed")

    def _rebalance_if_joined(self) -> None:
        """Rebalance once when a CPU node appeared since the last round."""
        nodes = set(_cpu_nodes())
        joined = nodes - self._nodes if self._nodes is not None else set()
        self._nodes = nodes
        if joined:
            moved = self.rebalance()
            log.warning(
                "node(s) %s joined: %d camera(s) moved onto the least busy nodes",
                ", ".join(n[:12] for n in sorted(joined)),
                moved,
            )

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for cam, p in self._placed.items():
            record = dict(p.record)
            record["engine"] = {
                "kind": "ray",
                "state": p.state,
                "node_id": p.node_id,
                "node_changes": p.node_changes,
                "placements": p.generation,
            }
            out[cam] = record
        return out

    def write_health(self) -> None:
        if self._state_dir is not None:
            write_health_files(self._state_dir, self.snapshot(), every_s=self._cfg.health_every_s)

    # --- the local engine's surface -------------------------------------------------------
    def alive(self) -> bool:
        return any(p.state not in ("finished", "stopped") for p in self._placed.values())

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive():
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self._thread is None or not self._thread.is_alive():
                self.poll()
            time.sleep(0.2)
        return True

    def stop(self, timeout: float = 15.0) -> None:
        import ray

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            refs = {cam: p.handle.stop.remote() for cam, p in self._placed.items()}
            # one deadline for all: a camera whose actor is dead or restarting is not waited
            # for camera by camera
            ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
            for cam, ref in refs.items():
                p = self._placed[cam]
                try:
                    p.record = ray.get(ref, timeout=0.1)
                except Exception as err:
                    log.warning("camera %s: did not stop cleanly: %s", cam, type(err).__name__)
                p.state = "stopped"
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(p.handle, no_restart=True)
            for service in self.services:
                with contextlib.suppress(Exception):
                    ray.kill(service, no_restart=True)
        self.write_health()

    def rebalance(self) -> int:
        """Move cameras off crowded nodes onto the least busy ones (e.g. after a node joined):
        each moved camera is stopped and placed again, preferring the target node (a live
        camera loses its frames during the move).  Returns how many were moved."""

        nodes = _cpu_nodes()
        if not nodes:
            return 0
        with self._lock:
            by_node: dict[str, list[_Placed]] = {n: [] for n in nodes}
            for p in self._placed.values():
                if p.state == "running" and p.node_id in by_node:
                    by_node[p.node_id].append(p)
            fair = -(-sum(len(v) for v in by_node.values()) // len(nodes))  # ceiling
            moved = 0
            for group in list(by_node.values()):
                for p in group[fair:]:
                    target = min(by_node, key=lambda n: len(by_node[n]))
                    if len(by_node[target]) >= fair:
                        break
                    by_node[p.node_id].remove(p)
                    by_node[target].append(p)
                    self._replace(p, f"rebalancing onto node {target[:12]}", target)
                    moved += 1
        return moved


def _cpu_nodes() -> list[str]:
    """Ids of the live cluster nodes that offer CPUs."""
    import ray

    return [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU")]


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]


def _dead_for_good(err: Exception) -> bool:
    text = str(err)
    return ("restarts" in text and "exceeded" in text) or "ray.kill" in text


def build_ray_engine(
    config: CitywatchConfig,
    camera_ids: list[str],
    ray_cfg: RayEngineConfig,
    *,
    run_id: str | None = None,
    live: bool | None = None,
    pace: bool | None = None,
    refresh_s: float = 30.0,
) -> RayEngine:
    """One actor spec per camera; the run id is fixed here, once for the engine run."""
    rid = run_id or uuid.uuid4().hex[:12]
    specs = [
        ActorSpec(
            config=config,
            camera_id=cam,
            run_id=rid,
            live=live,
            pace=pace,
            refresh_s=refresh_s,
            db_pool_size=ray_cfg.db_pool_size,
            db_max_overflow=ray_cfg.db_max_overflow,
            alert_channel=ray_cfg.alert_channel,
            shared_embedder=embedder_for(cam, rid, ray_cfg) if ray_cfg.shared_embedder else None,
        )
        for cam in camera_ids
    ]
    return RayEngine(specs, ray_cfg, state_dir=config.store.state_dir)
