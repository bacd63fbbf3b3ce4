"""Shared, batching face embedders (engine.ray.shared_embedder): batching and row routing with
a stand-in network; equality with the local embedder on real faces through Ray actors; camera
actors' pipelines embedding through the service."""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from citywatch.config.root import CitywatchConfig, parse_config
from citywatch.decisions.gallery import Gallery
from citywatch.engine.allocator import worker_env
from citywatch.engine.assemble import Permissions, build_pipeline
from citywatch.engine.ray_actor import actor_models
from citywatch.engine.ray_engine import build_ray_engine
from citywatch.engine.ray_inference import (
    EmbedderService,
    EmbedderServiceSpec,
    RemoteEmbedder,
    embedder_for,
    start_embedder_services,
)
from citywatch.vision.faces.dlib_onnx import DlibModelError
from citywatch.vision.faces.dlib_onnx_cache import default_dat_path, ensure_onnx_model
from citywatch.vision.faces.registry import build_embedder
from citywatch.vision.record import FloatArray
from tests.conftest import require
from tests.engine.ray_fixtures import ray_available

CAM = {
    "id": "door-1",
    "url": "rtsp://127.0.0.1:9/none",
    "purposes": ["face"],
    "legal_basis": "Test Act s.1",
    "impact_assessment": "DPIA-T-1",
    "approved_on": "2026-01-01",
}


def _config(cache_dir: Path, **ray: object) -> CitywatchConfig:
    return parse_config(
        {
            "store": {"database_url": "postgresql://citywatch@db/citywatch"},
            "models": {"cache_dir": str(cache_dir)},
            "faces": {"embedder": {"type": "dlib-onnx"}},
            "engine": {"kind": "ray", "ray": {"shared_embedder": True, **ray}},
            "cameras": [CAM, {**CAM, "id": "door-2"}],
        }
    )


class _SumNet:
    """Stand-in network: one row per chip (its mean per channel, padded), counting calls."""

    name = "sum"
    dim = 4

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed_chips(self, chips: np.ndarray) -> FloatArray:
        self.calls.append(len(chips))
        means = chips.reshape(len(chips), 150 * 150, 3).mean(axis=1)
        return np.concatenate([means, np.ones((len(chips), 1))], axis=1).astype(np.float32)


def test_service_gathers_concurrent_calls_and_returns_each_caller_its_rows() -> None:
    net = _SumNet()
    spec = EmbedderServiceSpec(config=parse_config({}), batch_wait_ms=20.0, max_batch=1000)
    service = EmbedderService(spec, embedder=net)
    rng = np.random.default_rng(1)
    requests = [
        rng.integers(0, 255, size=(n, 150, 150, 3), dtype=np.uint8) for n in (1, 2, 3, 1, 0, 2)
    ]

    async def main() -> list[FloatArray]:
        return list(await asyncio.gather(*(service.embed_chips(r) for r in requests)))

    results = asyncio.run(main())
    for chips, got in zip(requests, results, strict=True):
        assert got.shape == (len(chips), 4)
        means = chips.reshape(len(chips), 150 * 150, 3).mean(axis=1)
        np.testing.assert_allclose(got[:, :3], means, rtol=1e-6)
    stats = asyncio.run(service.stats())
    assert stats["requests"] == len(requests)
    assert net.calls == [9]  # one network call for all nine chips
    assert stats["batches"] == 1 and stats["largest_batch"] == 9


def test_service_runs_a_full_batch_without_waiting_out_the_window() -> None:
    net = _SumNet()
    spec = EmbedderServiceSpec(config=parse_config({}), batch_wait_ms=60_000.0, max_batch=4)
    service = EmbedderService(spec, embedder=net)
    chips = np.zeros((2, 150, 150, 3), np.uint8)

    async def main() -> None:
        await asyncio.wait_for(
            asyncio.gather(service.embed_chips(chips), service.embed_chips(chips)), timeout=30
        )

    asyncio.run(main())  # a 60 s window would time out: the second call filled the batch
    assert net.calls == [4]


def test_remote_embedder_pickles_to_its_address_and_spreads_cameras(tmp_path: Path) -> None:
    cfg = _config(tmp_path, embedder_replicas=3)
    engine = build_ray_engine(cfg, ["door-1", "door-2"], cfg.engine.ray, run_id="r1")
    remotes = [spec.shared_embedder for spec in engine.runs]
    assert all(isinstance(r, RemoteEmbedder) for r in remotes)
    assert remotes[0] is not None
    twin = pickle.loads(pickle.dumps(remotes[0]))  # noqa: S301 - our own bytes
    assert (twin.service, twin.namespace) == (remotes[0].service, "citywatch")
    assert twin.service == embedder_for("door-1", "r1", cfg.engine.ray).service
    assert twin.service.startswith("embedder-r1-")
    off = build_ray_engine(
        cfg, ["door-1"], cfg.engine.ray.model_copy(update={"shared_embedder": False})
    )
    assert off.runs[0].shared_embedder is None


