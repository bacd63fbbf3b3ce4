"""The ArcFace-style ONNX embedder and the landmark templates, on tiny graphs built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from citywatch.config.faces import FaceEmbedderConfig
from citywatch.vision.faces.base import FaceEmbedder
from citywatch.vision.faces.chips import TEMPLATE_5
from citywatch.vision.faces.onnx_arcface import OnnxArcFaceEmbedder
from citywatch.vision.faces.registry import FaceBackendError, build_embedder, model_id
from citywatch.vision.faces.templates import (
    ARCFACE_112,
    DLIB5_IN_ARCFACE_112,
    align_arcface,
    arcface_to_dlib5,
)
from citywatch.vision.onnx_session import OnnxModelError
from tests.vision.faces import onnx_graphs


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """A colour ramp (so a mirrored crop differs) and three faces given by dlib-order points."""
    x = np.linspace(0, 255, 320)
    ramp = np.stack([255 - x, np.full_like(x, 90), x], axis=1)[None]
    img = np.ascontiguousarray(np.broadcast_to(ramp, (240, 320, 3)).astype(np.uint8))
    placements = ((1.0, (10, 20)), (0.6, (150, 40)), (1.3, (170, 90)))
    lm = np.stack([DLIB5_IN_ARCFACE_112 * s + off for s, off in placements])
    return img, lm.astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_template_points_sit_where_the_two_conventions_agree() -> None:
    t = DLIB5_IN_ARCFACE_112
    # Eye centres of the dlib points are ArcFace's eye centres; the nose base lies below the tip.
    np.testing.assert_allclose(t[2:4].mean(0), ARCFACE_112[0], atol=1e-9)
    np.testing.assert_allclose(t[0:2].mean(0), ARCFACE_112[1], atol=1e-9)
    assert ARCFACE_112[2, 1] < t[4, 1] < ARCFACE_112[3, 1]
    assert not t.flags.writeable
    # ArcFace points of a face moved and scaled -> dlib points moved and scaled the same way.
    moved = ARCFACE_112 * 2.0 + np.array([30.0, -5.0])
    np.testing.assert_allclose(arcface_to_dlib5(moved[None])[0], t * 2.0 + [30.0, -5.0], atol=1e-3)
    assert TEMPLATE_5.shape == (5, 2)


def test_alignment_maps_the_template_to_itself() -> None:
    img = np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    crop = align_arcface(img, DLIB5_IN_ARCFACE_112[None].astype(np.float32))
    assert crop.shape == (1, 112, 112, 3)
    np.testing.assert_array_equal(crop[0], img[:, :, ::-1])  # identity warp, RGB out
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        align_arcface(img, np.zeros((1, 68, 2), np.float32))


def test_embedder_shapes_batches_and_normalises(tmp_path: Path) -> None:
    w = onnx_graphs.arcface(tmp_path / "arc.onnx")
    img, lm = _scene()
    emb = OnnxArcFaceEmbedder(tmp_path / "arc.onnx", batch_size=2)
    assert isinstance(emb, FaceEmbedder)
    assert (emb.name, emb.dim, emb.providers) == ("onnx-arcface", 512, ["CPUExecutionProvider"])
    out = emb.embed(img, lm)
    assert out.shape == (3, 512) and out.dtype == np.float32
    want = _unit(onnx_graphs.arcface_reference(align_arcface(img, lm), w))
    np.testing.assert_allclose(out, want, atol=1e-5)
    one_batch = OnnxArcFaceEmbedder(tmp_path / "arc.onnx", batch_size=16).embed(img, lm)
    np.testing.assert_allclose(out, one_batch, atol=1e-6)
    assert emb.embed(img, np.zeros((0, 5, 2), np.float32)).shape == (0, 512)
    with pytest.raises(ValueError, match=r"\(N, 5, 2\)"):
        emb.embed(img, np.zeros((2, 68, 2), np.float32))


def test_flip_averages_the_mirrored_crop(tmp_path: Path) -> None:
    w = onnx_graphs.arcface(tmp_path / "arc.onnx")
    img, lm = _scene()
    crops = align_arcface(img, lm)
    raw = onnx_graphs.arcface_reference(crops, w) + onnx_graphs.arcface_reference(
        crops[:, :, ::-1], w
    )
    flipped = OnnxArcFaceEmbedder(tmp_path / "arc.onnx", flip=True).embed(img, lm)
    np.testing.assert_allclose(flipped, _unit(raw), atol=1e-5)
    plain = OnnxArcFaceEmbedder(tmp_path / "arc.onnx").embed(img, lm)
    assert np.abs(flipped - plain).max() > 0.05


def test_fixed_batch_of_one_and_other_dims(tmp_path: Path) -> None:
    onnx_graphs.arcface(tmp_path / "b1.onnx", batch=1, dim=128)
    img, lm = _scene()
    emb = OnnxArcFaceEmbedder(tmp_path / "b1.onnx", batch_size=8)
    assert emb.dim == 128 and emb.embed(img, lm).shape == (3, 128)


def test_missing_foreign_and_misshapen_models_are_named(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match=r"not found at .*absent\.onnx"):
        OnnxArcFaceEmbedder(tmp_path / "absent.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="cannot load ONNX model"):
        OnnxArcFaceEmbedder(tmp_path / "junk.onnx")
    onnx_graphs.arcface(tmp_path / "dlib_size.onnx", size=150)
    with pytest.raises(
        OnnxModelError, match=r"expected one input \[N,3,112,112\].*\[N,3,150,150\]"
    ):
        OnnxArcFaceEmbedder(tmp_path / "dlib_size.onnx")
    onnx_graphs.identity(tmp_path / "rank4.onnx", ["N", 3, 112, 112])
    with pytest.raises(OnnxModelError, match=r"one output \[N,D\]"):
        OnnxArcFaceEmbedder(tmp_path / "rank4.onnx")


def test_registry_builds_it_from_config(tmp_path: Path) -> None:
    onnx_graphs.arcface(tmp_path / "w600k.onnx")
    cfg = FaceEmbedderConfig(type="onnx-arcface", model_path=tmp_path / "w600k.onnx")
    emb = build_embedder(cfg, tmp_path / "cache", threads=1)
    assert emb.dim == 512
    assert model_id(cfg) == "onnx-arcface:w600k.onnx+flip"
    with pytest.raises(ValidationError, match="needs model_path"):
        FaceEmbedderConfig(type="onnx-arcface")
    missing = FaceEmbedderConfig(type="onnx-arcface", model_path=tmp_path / "nope.onnx")
    with pytest.raises(FaceBackendError, match=r"'onnx-arcface' could not be built.*nope\.onnx"):
        build_embedder(missing, tmp_path / "cache")


def test_unavailable_provider_falls_back_to_cpu(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    onnx_graphs.arcface(tmp_path / "arc.onnx")
    emb = OnnxArcFaceEmbedder(tmp_path / "arc.onnx", providers=["OpenVINOExecutionProvider"])
    assert emb.providers[-1] == "CPUExecutionProvider"
    import onnxruntime as ort

    if "OpenVINOExecutionProvider" not in ort.get_available_providers():
        assert "not available" in caplog.text
