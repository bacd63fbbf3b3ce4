"""Face back ends by name: the ``type`` string of the config picks the class.

Back-end modules are imported only when chosen, so a missing optional package stops only the
back end that needs it, with a message naming the package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from citywatch.config.faces import FaceDetectorConfig, FaceEmbedderConfig
from citywatch.vision.faces.base import FaceDetector, FaceEmbedder, FaceLandmarker


class FaceBackendError(RuntimeError):
    """A face back end could not be built: unknown name, missing package or model file."""


def _missing(kind: str, name: str, err: ImportError) -> FaceBackendError:
    module = err.name or str(err)
    if module.startswith("citywatch."):
        return FaceBackendError(
            f"face {kind} {name!r} is not available: module {module} is missing"
        )
    package = module.split(".")[0]
    return FaceBackendError(
        f"face {kind} {name!r} needs the Python package {package!r}, which is not installed "
        f"({err.__class__.__name__}: {err})"
    )


def _yunet(cfg: FaceDetectorConfig, threads: int) -> FaceDetector:
    from citywatch.vision.faces.yunet import YunetDetector

    return YunetDetector(
        cfg.model_path,
        min_score=cfg.redact_min_score,
        max_side=cfg.max_side,
        landmarks=cfg.landmarks,
        threads=threads,
        providers=list(cfg.providers),
    )


def _dlib_hog(cfg: FaceDetectorConfig, threads: int) -> FaceDetector:
    from citywatch.vision.faces.dlib_backends import DlibHogDetector

    floor = cfg.redact_min_score
    return DlibHogDetector(min_score=min(max(floor, 0.01), 0.99), upsample=cfg.upsample)


def _onnx_scrfd(cfg: FaceDetectorConfig, threads: int) -> FaceDetector:
    from citywatch.vision.faces.onnx_scrfd import OnnxScrfdDetector

    assert cfg.model_path is not None  # the config validator insists
    return OnnxScrfdDetector(
        cfg.model_path,
        input_size=cfg.input_size,
        min_score=cfg.redact_min_score,
        threads=threads,
        providers=list(cfg.providers),
    )


def _dlib_embedder(cfg: FaceEmbedderConfig, cache_dir: Path, threads: int) -> FaceEmbedder:
    from citywatch.vision.faces.dlib_backends import DlibEmbedder

    return DlibEmbedder()


def _dlib_onnx_embedder(cfg: FaceEmbedderConfig, cache_dir: Path, threads: int) -> FaceEmbedder:
    # The ONNX graph is converted from dlib's .dat by `citywatch models prepare` into
    # ``cache_dir``; a missing one is an error here, never converted at run time.
    from citywatch.vision.faces.dlib_onnx_cache import prepared_onnx_model
    from citywatch.vision.faces.onnx_dlib_embedder import OnnxDlibEmbedder

    embedder: FaceEmbedder = OnnxDlibEmbedder(
        prepared_onnx_model(cache_dir),
        threads=threads,
        providers=list(cfg.providers),
        flip=cfg.flip,
        batch_size=cfg.batch_size,
    )
    return embedder


def _onnx_arcface(cfg: FaceEmbedderConfig, cache_dir: Path, threads: int) -> FaceEmbedder:
    from citywatch.vision.faces.onnx_arcface import OnnxArcFaceEmbedder

    assert cfg.model_path is not None  # the config validator insists
    return OnnxArcFaceEmbedder(
        cfg.model_path,
        threads=threads,
        providers=list(cfg.providers),
        flip=cfg.flip,
        batch_size=cfg.batch_size,
    )


def _mobilefacenet(cfg: FaceEmbedderConfig, cache_dir: Path, threads: int) -> FaceEmbedder:
    from citywatch.vision.faces.mobilefacenet import mobilefacenet

    return mobilefacenet(
        cfg.model_path,
        threads=threads,
        providers=list(cfg.providers),
        flip=cfg.flip,
        batch_size=cfg.batch_size,
    )


def _fused(cfg: FaceEmbedderConfig, cache_dir: Path, threads: int) -> FaceEmbedder:
    from citywatch.vision.faces.fused import FusedEmbedder

    first = _dlib_onnx_embedder(cfg, cache_dir, threads)
    return FusedEmbedder(first, _mobilefacenet(cfg, cache_dir, threads), cfg.fuse_weight)


DETECTORS: Mapping[str, Callable[[FaceDetectorConfig, int], FaceDetector]] = MappingProxyType(
    {"yunet": _yunet, "dlib": _dlib_hog, "onnx-scrfd": _onnx_scrfd}
)
EMBEDDERS: Mapping[str, Callable[[FaceEmbedderConfig, Path, int], FaceEmbedder]] = MappingProxyType(
    {
        "dlib": _dlib_embedder,
        "dlib-onnx": _dlib_onnx_embedder,
        "onnx-arcface": _onnx_arcface,
        "mobilefacenet": _mobilefacenet,
        "fused": _fused,
    }
)


def model_id(cfg: FaceEmbedderConfig) -> str:
    """What a model card names: the network (dlib and dlib-onnx are the same network), the
    model file for ONNX models, and whether mirrored faces are averaged in."""
    if cfg.type in ("dlib", "dlib-onnx"):
        base = "dlib-resnet-v1"
    elif cfg.type == "mobilefacenet":
        base = f"mobilefacenet:{cfg.model_path.name if cfg.model_path else 'shipped'}"
    elif cfg.type == "fused":
        mfn = cfg.model_path.name if cfg.model_path else "shipped"
        base = f"fused:dlib-resnet-v1+mobilefacenet:{mfn}@{cfg.fuse_weight:g}"
    else:
        base = f"{cfg.type}:{cfg.model_path.name if cfg.model_path else '?'}"
    return base + ("+flip" if cfg.flip and cfg.type != "dlib" else "")


DLIB_TRAINING = (
    "dlib ResNet: about 3 million faces of about 7,485 people (dlib's own set from the "
    "VGG-Face and FaceScrub data and the web), per its author"
)
MFN_TRAINING = (
    "MobileFaceNet: a refined MS-Celeb-1M (3,804,846 faces of 85,164 people), per the "
    "foamliu/MobileFaceNet README; Microsoft withdrew MS-Celeb-1M in 2019 (collected from the "
    "web without the consent of the people shown)"
)


def training_data(cfg: FaceEmbedderConfig) -> str:
    """What the configured embedder was trained on, as its makers say (for the model card)."""
    if cfg.type in ("dlib", "dlib-onnx"):
        return DLIB_TRAINING
    if cfg.type == "mobilefacenet":
        return MFN_TRAINING
    if cfg.type == "fused":
        return f"{DLIB_TRAINING}; {MFN_TRAINING}"
    return "not known to citywatch (a model of one's own: see its source)"


def build_detector(cfg: FaceDetectorConfig, *, threads: int = 1) -> FaceDetector:
    """The detector ``cfg.type`` names; ``threads`` caps its inference threads.  It returns
    every face down to ``cfg.redact_min_score`` (blurred in evidence, tracked); the face stage
    gives those under ``cfg.min_score`` quality 0 (:func:`quality.score_quality`)."""
    factory = DETECTORS.get(cfg.type)
    if factory is None:
        raise FaceBackendError(
            f"unknown face detector type {cfg.type!r}; known: {', '.join(sorted(DETECTORS))}"
        )
    try:
        return factory(cfg, threads)
    except ImportError as err:
        raise _missing("detector", cfg.type, err) from err
    except (OSError, RuntimeError) as err:  # model file missing, unreadable or foreign
        raise FaceBackendError(f"face detector {cfg.type!r} could not be built: {err}") from err


def build_embedder(cfg: FaceEmbedderConfig, cache_dir: Path, *, threads: int = 1) -> FaceEmbedder:
    factory = EMBEDDERS.get(cfg.type)
    if factory is None:
        raise FaceBackendError(
            f"unknown face embedder type {cfg.type!r}; known: {', '.join(sorted(EMBEDDERS))}"
        )
    try:
        return factory(cfg, cache_dir, threads)
    except ImportError as err:
        raise _missing("embedder", cfg.type, err) from err
    except (OSError, ValueError, RuntimeError) as err:  # model file missing or unreadable
        raise FaceBackendError(f"face embedder {cfg.type!r} could not be built: {err}") from err


def build_landmarker() -> FaceLandmarker:
    """dlib's 5-point shape predictor (for detectors that give no points, and for
    ``yunet`` unless ``landmarks: detector``)."""
    try:
        from citywatch.vision.faces.dlib_backends import DlibLandmarker

        return DlibLandmarker()
    except ImportError as err:
        raise _missing("landmarker", "dlib", err) from err
    except FileNotFoundError as err:
        raise FaceBackendError(f"face landmarker 'dlib': {err}") from err
