"""Evidence snapshots and reference photos on disk.

File names are built from ids only (never from user input) and every path is resolved and
checked to lie under the media root, so a stored path cannot be used to reach other files.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from citywatch.files import atomic_write_bytes
from citywatch.vision.record import ImageBGR

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
JPEG_QUALITY = 90


class MediaError(ValueError):
    """A media path or image was refused; the message says which and why."""


class MediaStore:
    """Snapshots under ``root/<kind>/<id[:2]>/<id>.jpg``; paths handed out are relative."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"MediaStore({str(self.root)!r})"

    def save_snapshot(self, kind: str, event_id: str, image_bgr: ImageBGR) -> str:
        """Write ``image_bgr`` as JPEG atomically; return its path relative to the root."""
        if not _KIND.match(kind):
            raise MediaError(f"snapshot kind {kind!r}: lower-case letters, digits and _ only")
        if not _ID.match(event_id) or ".." in event_id:
            raise MediaError(f"snapshot id {event_id!r}: letters, digits, '.', '_', '-' only")
        if (
            not isinstance(image_bgr, np.ndarray)
            or image_bgr.ndim != 3
            or image_bgr.shape[2] != 3
            or image_bgr.dtype != np.uint8
            or image_bgr.shape[0] == 0
            or image_bgr.shape[1] == 0
        ):
            got = getattr(image_bgr, "shape", type(image_bgr).__name__)
            raise MediaError(f"snapshot {kind}/{event_id}: expected HxWx3 uint8 BGR, got {got}")
        rel = f"{kind}/{event_id[:2]}/{event_id}.jpg"
        target = self.path(rel)
        ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise MediaError(f"snapshot {rel}: JPEG encoding failed")
        atomic_write_bytes(target, buf.tobytes())
        return rel

    def path(self, rel: str) -> Path:
        """The absolute path of a stored file; refuses anything that would leave the root."""
        if not rel or "\x00" in rel or Path(rel).is_absolute():
            raise MediaError(f"media path {rel!r} refused: must be relative to the media root")
        full = (self.root / rel).resolve()
        if not full.is_relative_to(self.root) or full == self.root:
            raise MediaError(f"media path {rel!r} refused: it leaves the media root")
        return full

    def load(self, rel: str) -> ImageBGR:
        """Decode a stored snapshot (BGR)."""
        full = self.path(rel)
        if not full.is_file():
            raise MediaError(f"media file {rel!r} not found")
        data = np.frombuffer(full.read_bytes(), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if img is None:
            raise MediaError(f"media file {rel!r} is not a readable image")
        return np.asarray(img, dtype=np.uint8)

    def read_bytes(self, rel: str) -> bytes:
        """The stored file's bytes (for serving the JPEG as is)."""
        full = self.path(rel)
        if not full.is_file():
            raise MediaError(f"media file {rel!r} not found")
        return full.read_bytes()

    def delete(self, rel: str) -> bool:
        """Remove a stored file; ``False`` if it was not there."""
        full = self.path(rel)
        try:
            full.unlink()
        except FileNotFoundError:
            return False
        return True
