"""Evidence snapshots and reference photos on disk.

File names are built from ids only (never from user input) and every path is resolved and
checked to lie under the media root, so a stored path cannot be used to reach other files.

A snapshot that belongs to a database row is written in two steps: :meth:`MediaStore.stage`
writes it under a temporary name beside its place (``.<name>.<random>.pending``) before the
row's transaction commits, so a full or read-only folder is known while the row can still say
so; :meth:`MediaStore.publish` renames it into place after the commit, and
:meth:`MediaStore.discard` removes it when the transaction does not commit.  A process killed
in between leaves only a ``.pending`` file, which the retention job's orphan sweep removes (or
moves into place when a committed row names it).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from citywatch.vision.record import ImageBGR

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
JPEG_QUALITY = 90
PENDING_SUFFIX = ".pending"
#: Temporary files of the one-step writes (:func:`citywatch.files.atomic_write_bytes`).
TEMP_SUFFIX = ".tmp"


class MediaError(ValueError):
    """A media path or image was refused; the message says which and why."""


class MediaWriteError(OSError):
    """A file could not be written into the media folder (disk full, read-only file system,
    no permission).  ``reason`` says why in words, e.g. ``No space left on device (ENOSPC)``."""

    def __init__(self, root: Path, rel: str, cause: OSError) -> None:
        self.rel = rel
        self.reason = describe_os_error(cause)
        super().__init__(cause.errno, f"media folder {root}: {rel} not written: {self.reason}")


def describe_os_error(err: OSError) -> str:
    """``No space left on device (ENOSPC)``: the system's words and the code's name, without
    the file name (the caller says where)."""
    words = err.strerror or type(err).__name__
    code = errno.errorcode.get(err.errno or 0, "")
    return f"{words} ({code})" if code else words


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A snapshot written under a temporary name; ``rel`` is where it goes on publish."""

    rel: str
    temp: Path


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file found under the media root (see :meth:`MediaStore.files`)."""

    rel: str
    mtime: float
    #: for a staged file: the ``rel`` it would be published as; ``None`` for a placed file
    pending_for: str | None = None
    #: a leftover of a one-step write (``.tmp``): never referenced, never published
    temporary: bool = False


class MediaStore:
    """Snapshots under ``root/<kind>/<id[:2]>/<id>.jpg``; paths handed out are relative."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"MediaStore({str(self.root)!r})"

    # ------------------------------------------------------------------ writing

    def _encode(self, kind: str, event_id: str, image_bgr: ImageBGR) -> tuple[str, bytes]:
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
        ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise MediaError(f"snapshot {rel}: JPEG encoding failed")
        return rel, buf.tobytes()

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` into the (new, empty) file ``path`` and make it durable: the one
        place bytes reach the disk (tests replace it to play a full or read-only folder)."""
        with path.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def stage(self, kind: str, event_id: str, image_bgr: ImageBGR) -> StagedFile:
        """Encode and write the snapshot under a temporary name beside its place.

        Raises :class:`MediaError` for a refused id or image, :class:`MediaWriteError` when
        the folder cannot take the file (nothing is left behind then)."""
        rel, data = self._encode(kind, event_id, image_bgr)
        return self._stage_data(rel, data)

    def stage_clip(self, kind: str, event_id: str, data: bytes) -> StagedFile:
        """Stage an encoded MP4 clip as ``<kind>/<id[:2]>/<id>.mp4`` (see :meth:`stage`)."""
        if not _KIND.match(kind):
            raise MediaError(f"clip kind {kind!r}: lower-case letters, digits and _ only")
        if not _ID.match(event_id) or ".." in event_id:
            raise MediaError(f"clip id {event_id!r}: letters, digits, '.', '_', '-' only")
        if not data:
            raise MediaError(f"clip {kind}/{event_id}: no data")
        return self._stage_data(f"{kind}/{event_id[:2]}/{event_id}.mp4", data)

    def _stage_data(self, rel: str, data: bytes) -> StagedFile:
        target = self.path(rel)
        temp: Path | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=PENDING_SUFFIX, dir=target.parent
            )
            os.close(fd)
            temp = Path(name)
            self._write(temp, data)
        except OSError as err:
            if temp is not None:
                temp.unlink(missing_ok=True)
            raise MediaWriteError(self.root, rel, err) from err
        return StagedFile(rel, temp)

    def publish(self, staged: StagedFile) -> str:
        """Move a staged snapshot into place (after its row committed); returns its path."""
        try:
            os.replace(staged.temp, self.path(staged.rel))
        except OSError as err:
            raise MediaWriteError(self.root, staged.rel, err) from err
        return staged.rel

    def discard(self, staged: StagedFile) -> bool:
        """Remove a staged snapshot whose row did not commit; ``False`` if it could not be
        removed (the orphan sweep will)."""
        try:
            staged.temp.unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def save_snapshot(self, kind: str, event_id: str, image_bgr: ImageBGR) -> str:
        """Write ``image_bgr`` as JPEG atomically; return its path relative to the root."""
        return self.publish(self.stage(kind, event_id, image_bgr))

    # ------------------------------------------------------------------ reading

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

    def files(self, kind: str) -> Iterator[StoredFile]:
        """Every regular file under ``root/<kind>/`` (symbolic links are not followed),
        placed and staged alike; a folder that cannot be listed is skipped."""
        if not _KIND.match(kind):
            raise MediaError(f"media kind {kind!r}: lower-case letters, digits and _ only")
        stack = [self.root / kind]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    mtime = entry.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
                rel = Path(entry.path).relative_to(self.root).as_posix()
                yield StoredFile(
                    rel,
                    mtime,
                    pending_for=_pending_target(rel),
                    temporary=entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX),
                )

    def delete(self, rel: str) -> bool:
        """Remove a stored file; ``False`` if it was not there."""
        full = self.path(rel)
        try:
            full.unlink()
        except FileNotFoundError:
            return False
        return True


def _pending_target(rel: str) -> str | None:
    """``face/ab/.abc.jpg.x1y2z3.pending`` -> ``face/ab/abc.jpg``; ``None`` for other names."""
    folder, _, name = rel.rpartition("/")
    if not (name.startswith(".") and name.endswith(PENDING_SUFFIX)):
        return None
    stem = name[1 : -len(PENDING_SUFFIX)].rpartition(".")[0]
    if not stem:
        return None
    return f"{folder}/{stem}" if folder else stem
