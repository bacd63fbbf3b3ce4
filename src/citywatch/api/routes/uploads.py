"""Uploads, bounded: photos (bytes, pixels, sniffed content) and CSV plate lists (bytes, lines).

Every upload is read in chunks up to its cap (413 beyond), photos must *be* JPEG or PNG by
their content (a PDF renamed ``.jpg`` is refused with 415) and are decoded by
:func:`citywatch.vision.images.decode_image`, which refuses decompression bombs before
decoding.  A client's file name never reaches the filesystem: it is reduced to a short, safe
label used only in messages and the audit log (stored files are named from ids).

The route here tells a client the limits, so a form can check before sending.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile, status
from pydantic import BaseModel

from citywatch.api.schemas import unprocessable
from citywatch.api.security import Permission, Principal, requires
from citywatch.services.enrolment import MAX_PHOTOS_PER_SUBJECT
from citywatch.vision.images import ImageError, decode_image, sniff
from citywatch.vision.record import ImageBGR

router = APIRouter(prefix="/uploads", tags=["uploads"])

CHUNK = 64 * 1024
PHOTO_KINDS = frozenset({"jpeg", "png"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Caps on what one request may upload (``app.state.upload_limits`` overrides them)."""

    photo_bytes: int = 10 * 1024 * 1024
    photo_pixels: int = 24_000_000
    photos_per_request: int = MAX_PHOTOS_PER_SUBJECT
    csv_bytes: int = 5 * 1024 * 1024
    csv_lines: int = 100_000


class UploadLimitsPublic(BaseModel):
    photo_bytes: int
    photo_pixels: int
    photos_per_request: int
    csv_bytes: int
    csv_lines: int
    photo_types: list[str]


def limits_of(request: Request) -> UploadLimits:
    limits = getattr(request.app.state, "upload_limits", None)
    return limits if isinstance(limits, UploadLimits) else UploadLimits()


def safe_label(filename: str | None, index: int, kind: str = "file") -> str:
    """``"photo 2 (face.jpg)"``: a label for messages and the audit log, never a path."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = _UNSAFE.sub("_", base).strip(" .")[:80]
    return f"{kind} {index} ({clean})" if clean else f"{kind} {index}"


def too_large(what: str, limit: int, unit: str = "bytes") -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"{what}: more than the limit of {limit} {unit}"
    )


async def read_capped(upload: UploadFile, max_bytes: int, what: str) -> bytes:
    """The upload's bytes; 413 as soon as it passes ``max_bytes`` (read in chunks)."""
    parts: list[bytes] = []
    seen = 0
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            break
        seen += len(chunk)
        if seen > max_bytes:
            raise too_large(what, max_bytes)
        parts.append(chunk)
    return b"".join(parts)


def decode_photo(data: bytes, label: str, limits: UploadLimits) -> ImageBGR:
    """A BGR image from JPEG/PNG bytes; 415 for other content, 422 when unusable."""
    if not data:
        raise unprocessable(["body", label], [f"{label}: the file is empty"], "upload")
    kind = sniff(data)
    if kind not in PHOTO_KINDS:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"{label}: not a JPEG or PNG image (the content was checked, not the file name)",
        )
    try:
        return decode_image(
            data, name=label, max_bytes=limits.photo_bytes, max_pixels=limits.photo_pixels
        )
    except ImageError as err:
        raise unprocessable(["body", label], [str(err)], "image") from None


def csv_lines(data: bytes, label: str, max_lines: int) -> list[str]:
    """The lines of a UTF-8 text upload; 413 beyond ``max_lines``, 422 when not text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unprocessable(["body", label], [f"{label}: not UTF-8 text"], "upload") from None
    if "\x00" in text:
        raise unprocessable(["body", label], [f"{label}: not a text file (NUL bytes)"], "upload")
    lines = text.splitlines()
    if len(lines) > max_lines:
        raise too_large(label, max_lines, "lines")
    return lines


@router.get("/limits", response_model=UploadLimitsPublic)
def upload_limits(
    request: Request,
    _principal: Annotated[Principal | None, Depends(requires(Permission.SELF))],
) -> UploadLimitsPublic:
    """What one upload may hold (for forms to check before sending)."""
    return UploadLimitsPublic(**asdict(limits_of(request)), photo_types=sorted(PHOTO_KINDS))
