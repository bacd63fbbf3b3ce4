"""Retrospective scan of a camera's continuous recording for a case (issue 17).

``citywatch scan --camera ID --from T1 --to T2 --case REF`` runs the live pipeline
(:func:`citywatch.engine.scan.scan_videos`' machinery: ``build_pipeline`` and a
``CameraWorker`` per file) over the camera's complete recorded segments in the range.  What
each segment may be analysed for is decided as for live analysis **at the time it was
recorded** (:func:`plan_scan`): faces only under an authorisation that was live then and
covers the camera, with the watchlists bound to such authorisations (``load_gallery`` at the
segment's start); plates only when the camera's registration allowed plate reading then; the
hotlist is the store's current one.  A segment that may be analysed for nothing is skipped
and named.  Only the investigator's role (``recordings.view``) may scan, with a case
reference; the start (with every segment's decision) and the finish (with what was found)
are audited.  Like a scan of files, it stores no alert and no face: the alerts go to the
caller, each with its wall-clock time.

Each segment is its own pass of the pipeline: a track that crosses a segment boundary is
decided in each segment separately.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.config.camera import CameraConfig, Purpose
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.runtime import gallery_from
from citywatch.engine.scan import ScanReport, _Collector
from citywatch.engine.worker import CameraWorker
from citywatch.policy.register import camera_may_analyse
from citywatch.services.authorisations import face_recognition_decision
from citywatch.services.cameras import camera_facts
from citywatch.services.common import NotFoundError, unit_of_work
from citywatch.services.hotlists import hotlist_entries
from citywatch.services.playback import (
    case_reference,
    checked_range,
    range_details,
    require_viewer,
)
from citywatch.services.recordings import Segment, segments_in_range
from citywatch.services.watchlists import load_gallery
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.store.media import MediaError, MediaStore
from citywatch.store.models import CameraRow
from citywatch.vision.record import Frame


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """What one recorded segment may be analysed for, decided at its recording time."""

    segment: Segment
    path: Path
    faces: bool
    plates: bool
    reasons: tuple[str, ...]
    gallery: Gallery | None
    watchlists: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"segment {self.segment.id} ({self.segment.started_at:%Y-%m-%dT%H:%M:%SZ})"

    def audit(self) -> dict[str, Any]:
        return {
            "segment": self.segment.id,
            "started_at": self.segment.started_at,
            "faces": self.faces,
            "plates": self.plates,
            "watchlists": list(self.watchlists),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class RecordedScan:
    """A scan ready to run: the camera, the range, the case and every segment's plan."""

    camera: CameraConfig
    start: dt.datetime
    end: dt.datetime
    case_ref: str
    plans: list[SegmentPlan]
    hotlist: HotlistMatcher | None

    @property
    def needs_faces(self) -> bool:
        return any(p.faces for p in self.plans)

    @property
    def needs_plates(self) -> bool:
        return any(p.plates for p in self.plans)


def plan_segment(
    session: Session, camera_id: str, seg: Segment, path: Path, *, dim: Callable[[], int]
) -> SegmentPlan:
    """The live rules at ``seg.started_at``: may it be analysed for faces (and with which
    watchlists), for plates?  ``dim`` (the face embedder's size) is asked for only when faces
    may be analysed."""
    at = seg.started_at
    row = session.get(CameraRow, camera_id)
    if row is None:
        raise NotFoundError(f"camera {camera_id!r} does not exist")
    plates = camera_may_analyse(camera_facts(row), Purpose.PLATE.value, at)
    faces = face_recognition_decision(session, camera_id, at)
    data = load_gallery(session, camera_id, at, dim=dim()) if faces.allowed else None
    gallery = gallery_from(data) if data is not None and data.size else None
    reasons = (f"plates: {plates.reason}", f"faces: {data.reason if data else faces.reason}")
    return SegmentPlan(
        seg,
        path,
        faces=gallery is not None,
        plates=bool(plates.allowed),
        reasons=reasons,
        gallery=gallery,
        watchlists=tuple(sorted(set(data.watchlist_names))) if data is not None else (),
    )


