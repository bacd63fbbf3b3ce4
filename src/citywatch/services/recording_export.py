"""Signed evidence exports of a camera's recording for a case (issue 17).

:func:`export_recording` checks the role (``recordings.view``, audited when refused), the case
reference and the range (:mod:`citywatch.services.playback`), checks every source segment
against the size and SHA-256 the store recorded when it was finished (a segment changed on
disk since is refused, audited, and never exported), cuts the range by stream copy
(:func:`citywatch.sources.remux.remux_range`: no re-encode, masked cameras store masked
segments), and writes the signed export (:mod:`citywatch.audit.evidence_export`).  The export
is moved into place and then audited (``recording.export``: camera, range, case, files and
their SHA-256, the signing key id); when the audit entry cannot be written the export is
deleted again, so no footage leaves without its entry.

:func:`export_files` is the same without the store: the footage from a plain list of files
(what tests and tools without a database use).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append, iso_utc
from citywatch.audit.evidence_export import (
    EvidenceExportError,
    ExportBuilder,
    ExportFacts,
    ExportResult,
    file_sha256,
)
from citywatch.audit.keys import AuditKey
from citywatch.services.access_requests import refuse
from citywatch.services.common import NotFoundError, ServiceError, now_or, unit_of_work
from citywatch.services.playback import (
    case_reference,
    checked_range,
    range_details,
    require_viewer,
)
from citywatch.services.recordings import Segment, segments_in_range
from citywatch.sources.remux import RemuxError, RemuxPart, SegmentFile, remux_range
from citywatch.store.media import MediaError, MediaStore

log = logging.getLogger(__name__)


class ExportFailed(ServiceError):
    """The export could not be made (nothing was left behind); the message says why."""


def _part_json(part: RemuxPart, name: str) -> dict[str, Any]:
    return {
        "path": name,
        "first_picture_at": iso_utc(part.first_at),
        "last_picture_at": iso_utc(part.last_at),
        "pictures": part.packets,
        "codec": part.codec,
        "width": part.width,
        "height": part.height,
    }


def export_files(
    segments: Sequence[SegmentFile],
    out: Path,
    key: AuditKey,
    *,
    camera_id: str,
    camera_name: str,
    start: dt.datetime,
    end: dt.datetime,
    case_ref: str,
    actor: Actor,
    sources: list[dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> ExportResult:
    """Cut ``[start, end)`` out of ``segments`` into a signed export at ``out`` (a folder, or
    a zip when it ends in ``.zip``).  Not audited: :func:`export_recording` is."""
    parts_json: list[dict[str, Any]] = []
    try:
        with ExportBuilder(out, key) as builder:
            names: list[str] = []

            def name_of(n: int) -> Path:
                names.append(f"recording-{n + 1:02d}.mp4")
                return builder.path(names[-1])

            parts = remux_range(segments, start, end, name_of)
            if not parts:
                raise NotFoundError(
                    f"camera {camera_id!r} has no recorded pictures from {start.isoformat()} "
                    f"to {end.isoformat()}"
                )
            for part in parts:
                name = part.path.name
                builder.add(name)
                parts_json.append(_part_json(part, name))
            facts = ExportFacts(
                camera_id=camera_id,
                camera_name=camera_name,
                start=start,
                end=end,
                case_ref=case_ref,
                actor=actor,
                exported_at=now_or(now),
                sources=[*(sources or []), *({"part": p} for p in parts_json)],
            )
            return builder.finish(facts)
    except (RemuxError, EvidenceExportError) as err:
        raise ExportFailed(f"export of camera {camera_id!r}: {err}") from None
    except OSError as err:
        raise ExportFailed(f"export of camera {camera_id!r}: cannot write {out}: {err}") from None


def _segment_files(
    session: Session, actor: Actor, media: MediaStore, segs: Sequence[Segment], ref: str
) -> tuple[list[SegmentFile], list[dict[str, Any]]]:
    """The segments' files, each checked against the size and SHA-256 stored when it was
    finished; a mismatch is refused and audited (``recording.segment_altered``)."""
    files: list[SegmentFile] = []
    sources: list[dict[str, Any]] = []
    for seg in segs:
        try:
            path = media.path(seg.path)
            size, sha = file_sha256(path)
        except (MediaError, OSError) as err:
            raise ExportFailed(f"segment {seg.id} ({seg.path}) cannot be read: {err}") from None
        if seg.sha256 is not None and (sha != seg.sha256 or size != seg.bytes):
            raise refuse(
                session,
                actor,
                "recording.segment_altered",
                f"camera:{seg.camera_id}",
                f"segment {seg.id} ({seg.path}) is not the file that was recorded: its "
                f"SHA-256 or size changed since; it is not exported",
                details={"segment_id": seg.id, "stored_sha256": seg.sha256, "found_sha256": sha},
                reason=ref,
            )
        files.append(SegmentFile(path, seg.started_at, seg.ended_at, f"segment {seg.id}"))
        sources.append(
            {
                "segment": seg.id,
                "file": seg.path,
                "started_at": iso_utc(seg.started_at),
                "ended_at": iso_utc(seg.ended_at) if seg.ended_at else None,
                "bytes": size,
                "sha256": sha,
            }
        )
    return files, sources


def export_recording(
    session: Session,
    actor: Actor,
    media: MediaStore,
    key: AuditKey,
    *,
    camera_id: str,
    start: dt.datetime,
    end: dt.datetime,
    case_ref: str,
    out: Path,
    now: dt.datetime | None = None,
) -> ExportResult:
    """A signed export of ``camera_id``'s recording of ``[start, end)`` at ``out``, audited."""
    ref = case_reference(case_ref)
    s, e = checked_range(start, end)
    details = range_details(camera_id, s, e)
    camera = require_viewer(session, actor, "export", camera_id, details, ref)
    segs = [x for x in segments_in_range(session, camera_id, s, e) if x.started_at < e]
    session.rollback()  # no read transaction held while the files are cut
    if not segs:
        raise NotFoundError(
            f"camera {camera_id!r} has no recording from {s.isoformat()} to {e.isoformat()}"
        )
    files, sources = _segment_files(session, actor, media, segs, ref)
    result = export_files(
        files,
        out,
        key,
        camera_id=camera_id,
        camera_name=camera.name,
        start=s,
        end=e,
        case_ref=ref,
        actor=actor,
        sources=sources,
        now=now,
    )
    try:
        with unit_of_work(session):
            append(
                session,
                actor,
                "recording.export",
                f"camera:{camera_id}",
                details={
                    **details,
                    "out": str(result.path),
                    "segments": [x.id for x in segs],
                    "files": result.files,
                    "key_id": result.manifest["signature"]["key_id"],
                },
                reason=ref,
            )
    except BaseException:
        log.error("export of camera %s not audited: deleting %s", camera_id, result.path)
        if result.path.is_dir():
            shutil.rmtree(result.path, ignore_errors=True)
        else:
            result.path.unlink(missing_ok=True)
        raise
    return result
