"""Pascal VOC annotations (the Romanian dashcam set's plate boxes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

Box = tuple[float, float, float, float]


def voc_boxes(xml: Path) -> list[Box]:
    """The boxes (xmin, ymin, xmax, ymax, pixels) of every object in one VOC file."""
    root = ET.parse(xml).getroot()  # noqa: S314 (a fetched data set's own files)
    out: list[Box] = []
    for obj in root.iter("object"):
        b = obj.find("bndbox")
        if b is None:
            continue
        x0, y0, x1, y1 = (float(b.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax"))
        out.append((x0, y0, x1, y1))
    return out