def prepare_scan(
    session: Session,
    actor: Actor,
    media: MediaStore,
    config: CitywatchConfig,
    *,
    camera_id: str,
    start: dt.datetime,
    end: dt.datetime,
    case_ref: str,
    analyse_fps: float,
    dim: Callable[[], int],
) -> RecordedScan:
    """Check the role, case and range, plan every segment, and audit ``scan.start``."""
    ref = case_reference(case_ref)
    s, e = checked_range(start, end)
    details = range_details(camera_id, s, e)
    require_viewer(session, actor, "scan", camera_id, details, ref)
    segs = [x for x in segments_in_range(session, camera_id, s, e) if x.started_at < e]
    if not segs:
        session.rollback()
        raise NotFoundError(
            f"camera {camera_id!r} has no recording from {s.isoformat()} to {e.isoformat()}"
        )
    plans = []
    for seg in segs:
        try:
            path = media.path(seg.path)
        except MediaError as err:
            raise NotFoundError(f"segment {seg.id}: {err}") from None
        plans.append(plan_segment(session, camera_id, seg, path, dim=dim))
    entries = hotlist_entries(session) if any(p.plates for p in plans) else []
    hotlist = HotlistMatcher.configured(entries, config.plates) if entries else None
    known = {c.id: c for c in config.cameras}
    camera = known.get(camera_id) or CameraConfig(id=camera_id, url=SecretStr("recorded"))
    camera = camera.model_copy(update={"analyse_fps": analyse_fps, "loop": False})
    with unit_of_work(session):
        append(
            session,
            actor,
            "scan.start",
            f"case:{ref}",
            details={
                **details,
                "recorded": True,
                "segments": [p.audit() for p in plans],
                "hotlist_plates": len(entries),
            },
            reason=ref,
        )
    return RecordedScan(camera, s, e, ref, plans, hotlist)


def _overlaps(alert_first: dt.datetime, alert_last: dt.datetime, scan: RecordedScan) -> bool:
    return alert_last >= scan.start and alert_first < scan.end


def run_scan(
    scan: RecordedScan,
    config: CitywatchConfig,
    models: Models,
    report: ScanReport,
    *,
    on_frame: Callable[[SegmentPlan, Frame], None] | None = None,
) -> ScanReport:
    """Analyse each planned segment with the live pipeline under its own permissions; the
    alerts carry the wall-clock time of their first sighting, and those wholly outside the
    range (the first and last segment reach past it) are dropped."""
    for plan in scan.plans:
        if not plan.faces and not plan.plates:
            report.problems.append(f"{plan.label}: not analysed ({'; '.join(plan.reasons)})")
            continue
        perms = Permissions(faces=plan.faces, plates=plan.plates, reasons=plan.reasons)
        cam = scan.camera.model_copy(update={"url": SecretStr(str(plan.path))})
        pipeline = build_pipeline(cam, config, models, perms, plan.gallery, idle_search=False)
        found = ScanReport()
        collector = _Collector(plan.label, scan.hotlist if plan.plates else None, found)
        source = CameraSource(cam)

        def tick(frame: Frame, plan: SegmentPlan = plan) -> None:
            if on_frame is not None:
                on_frame(plan, frame)

        worker = CameraWorker(cam.id, source, pipeline, collector, live=False, on_frame=tick)
        try:
            stats = worker.run()
        except SourceError as err:
            report.unreadable[plan.label] = str(err)
            continue
        report.frames[plan.label] = stats.analysed
        if stats.analysed == 0:
            why = source.health.last_error or stats.last_error or "not one frame decoded"
            report.unreadable[plan.label] = why
        report.plate_reads += found.plate_reads
        report.faces_discarded += found.faces_discarded
        t0 = plan.segment.started_at
        for a in found.alerts:
            first = t0 + dt.timedelta(seconds=a.first_seen_s)
            last = t0 + dt.timedelta(seconds=a.last_seen_s)
            if _overlaps(first, last, scan):
                report.alerts.append(dataclasses.replace(a, seen_at=first))
    return report


def finish_scan(
    session: Session, actor: Actor, scan: RecordedScan, report: ScanReport
) -> dict[str, Any]:
    """Audit ``scan.finish`` with what was found; returns the summary."""
    summary: dict[str, Any] = {
        "camera_id": scan.camera.id,
        "from": scan.start,
        "to": scan.end,
        "alerts": len(report.alerts),
        "face_alerts": sum(a.kind == "face" for a in report.alerts),
        "plate_alerts": sum(a.kind == "plate" for a in report.alerts),
        "plate_reads": report.plate_reads,
        "faces_discarded": report.faces_discarded,
        "frames": report.frames,
        "problems": report.problems,
        "unreadable": report.unreadable,
    }
    with unit_of_work(session):
        append(
            session,
            actor,
            "scan.finish",
            f"case:{scan.case_ref}",
            details=summary,
            reason=scan.case_ref,
        )
    return summary