# ---------------------------------------------------------------------------------------------
# Through Ray, with the real network on real faces


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        dat = default_dat_path()
    except DlibModelError as e:
        require(False, str(e))
    require(dat.is_file(), f"dlib ResNet weights missing at {dat}")
    cache = tmp_path_factory.mktemp("models")
    ensure_onnx_model(cache, source=dat)
    return cache


@pytest.fixture(scope="module")
def faces(shared_data: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, landmarks) of real photos, landmarks from the project's dlib back ends."""
    import cv2

    from citywatch.config.faces import FaceDetectorConfig
    from citywatch.vision.faces.registry import build_detector, build_landmarker

    detector = build_detector(FaceDetectorConfig(type="dlib"))
    landmarker = build_landmarker()
    out = []
    examples = shared_data / "faces/watchlist_video/examples"
    for name in ("obama.jpg", "two_people.jpg", "biden.jpg"):
        image = cv2.imread(str(examples / name))
        require(image is not None, f"missing {examples / name}")
        boxes = detector.detect(image).xyxy
        if len(boxes):
            out.append((image, landmarker.landmarks(image, boxes).astype(np.float32)))
    assert sum(len(lm) for _, lm in out) >= 3
    return out


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ok, why = ray_available()
    require(ok, why)
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, namespace="citywatch", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.integration
def test_shared_embedder_equals_local_one_and_batches_many_cameras(
    model_cache: Path, faces: list[tuple[np.ndarray, np.ndarray]], local_ray: Any
) -> None:
    cfg = _config(model_cache, batch_wait_ms=50.0, max_batch=256, embedder_cpus=1.0)
    (service,) = start_embedder_services(cfg, cfg.engine.ray, run_id="t1")
    local = build_embedder(cfg.faces.embedder, model_cache)  # what a camera loads by itself
    expected = [local.embed(image, lm) for image, lm in faces]
    callers = [embedder_for(f"cam-{i}", "t1", cfg.engine.ray) for i in range(8)]
    jobs = [(c, i) for c in callers for i in range(len(faces))]
    with ThreadPoolExecutor(len(jobs)) as pool:
        got = list(pool.map(lambda job: job[0].embed(*faces[job[1]]), jobs))
    for (_, i), emb in zip(jobs, got, strict=True):
        assert emb.shape == expected[i].shape
        diff = float(np.abs(emb - expected[i]).max())
        assert diff < 1e-5, f"remote vs local embedding differ by {diff:.2e}"
    stats = local_ray.get(service.stats.remote())
    assert stats["requests"] == len(jobs)
    assert stats["chips"] == sum(len(faces[i][1]) for _, i in jobs)
    assert 1 <= stats["batches"] < stats["requests"]  # calls from many cameras were gathered
    assert stats["largest_batch"] > max(len(lm) for _, lm in faces)
    # its worker process was started with the malloc arena limit (engine/allocator.py)
    env = local_ray.get(service.__ray_call__.remote(lambda _self: dict(os.environ)))
    assert env.get("MALLOC_ARENA_MAX") == worker_env()["MALLOC_ARENA_MAX"]
    local_ray.kill(service, no_restart=True)


@pytest.mark.integration
def test_camera_pipeline_with_shared_embedder_embeds_through_the_service(
    model_cache: Path, faces: list[tuple[np.ndarray, np.ndarray]], local_ray: Any
) -> None:
    cfg = _config(model_cache, batch_wait_ms=1.0)
    engine = build_ray_engine(cfg, ["door-1"], cfg.engine.ray, run_id="t2")
    (service,) = start_embedder_services(cfg, cfg.engine.ray, run_id="t2")
    spec = pickle.loads(pickle.dumps(engine.runs[0]))  # noqa: S301 - as an actor gets it
    models = actor_models(spec)
    assert isinstance(models.embedder, RemoteEmbedder)
    image, lm = faces[0]
    gallery = Gallery.build(models.embedder.embed(image, lm[:1]), [1], ["someone"], [1])
    pipeline = build_pipeline(
        cfg.cameras[0], cfg, models, Permissions(faces=True, plates=False), gallery
    )
    assert pipeline.face_decider is not None
    assert isinstance(pipeline.face_decider.embedder, RemoteEmbedder)
    local = build_embedder(cfg.faces.embedder, model_cache).embed(image, lm[:1])
    np.testing.assert_allclose(gallery.embeddings, local, atol=1e-5)
    assert local_ray.get(service.stats.remote())["requests"] == 1
    local_ray.kill(service, no_restart=True)
