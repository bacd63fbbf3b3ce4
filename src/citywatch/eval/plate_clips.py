"""`citywatch eval plate-clips`: hotlist alerts on video clips, through the live pipeline.

Every true plate of the ground truth (a CSV with at least the columns ``clip`` and ``plate``;
a clip may have several rows, other columns are ignored) goes on one hotlist.  Each clip then
runs through the code a live camera runs: :func:`~citywatch.engine.assemble.build_pipeline`
(motion gate, plate stage, plate tracker, track voter with early reports) driven by a
:class:`~citywatch.engine.worker.CameraWorker` over the file, and every track-level
:class:`PlateRead` goes through the :class:`HotlistMatcher` the configuration describes.

* ``clip_hit_rate``: share of (clip, true plate) pairs alerted in that clip.
* ``false_alerts``: alerts in a clip for a hotlist plate that is not in that clip.
* ``held_back``: hotlist hits whose voted confidence is under ``alerts.plate_min_confidence``
  (the live recorder stores such a read but raises no alert; they count as neither).
* ``ms_per_frame``: mean time of the motion gate plus the plate stage per analysed frame;
  ``ms_per_moving_frame`` the same over frames where the gate saw motion, and
  ``ms_per_warmup_frame`` over the gate's first frames of each clip, which have no
  background model yet and are searched whole (a live camera has them once, at its start;
  these clips, 15 frames each at 5 fps, have them 3 times in 15);
  ``wall_ms_per_frame`` everything (decoding, voting, evidence redaction) per analysed frame.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.decisions.types import PlateRead, Sighting
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.pipeline import CameraPipeline
from citywatch.engine.worker import CameraWorker
from citywatch.eval.common import Metrics
from citywatch.eval.plates import TruthError
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.vision.plates.formats import plate_key
from citywatch.vision.record import Frame, FrameRecord


@dataclass(frozen=True, slots=True)
class ClipTruth:
    clip: str  # file name inside the clips folder
    plates: tuple[str, ...]  # as written in the CSV


def load_clip_truth(path: Path) -> list[ClipTruth]:
    """Clips and their plates from a ``clip,plate[,...]`` CSV, in file order."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            missing = {"clip", "plate"} - set(fields)
            if missing:
                raise TruthError(
                    f"ground truth {path}: needs the columns clip and plate, "
                    f"missing {', '.join(sorted(missing))} (has {', '.join(fields) or 'none'})"
                )
            rows = list(reader)
    except (OSError, UnicodeDecodeError) as err:
        raise TruthError(f"ground truth {path}: cannot read ({err})") from None
    plates: dict[str, list[str]] = {}
    for n, row in enumerate(rows, start=2):
        clip, plate = (row.get("clip") or "").strip(), (row.get("plate") or "").strip()
        if not clip or not plate_key(plate):
            raise TruthError(f"ground truth {path}, line {n}: needs a clip and a plate")
        have = plates.setdefault(clip, [])
        if plate not in have:
            have.append(plate)
    if not plates:
        raise TruthError(f"ground truth {path}: no rows")
    return [ClipTruth(clip, tuple(p)) for clip, p in plates.items()]


@dataclass(frozen=True, slots=True)
class ClipOutcome:
    clip: str
    truth: tuple[str, ...]
    hits: tuple[str, ...]  # true plates alerted
    false_alerts: tuple[str, ...]  # hotlist plates alerted that are not in the clip
    reads: tuple[str, ...]  # every track-level read, alerted or not
    frames: int
    moving_frames: int
    stage_ms: float  # motion gate + plate stage, summed over the clip
    moving_ms: float  # the same, over frames with motion
    warmup_frames: int  # the motion gate's first frames: no background yet, searched whole
    warmup_ms: float
    wall_ms: float
    problem: str = ""
    held_back: tuple[str, ...] = ()  # hotlist hits under alerts.plate_min_confidence
    confidences: tuple[float, ...] = ()  # each read's voted confidence, as ``reads``


@dataclass
class ClipReport:
    outcomes: list[ClipOutcome] = field(default_factory=list)

    def metrics(self, name: str = "") -> Metrics:
        pairs = sum(len(o.truth) for o in self.outcomes)
        if pairs == 0:
            raise ValueError("no clips were evaluated")
        frames = sum(o.frames for o in self.outcomes)
        moving = sum(o.moving_frames for o in self.outcomes)
        out: Metrics = {}
        if name:
            out["data_set"] = name
        out["clips"] = len(self.outcomes)
        out["plates"] = pairs
        out["clip_hit_rate"] = sum(len(o.hits) for o in self.outcomes) / pairs
        out["false_alerts"] = sum(len(o.false_alerts) for o in self.outcomes)
        out["held_back"] = sum(len(o.held_back) for o in self.outcomes)
        out["ms_per_frame"] = sum(o.stage_ms for o in self.outcomes) / max(1, frames)
        out["ms_per_moving_frame"] = sum(o.moving_ms for o in self.outcomes) / max(1, moving)
        warmup = sum(o.warmup_frames for o in self.outcomes)
        out["ms_per_warmup_frame"] = sum(o.warmup_ms for o in self.outcomes) / max(1, warmup)
        out["wall_ms_per_frame"] = sum(o.wall_ms for o in self.outcomes) / max(1, frames)
        out["frames"] = frames
        out["moving_frames"] = moving
        out["warmup_frames"] = warmup
        out["track_reads"] = sum(len(o.reads) for o in self.outcomes)
        out["problems"] = sum(bool(o.problem) for o in self.outcomes)
        return out


