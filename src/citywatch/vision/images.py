"""Loading still images (watchlist photos) safely: bounded bytes and pixels, sniffed content.

A PDF renamed ``.jpg``, a truncated file or a decompression bomb is refused with an error that
names the file and says what was wrong; nothing is half-loaded.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from citywatch.vision.record import ImageBGR

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

# Magic numbers of the formats we accept; anything else is refused before decoding.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"BM", "bmp"),
    (b"RIFF", "webp"),
)


class ImageError(ValueError):
    """An image could not be used; the message names the file."""


def sniff(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            if kind == "webp" and data[8:12] != b"WEBP":
                return None
            return kind
    return None


def _declared_pixels(data: bytes, kind: str) -> int | None:
    """Width x height from the header, read before decoding (decompression-bomb guard)."""
    if kind == "png" and len(data) >= 24:
        w = int.from_bytes(data[16:20], "big")
        h = int.from_bytes(data[20:24], "big")
        return w * h
    if kind == "jpeg":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD):
                h = int.from_bytes(data[i + 5 : i + 7], "big")
                w = int.from_bytes(data[i + 7 : i + 9], "big")
                return w * h
            seg = int.from_bytes(data[i + 2 : i + 4], "big")
            i += 2 + max(seg, 2)
    return None


def decode_image(
    data: bytes, *, name: str, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS
) -> ImageBGR:
    if len(data) > max_bytes:
        raise ImageError(f"{name}: {len(data)} bytes, more than the limit of {max_bytes}")
    kind = sniff(data)
    if kind is None:
        raise ImageError(f"{name}: not an image (expected JPEG, PNG, BMP or WebP content)")
    declared = _declared_pixels(data, kind)
    if declared is not None and declared > max_pixels:
        raise ImageError(f"{name}: {declared} pixels, more than the limit of {max_pixels}")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{name}: {kind} data is corrupt or truncated")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: {image.shape[1]}x{image.shape[0]} is more than {max_pixels} px")
    return np.ascontiguousarray(image, dtype=np.uint8)


def load_image(path: Path, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> ImageBGR:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None
    if size > max_bytes:
        raise ImageError(f"{path}: {size} bytes, more than the limit of {max_bytes}")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageError(f"{path}: cannot read ({err.strerror})") from None
    return decode_image(data, name=str(path), max_bytes=max_bytes, max_pixels=max_pixels)
