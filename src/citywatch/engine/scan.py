"""Evidence review: run the live pipeline over recorded footage for one case.

A scan is an investigation: it needs a case reference, and an audit entry names the case, the
files, the watchlist folder and what was found.  The watchlist photos are embedded in memory
for the scan only; nothing biometric is stored, and the alerts are returned to the caller
(the CLI prints them), not written to the alert table.  The hotlist is a plate file or a
stored hotlist, whose plates are read under the case.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.decisions.types import FaceMatch, PlateRead, Sighting
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.platform import make_embed_faces
from citywatch.engine.worker import CameraWorker
from citywatch.services.common import NotFoundError
from citywatch.services.hotlists import list_plates
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.vision.images import IMAGE_SUFFIXES, ImageError, load_image
from citywatch.vision.plates.formats import plate_key
from citywatch.vision.record import Frame

log = logging.getLogger(__name__)


class ScanError(ValueError):
    """The scan cannot start; the message says what and where."""


@dataclass(frozen=True, slots=True)
class ScanAlert:
    kind: str  # "face" | "plate"
    source: str
    track_id: int
    score: float
    first_seen_s: float
    last_seen_s: float
    subject: str | None = None
    plate: str | None = None
    read: str | None = None
    distance: int | None = None
    seen_at: dt.datetime | None = None  # wall-clock time of the first sighting (recordings)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "source": self.source,
            "score": round(self.score, 4),
            "first_seen_s": round(self.first_seen_s, 2),
            "last_seen_s": round(self.last_seen_s, 2),
            "track_id": self.track_id,
        }
        if self.seen_at is not None:
            out["seen_at"] = self.seen_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        if self.kind == "face":
            out["subject"] = self.subject
            out["status"] = "possible match (pending review)"
        else:
            out.update(plate=self.plate, read=self.read, distance=self.distance)
        return out


@dataclass
class ScanReport:
    alerts: list[ScanAlert] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # bad photos, videos read only in part
    #: video -> why not one frame of it could be read (empty file, not a video, MP4 without
    #: its index): an error of the scan, not a warning
    unreadable: dict[str, str] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)  # analysed per video
    plate_reads: int = 0  # track-level reads (counted, not reported unless on the hotlist)
    faces_discarded: int = 0


def watchlist_people(folder: Path, report: ScanReport) -> list[tuple[str, list[Path]]]:
    """The people of a watchlist folder and their photos: a loose photo is a person named
    after its file (``photos/jane-doe.jpg``), a sub-folder a person with one or more photos
    (``photos/jane-doe/1.jpg``); both may be used at once (the same name is one person)."""
    if not folder.is_dir():
        raise ScanError(f"watchlist folder {folder} does not exist")
    suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
    people: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            photos = [p for p in sorted(entry.iterdir()) if p.is_file()]
            people.setdefault(entry.name, []).extend(photos)
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            people.setdefault(entry.stem, []).append(entry)
        elif entry.is_file():
            report.problems.append(f"{entry}: not a photo ({suffixes}), skipped")
    if not people:
        raise ScanError(
            f"watchlist folder {folder} holds no photos: put in one photo per person named "
            f"after them ({folder / 'jane-doe.jpg'}) or a folder of photos per person "
            f"({folder / 'jane-doe' / '1.jpg'})"
        )
    return sorted(people.items())


def load_watchlist_dir(
    folder: Path, models: Models, config: CitywatchConfig, report: ScanReport
) -> Gallery:
    """The gallery of a watchlist folder (:func:`watchlist_people`).  A photo that is not an
    image, or shows no face or several faces, is reported and skipped; it does not stop the
    scan."""
    people = watchlist_people(folder, report)
    embed = make_embed_faces(models, config)
    rows: list[np.ndarray] = []
    ids: list[int] = []
    names: list[str] = []
    for sid, (person, photos) in enumerate(people, start=1):
        found = 0
        for photo in photos:
            try:
                image = load_image(photo)
            except ImageError as err:
                report.problems.append(str(err))
                continue
            emb = embed(image)
            if len(emb) != 1:
                report.problems.append(
                    f"{photo}: {len(emb)} faces found, a watchlist photo must show exactly one"
                )
                continue
            rows.append(emb[0])
            ids.append(sid)
            names.append(person)
            found += 1
        if not found:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            report.problems.append(
                f"{folder / person}: no usable photo of {person!r} ({suffixes} with one face)"
            )
    if not rows:
        return Gallery.empty(models.embedder.dim)
    return Gallery.build(np.stack(rows), ids, names, np.zeros(len(ids), np.int64))


def load_hotlist_file(path: Path, config: CitywatchConfig) -> tuple[HotlistMatcher, int]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ScanError(f"hotlist file {path}: cannot read ({err})") from None
    entries = []
    for n, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not plate_key(text):
            raise ScanError(f"hotlist file {path}, line {n}: {text!r} is not a plate")
        entries.append((n, 0, text))
    return HotlistMatcher.configured(entries, config.plates), len(entries)


def load_stored_hotlist(
    sessions: sessionmaker[Session], actor: Actor, name: str, case: str, config: CitywatchConfig
) -> tuple[HotlistMatcher, int]:
    """The stored hotlist ``name`` as a matcher, its plates read under ``case`` (audited as
    ``hotlist.view`` with the case as the reason)."""
    with sessions() as session:
        try:
            rows = list_plates(session, actor, name, reason=case)
        except NotFoundError:
            raise ScanError(
                f"hotlist {name!r}: no such file, and no hotlist of that name in the store "
                "(citywatch hotlists list shows them)"
            ) from None
        entries = [(r.id, r.hotlist_id, r.plate) for r in rows]
    return HotlistMatcher.configured(entries, config.plates), len(entries)


class _Collector:
    def __init__(self, source: str, hotlist: HotlistMatcher | None, report: ScanReport) -> None:
        self.source, self.hotlist, self.report = source, hotlist, report

    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        for s in sightings:
            if isinstance(s, FaceMatch):
                self.report.alerts.append(
                    ScanAlert(
                        "face",
                        self.source,
                        s.track_id,
                        s.score,
                        s.first_seen_s,
                        s.last_seen_s,
                        subject=s.subject_name,
                    )
                )
            elif isinstance(s, PlateRead):
                self.report.plate_reads += 1
                hit = self.hotlist.match(s.text) if self.hotlist is not None else None
                if hit is not None:
                    self.report.alerts.append(
                        ScanAlert(
                            "plate",
                            self.source,
                            s.track_id,
                            s.confidence,
                            s.first_seen_s,
                            s.last_seen_s,
                            plate=hit.entry,
                            read=s.text,
                            distance=hit.distance,
                        )
                    )
            else:
                self.report.faces_discarded += s.tracks


def scan_videos(
    videos: Sequence[Path],
    gallery: Gallery | None,
    hotlist: HotlistMatcher | None,
    config: CitywatchConfig,
    models: Models,
    report: ScanReport,
    *,
    analyse_fps: float = 5.0,
    on_frame: Callable[[Path, Frame], None] | None = None,
) -> ScanReport:
    """Analyse each video in turn with the live pipeline (motion gate, trackers, track-level
    decisions).  A video of which no frame could be read goes into ``report.unreadable``, one
    read only in part into ``report.problems``; either way the next one is scanned."""
    perms = Permissions(
        faces=gallery is not None and len(gallery) > 0,
        plates=hotlist is not None,
        reasons=("scan under a case reference",),
    )
    for i, video in enumerate(videos):
        cam = CameraConfig(id=f"scan-{i}", url=SecretStr(str(video)), analyse_fps=analyse_fps)
        pipeline = build_pipeline(cam, config, models, perms, gallery, idle_search=False)
        collector = _Collector(str(video), hotlist, report)
        source = CameraSource(cam)

        def tick(frame: Frame, video: Path = video) -> None:
            if on_frame is not None:
                on_frame(video, frame)

        worker = CameraWorker(cam.id, source, pipeline, collector, live=False, on_frame=tick)
        try:
            stats = worker.run()
        except SourceError as err:
            report.unreadable[str(video)] = str(err)
            continue
        report.frames[str(video)] = stats.analysed
        error = source.health.last_error or stats.last_error
        if stats.analysed == 0:
            report.unreadable[str(video)] = error or "not one frame could be decoded"
        elif error:
            report.problems.append(f"{video}: {error}")
    return report
