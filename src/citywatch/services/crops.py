"""The matched face (or plate) of an alert, cut from its evidence snapshot at view time.

An alert keeps one snapshot (every other face already blurred) and the box of what it is
about; the crop is never stored: it is cut from that snapshot when a reviewer opens it, so it
lives exactly as long as the snapshot and shows nothing the snapshot does not.  Viewing it is
audited as viewing the alert (``alert.view``), as the snapshot is.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor
from citywatch.services.alerts import get_alert
from citywatch.services.common import NotFoundError
from citywatch.services.sightings import stored_box
from citywatch.store.media import MediaError, MediaStore
from citywatch.vision.record import ImageBGR

#: Context kept around the box, as a share of its width and height on each side: a face with
#: its hair and chin, a plate with a little of the car around it.
MARGINS: dict[str, tuple[float, float]] = {"face": (0.35, 0.35), "plate": (0.12, 0.5)}
#: The crop's longer side is enlarged to at least this many pixels (at most 4x): a 30 px
#: face is compared with the watchlist photo at a size a person can judge.
MIN_SIDE: dict[str, int] = {"face": 224, "plate": 320}
MAX_UPSCALE = 4.0
JPEG_QUALITY = 92

Box = tuple[float, float, float, float]


def crop_around(image: ImageBGR, box: Box, kind: str) -> ImageBGR:
    """The box of ``image`` grown by the kind's margins, clipped to the image, enlarged
    (bicubic) up to the kind's minimum side.  Raises ValueError when the box misses it."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box) or x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {box} is empty")
    mx, my = MARGINS.get(kind, (0.2, 0.2))
    bw, bh = x1 - x0, y1 - y0
    left, top = max(0, math.floor(x0 - mx * bw)), max(0, math.floor(y0 - my * bh))
    right, bottom = min(w, math.ceil(x1 + mx * bw)), min(h, math.ceil(y1 + my * bh))
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"box {box} lies outside the {w}x{h} snapshot")
    crop = image[top:bottom, left:right]
    scale = min(MAX_UPSCALE, MIN_SIDE.get(kind, 224) / max(crop.shape[:2]))
    if scale > 1.0:
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC), np.uint8)
    return np.ascontiguousarray(crop)


def alert_crop(session: Session, actor: Actor, media: MediaStore, alert_id: int) -> bytes:
    """The JPEG of an alert's face (or plate) crop, audited as a view of the alert.

    Raises :class:`NotFoundError` naming why there is none: no snapshot, no box stored (an
    alert from before boxes were kept), or a snapshot that cannot be read."""
    row = get_alert(session, actor, alert_id)  # audited: alert.view
    if not row.snapshot_path:
        raise NotFoundError(f"alert {alert_id} has no snapshot to cut a crop from")
    box = stored_box(row)
    if box is None:
        raise NotFoundError(f"alert {alert_id}: the box of its {row.kind} was not stored")
    try:
        image = media.load(row.snapshot_path)
    except (MediaError, OSError):
        raise NotFoundError(f"alert {alert_id}: the snapshot is not available") from None
    try:
        crop = crop_around(image, box, row.kind)
    except ValueError as err:
        raise NotFoundError(f"alert {alert_id}: {err}") from None
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any HxWx3 uint8 image
        raise NotFoundError(f"alert {alert_id}: the crop could not be encoded")
    return bytes(buf.tobytes())
