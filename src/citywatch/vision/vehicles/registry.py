"""Vehicle detectors by name: ``plates.vehicles.type`` picks the family, the file its weights.

A detector that cannot be built (missing file, a graph of the wrong shape or class count)
raises :class:`VehicleBackendError` naming it; :func:`build_describer_or_none` turns that into
a logged error and None, so that plates are still read, without vehicle attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType

from citywatch.config.vehicles import VehiclesConfig
from citywatch.vision.vehicles.base import VehicleDetector
from citywatch.vision.vehicles.describe import VehicleDescriber

log = logging.getLogger(__name__)


class VehicleBackendError(RuntimeError):
    """A vehicle detector could not be built: unknown name, missing or foreign model file."""


def _onnx_coco(cfg: VehiclesConfig) -> VehicleDetector:
    from citywatch.vision.vehicles.onnx_coco import OnnxCocoVehicleDetector

    return OnnxCocoVehicleDetector(
        cfg.type,
        cfg.model_path,
        min_score=cfg.min_score,
        nms_iou=cfg.nms_iou,
        threads=cfg.threads,
        providers=list(cfg.providers),
    )


DETECTORS: Mapping[str, Callable[[VehiclesConfig], VehicleDetector]] = MappingProxyType(
    {"picodet": _onnx_coco, "nanodet": _onnx_coco, "yolox": _onnx_coco}
)


def build_vehicle_detector(cfg: VehiclesConfig) -> VehicleDetector:
    factory = DETECTORS.get(cfg.type)
    if factory is None:
        raise VehicleBackendError(
            f"unknown vehicle detector type {cfg.type!r}; known: {', '.join(sorted(DETECTORS))}"
        )
    try:
        return factory(cfg)
    except ImportError as err:
        raise VehicleBackendError(
            f"vehicle detector {cfg.type!r} needs the Python package "
            f"{(err.name or str(err)).split('.')[0]!r}"
        ) from err
    except (OSError, ValueError, RuntimeError) as err:
        raise VehicleBackendError(f"vehicle detector {cfg.type!r}: {err}") from err


def build_describer_or_none(cfg: VehiclesConfig) -> VehicleDescriber | None:
    """The describer ``cfg`` asks for; None when it is switched off or cannot be built (the
    error is logged naming the file: plate reading goes on without vehicle attributes)."""
    if not cfg.enabled:
        return None
    try:
        return VehicleDescriber(build_vehicle_detector(cfg))
    except VehicleBackendError as err:
        log.error("%s; plates are read without vehicle type and colour", err)
        return None