class _Observed:
    """The pipeline as the worker sees it, with each frame's stage timings noted (the frame
    record is the pipeline's own; nothing is changed)."""

    def __init__(self, pipeline: CameraPipeline) -> None:
        self.pipeline = pipeline
        self.frames = self.moving = self.warmup = 0
        self.stage_ms = self.moving_ms = self.warmup_ms = 0.0

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        record, sightings = self.pipeline.process(frame)
        ms = record.timings_ms.get("motion", 0.0) + record.timings_ms.get("plates", 0.0)
        self.frames += 1
        self.stage_ms += ms
        if record.motion is not None and record.motion.warmup:
            self.warmup += 1
            self.warmup_ms += ms
        elif record.motion is None or record.motion.moving:
            self.moving += 1
            self.moving_ms += ms
        return record, sightings

    def flush(self) -> list[Sighting]:
        return self.pipeline.flush()


class _Reads:
    """Sink of one clip's worker: keeps the track-level plate reads."""

    def __init__(self) -> None:
        self.reads: list[PlateRead] = []

    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        self.reads.extend(s for s in sightings if isinstance(s, PlateRead))


def hotlist_for(truth: Sequence[ClipTruth], config: CitywatchConfig) -> HotlistMatcher:
    """Every true plate on one hotlist, matched as the configuration says."""
    plates = sorted({plate_key(p) for ct in truth for p in ct.plates})
    return HotlistMatcher.configured(
        [(i, 0, p) for i, p in enumerate(plates, start=1)], config.plates
    )


def run_clip(
    video: Path,
    truth: ClipTruth,
    hotlist: HotlistMatcher,
    config: CitywatchConfig,
    models: Models,
    *,
    analyse_fps: float = 5.0,
    on_frame: Callable[[Frame], None] | None = None,
) -> ClipOutcome:
    """One clip through the live pipeline; its alerts scored against its true plates."""
    cam = CameraConfig(id="eval-clip", url=SecretStr(str(video)), analyse_fps=analyse_fps)
    perms = Permissions(faces=False, plates=True, reasons=("evaluation on labelled clips",))
    pipeline = _Observed(build_pipeline(cam, config, models, perms, gallery=None))
    sink = _Reads()
    t0 = time.perf_counter()
    problem = ""
    try:
        source = CameraSource(cam)
        worker = CameraWorker(cam.id, source, pipeline, sink, live=False, on_frame=on_frame)
        stats = worker.run()
        problem = source.health.last_error or stats.last_error
    except SourceError as err:
        problem = str(err)
    wall = (time.perf_counter() - t0) * 1000.0
    keys = {plate_key(p) for p in truth.plates}
    hits: set[str] = set()
    false: list[str] = []
    held: list[str] = []
    for read in sink.reads:
        hit = hotlist.match(read.text)
        if hit is None:
            continue
        if read.confidence < config.alerts.plate_min_confidence:
            held.append(hit.entry)  # stored by the live recorder, alerts nobody
        elif hit.entry in keys:
            hits.add(hit.entry)
        else:
            false.append(hit.entry)
    return ClipOutcome(
        clip=truth.clip,
        truth=tuple(sorted(keys)),
        hits=tuple(sorted(hits)),
        false_alerts=tuple(false),
        reads=tuple(r.text for r in sink.reads),
        confidences=tuple(round(float(r.confidence), 4) for r in sink.reads),
        frames=pipeline.frames,
        moving_frames=pipeline.moving,
        stage_ms=pipeline.stage_ms,
        moving_ms=pipeline.moving_ms,
        warmup_frames=pipeline.warmup,
        warmup_ms=pipeline.warmup_ms,
        wall_ms=wall,
        problem=problem,
        held_back=tuple(held),
    )


def evaluate_clips(
    folder: Path,
    truth: Sequence[ClipTruth],
    config: CitywatchConfig,
    models: Models,
    *,
    analyse_fps: float = 5.0,
    on_clip: Callable[[ClipOutcome], None] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> ClipReport:
    """Every clip of ``truth`` from ``folder``; a missing clip is an error before any runs."""
    if not folder.is_dir():
        raise TruthError(f"clip folder {folder} does not exist")
    missing = [ct.clip for ct in truth if not (folder / ct.clip).is_file()]
    if missing:
        raise TruthError(f"clip folder {folder}: missing {', '.join(missing[:5])}")
    hotlist = hotlist_for(truth, config)
    report = ClipReport()
    for ct in truth:
        outcome = run_clip(
            folder / ct.clip,
            ct,
            hotlist,
            config,
            models,
            analyse_fps=analyse_fps,
            on_frame=on_frame,
        )
        report.outcomes.append(outcome)
        if on_clip is not None:
            on_clip(outcome)
    return report


def _reads_text(o: ClipOutcome) -> str:
    """Each read with its voted confidence (``AB123CD@0.91``)."""
    if len(o.confidences) != len(o.reads):
        return " ".join(o.reads) or "-"
    return " ".join(f"{r}@{c:.2f}" for r, c in zip(o.reads, o.confidences, strict=True)) or "-"


def outcome_rows(report: ClipReport) -> list[Metrics]:
    return [
        {
            "clip": o.clip,
            "truth": " ".join(o.truth),
            "alerted": " ".join(o.hits) or "-",
            "false_alerts": " ".join(o.false_alerts) or "-",
            "reads": _reads_text(o),
            "held_back": " ".join(o.held_back) or "-",
            "frames": o.frames,
            "ms_per_frame": round(o.stage_ms / max(1, o.frames), 1),
        }
        for o in report.outcomes
    ]
