"""Which vehicle holds a plate, and the vehicles of a frame with plates described.

:func:`holding` is the rule (pure): of the vehicle boxes that contain the plate's centre, the
one whose centre is nearest the plate's horizontally (a plate sits in the middle of its car's
front or back), ties to the smaller box.  :class:`VehicleDescriber` runs the detector once per
frame and names the body colour of each vehicle that holds a plate.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from citywatch.vision.record import Detections, ImageBGR, Vehicles
from citywatch.vision.vehicles.base import VehicleDetector
from citywatch.vision.vehicles.colour import name_colour

log = logging.getLogger(__name__)


def holding(vehicles: Vehicles, plate: npt.ArrayLike) -> int | None:
    """The index of the vehicle whose box holds ``plate`` (xyxy), or None."""
    if len(vehicles) == 0:
        return None
    x0, y0, x1, y1 = (float(v) for v in np.asarray(plate).reshape(4))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    b = vehicles.xyxy
    inside = np.flatnonzero((b[:, 0] <= cx) & (cx <= b[:, 2]) & (b[:, 1] <= cy) & (cy <= b[:, 3]))
    if len(inside) == 0:
        return None
    off = np.abs((b[inside, 0] + b[inside, 2]) / 2 - cx) / np.maximum(
        b[inside, 2] - b[inside, 0], 1e-6
    )
    area = (b[inside, 2] - b[inside, 0]) * (b[inside, 3] - b[inside, 1])
    order = np.lexsort((area, np.round(off, 2)))
    return int(inside[order[0]])


class VehicleDescriber:
    """The detector of one process plus the colour rule.  A detector that fails at run time
    (a file that loaded but answers with nonsense) is logged once and switched off: plates are
    still read, without vehicle attributes."""

    def __init__(self, detector: VehicleDetector) -> None:
        self.detector = detector
        self.failed: str | None = None

    def detect(self, image: ImageBGR) -> Vehicles:
        if self.failed is not None:
            return Vehicles.empty()
        try:
            return self.detector.detect(image)
        except Exception as err:  # a model that loaded but fails on frames: stop asking it
            self.failed = f"{type(err).__name__}: {err}"
            log.error(
                "vehicle detector %s failed (%s); plates are read without vehicle type and "
                "colour from now on",
                self.detector.name,
                self.failed,
            )
            return Vehicles.empty()

    def describe(
        self, image: ImageBGR, plates: Detections, vehicles: Vehicles | None = None
    ) -> Vehicles:
        """The frame's vehicles (``vehicles`` when already detected), each that holds one of
        ``plates`` with its body colour named."""
        found = self.detect(image) if vehicles is None else vehicles
        if len(found) == 0 or len(plates) == 0:
            return found
        colour = [""] * len(found)
        share = np.zeros(len(found), np.float32)
        for plate in plates.xyxy:
            j = holding(found, plate)
            if j is not None and not colour[j]:
                colour[j], share[j] = name_colour(image, found.xyxy[j], plate)
        return Vehicles(found.xyxy, found.score, found.kind, tuple(colour), share)
