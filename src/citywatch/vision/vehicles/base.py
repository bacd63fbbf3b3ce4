"""The vehicle detector contract and the COCO classes it reports.

A :class:`VehicleDetector` turns one BGR frame into :class:`~citywatch.vision.record.Vehicles`
(boxes, scores, kinds; no colour yet).  Back ends convert their network's output at the edge;
nothing downstream imports onnxruntime.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from citywatch.vision.record import ImageBGR, Vehicles

#: Vehicle kinds a read can carry, in the order the docs and the console show them.
KINDS: tuple[str, ...] = ("car", "truck", "bus", "motorcycle")
#: COCO-80 class index (0-based, as the 80-way heads order them) -> vehicle kind.  COCO's
#: "truck" covers vans and pickups as well as lorries.
COCO_VEHICLES: Mapping[int, str] = MappingProxyType(
    {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
)
COCO_CLASSES = 80


@runtime_checkable
class VehicleDetector(Protocol):
    name: str

    def detect(self, image: ImageBGR) -> Vehicles:
        """Vehicles in ``image`` (full-frame xyxy boxes), best score first."""
        ...
