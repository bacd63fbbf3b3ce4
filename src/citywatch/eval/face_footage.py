"""`citywatch eval face-footage`: face alerts on real footage, through the live pipeline.

A truth file (CSV ``clip,subjects``: a clip's path relative to the clips folder and the
watchlist entries seen in it, ``;``-separated, empty for none) lists every clip.  The watchlist
folder is enrolled as `citywatch scan` enrols one (a photo per person, or a folder of photos
per person; each person one entry).  Each clip then runs through the code a live camera runs:
:func:`~citywatch.engine.assemble.build_pipeline` (motion gate, YuNet, landmarks, quality,
ByteTrack, :class:`~citywatch.decisions.faces.FaceTrackDecider`) driven by a
:class:`~citywatch.engine.worker.CameraWorker` over the file.

Per clip and in total:

* ``true_alerts``: alerts naming a subject the clip holds (each subject counted once per
  clip); ``missed``: subjects of the clip never alerted;
* ``false_alerts``: every alert naming an entry the clip does not hold (an alert on a clip
  with nobody enrolled, or the wrong name);
* ``face_tracks``: tracks the tracker opened; ``tracks_analysed``: tracks compared with the
  watchlist at least once; ``false_alerts_per_1000_tracks`` over the analysed ones;
* score margins: each decision round's best entry and score is kept (scalars, from the
  decider's :class:`~citywatch.decisions.types.TrackScores`), so the report gives the lowest
  true alert, the highest score a track reached for an entry the clip does not hold
  (``impostor_score_max``: how close the strangers came), ``separation`` (the lowest true
  alert minus that), and the margin of each alert over its threshold and over the runner-up.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import SecretStr

from citywatch.config.camera import CameraConfig
from citywatch.config.root import CitywatchConfig
from citywatch.decisions.gallery import Gallery
from citywatch.decisions.types import FaceMatch, FaceTrackCount, Sighting, TrackScores
from citywatch.engine.assemble import Models, Permissions, build_pipeline
from citywatch.engine.worker import CameraWorker
from citywatch.eval.common import Metrics
from citywatch.sources.pyav import CameraSource, SourceError
from citywatch.vision.record import Frame


class FootageError(ValueError):
    """A truth file, clip folder or watchlist the evaluation cannot use; the message says
    which and where."""


@dataclass(frozen=True, slots=True)
class FootageTruth:
    clip: str  # path relative to the clips folder
    subjects: tuple[str, ...]  # watchlist entries seen in the clip (may be empty)


def load_footage_truth(path: Path) -> list[FootageTruth]:
    """The clips of a ``clip,subjects`` CSV in file order (``#`` lines are comments)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FootageError(f"truth file {path}: cannot read ({err})") from None
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    fields = reader.fieldnames or []
    if not {"clip", "subjects"} <= set(fields):
        raise FootageError(
            f"truth file {path}: needs the columns clip,subjects "
            f"(has {', '.join(fields) or 'none'})"
        )
    out: list[FootageTruth] = []
    seen: set[str] = set()
    for n, row in enumerate(reader, start=2):
        clip = (row.get("clip") or "").strip()
        if not clip:
            raise FootageError(f"truth file {path}, row {n}: no clip")
        if clip in seen:
            raise FootageError(f"truth file {path}, row {n}: clip {clip!r} listed twice")
        seen.add(clip)
        subjects = tuple(s.strip() for s in (row.get("subjects") or "").split(";") if s.strip())
        out.append(FootageTruth(clip, subjects))
    if not out:
        raise FootageError(f"truth file {path}: no clips")
    return out


def check_clips(truth: Sequence[FootageTruth], root: Path) -> None:
    """Every clip of ``truth`` exists under ``root`` (checked before anything is enrolled)."""
    if not root.is_dir():
        raise FootageError(f"clips folder {root} does not exist")
    missing = [t.clip for t in truth if not (root / t.clip).is_file()]
    if missing:
        raise FootageError(
            f"truth file names {len(missing)} clip(s) not found under {root}: "
            + ", ".join(missing[:5])
        )


def check_truth(truth: Sequence[FootageTruth], root: Path, gallery: Gallery) -> None:
    """Every clip exists under ``root``, the watchlist is not empty and every subject is one of
    its entries: checked before any clip runs, each problem named."""
    check_clips(truth, root)
    if len(gallery) == 0:
        raise FootageError("the watchlist is empty: no photo with one usable face was enrolled")
    names = set(gallery.subject_names)
    unknown = sorted({s for t in truth for s in t.subjects} - names)
    if unknown:
        raise FootageError(
            f"truth file names subject(s) not on the watchlist: {', '.join(unknown[:5])} "
            "(a subject is a photo's file name without suffix, or a folder's name)"
        )


@dataclass
class ClipResult:
    clip: str
    subjects: tuple[str, ...]
    alerts: list[TrackScores] = field(default_factory=list)
    rounds: list[TrackScores] = field(default_factory=list)  # every decision round
    face_tracks: int = 0
    frames: int = 0
    seconds: float = 0.0
    problem: str = ""
    magnets: list[str] = field(default_factory=list)  # lookalike magnets the clip revealed

    @property
    def true_alerts(self) -> tuple[str, ...]:
        return tuple(sorted({a.subject_name for a in self.alerts} & set(self.subjects)))

    @property
    def missed(self) -> tuple[str, ...]:
        return tuple(s for s in self.subjects if s not in self.true_alerts)

    @property
    def false_alerts(self) -> list[TrackScores]:
        return [a for a in self.alerts if a.subject_name not in self.subjects]

    @property
    def tracks_analysed(self) -> int:
        return len({r.track_id for r in self.rounds})

    def impostor_scores(self) -> list[float]:
        """Per analysed track, its best score for an entry this clip does not hold."""
        best: dict[int, float] = {}
        for r in self.rounds:
            if r.subject_name not in self.subjects:
                best[r.track_id] = max(best.get(r.track_id, -1.0), r.score)
        return list(best.values())

    def genuine_scores(self) -> list[float]:
        """Per subject of the clip, the best score a track reached for it."""
        best: dict[str, float] = {}
        for r in self.rounds:
            if r.subject_name in self.subjects:
                best[r.subject_name] = max(best.get(r.subject_name, -1.0), r.score)
        return list(best.values())

    def note(self) -> str:
        if self.problem:
            return self.problem
        if self.face_tracks == 0:
            return "no face found"
        if self.tracks_analysed == 0:
            return "no face good enough"
        return ""


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


@dataclass
class FootageReport:
    clips: list[ClipResult] = field(default_factory=list)
    watchlist_entries: int = 0
    watchlist_photos: int = 0
    threshold: float = 0.0
    enrolment_problems: list[str] = field(default_factory=list)

    def metrics(self) -> Metrics:
        if not self.clips:
            raise FootageError("no clips were evaluated")
        true = sum(len(c.true_alerts) for c in self.clips)
        subjects = sum(len(c.subjects) for c in self.clips)
        false = [a for c in self.clips for a in c.false_alerts]
        alerts = [a for c in self.clips for a in c.alerts]
        analysed = sum(c.tracks_analysed for c in self.clips)
        impostor = [s for c in self.clips for s in c.impostor_scores()]
        trues = [a.score for c in self.clips for a in c.alerts if a.subject_name in c.subjects]
        margins = [a.margin for a in alerts if a.margin is not None]
        out: Metrics = {
            "clips": len(self.clips),
            "watchlist_entries": self.watchlist_entries,
            "watchlist_photos": self.watchlist_photos,
            "threshold": round(self.threshold, 4),
            "subjects_in_clips": subjects,
            "true_alerts": true,
            "missed": subjects - true,
            "false_alerts": len(false),
            "alerts": len(alerts),
            "face_tracks": sum(c.face_tracks for c in self.clips),
            "tracks_analysed": analysed,
            "false_alerts_per_1000_tracks": round(1000.0 * len(false) / max(1, analysed), 2),
            "true_alert_score_min": _round(min(trues, default=None)),
            "false_alert_score_max": _round(max((a.score for a in false), default=None)),
            "impostor_score_max": _round(max(impostor, default=None)),
            "separation": _round(min(trues) - max(impostor) if trues and impostor else None),
            "alert_margin_over_threshold_min": _round(
                min((a.score - a.threshold for a in alerts), default=None)
            ),
            "alert_margin_to_runner_up_min": _round(min(margins, default=None)),
            "frames": sum(c.frames for c in self.clips),
            "seconds": round(sum(c.seconds for c in self.clips), 1),
            "problems": sum(bool(c.note()) for c in self.clips),
            "lookalike_magnets": sum(len(c.magnets) for c in self.clips),
            "held_over_threshold": sum(
                1 for c in self.clips for r in c.rounds if r.reason and not r.matched
            ),
        }
        return out

    def rows(self) -> list[Metrics]:
        out: list[Metrics] = []
        for c in self.clips:
            best_imp = max(c.impostor_scores(), default=None)
            out.append(
                {
                    "clip": Path(c.clip).stem[:28],
                    "in clip": ";".join(c.subjects) or "-",
                    "true": len(c.true_alerts),
                    "missed": ";".join(c.missed) or "-",
                    "false": len(c.false_alerts),
                    "tracks": f"{c.tracks_analysed}/{c.face_tracks}",
                    "stranger max": _round(best_imp, 3),
                    "note": c.note() or "-",
                }
            )
        return out


class _Sink:
    def __init__(self, result: ClipResult) -> None:
        self.result = result

    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        for s in sightings:
            if isinstance(s, FaceMatch):
                self.result.face_tracks += 1
                if s.scores is not None:
                    self.result.alerts.append(s.scores)
            elif isinstance(s, FaceTrackCount):
                self.result.face_tracks += s.tracks


def run_footage_clip(
    video: Path,
    truth: FootageTruth,
    gallery: Gallery,
    config: CitywatchConfig,
    models: Models,
    *,
    analyse_fps: float = 5.0,
    on_frame: Callable[[Frame], None] | None = None,
) -> ClipResult:
    """One clip through the live pipeline, every decision round recorded as scores."""
    cam = CameraConfig(id="eval-footage", url=SecretStr(str(video)), analyse_fps=analyse_fps)
    perms = Permissions(faces=True, plates=False, reasons=("evaluation on labelled footage",))
    pipeline = build_pipeline(cam, config, models, perms, gallery)
    result = ClipResult(truth.clip, truth.subjects)
    assert pipeline.face_decider is not None  # a non-empty gallery and the face permission
    pipeline.face_decider.observe(result.rounds.append)
    t0 = time.perf_counter()
    try:
        source = CameraSource(cam)
        worker = CameraWorker(
            cam.id, source, pipeline, _Sink(result), live=False, on_frame=on_frame
        )
        stats = worker.run()
        result.frames = stats.analysed
        result.problem = source.health.last_error or stats.last_error or ""
        if stats.analysed == 0 and not result.problem:
            result.problem = "not one frame could be decoded"
    except SourceError as err:
        result.problem = str(err)
    result.seconds = time.perf_counter() - t0
    result.magnets = [
        f"{m.name}: {m.near_misses} near misses in {m.tracks} passers-by (highest "
        f"{m.highest:.3f}, own threshold {m.own_threshold:.3f})"
        for m in pipeline.face_decider.entry_stats.magnets()
    ]
    return result


def evaluate_footage(
    truth: Sequence[FootageTruth],
    root: Path,
    gallery: Gallery,
    config: CitywatchConfig,
    models: Models,
    *,
    analyse_fps: float = 5.0,
    on_clip: Callable[[ClipResult], None] | None = None,
    on_frame: Callable[[Frame], None] | None = None,
) -> FootageReport:
    check_truth(truth, root, gallery)
    report = FootageReport(
        watchlist_entries=len(set(gallery.subject_ids.tolist())),
        watchlist_photos=len(gallery),
        threshold=config.faces.threshold,
    )
    for t in truth:
        result = run_footage_clip(
            root / t.clip, t, gallery, config, models, analyse_fps=analyse_fps, on_frame=on_frame
        )
        report.clips.append(result)
        if on_clip is not None:
            on_clip(result)
    return report


def write_footage_plots(report: FootageReport, folder: Path) -> list[Path]:
    """Track scores of the strangers against the subjects' alerts, with the threshold; and the
    highest stranger score per clip."""
    from citywatch.eval.common import new_figure, plot_histogram, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    genuine = [s for c in report.clips for s in c.genuine_scores()]
    impostor = [s for c in report.clips for s in c.impostor_scores()]
    with np.errstate(invalid="ignore", divide="ignore"):  # one side may be empty
        hist = plot_histogram(
            folder / "face_footage_scores.png",
            genuine,
            impostor,
            title="Face tracks on footage: best score per track",
            labels=("subject in clip", "entry not in clip"),
            thresholds={"threshold": report.threshold},
        )
    files = [hist]
    fig = new_figure(8.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    names = [Path(c.clip).stem[:22] for c in report.clips]
    imp = [max(c.impostor_scores(), default=0.0) for c in report.clips]
    gen = [max(c.genuine_scores(), default=0.0) for c in report.clips]
    xs = list(range(len(names)))
    ax.bar([x - 0.2 for x in xs], imp, width=0.4, label="best stranger track")
    ax.bar([x + 0.2 for x in xs], gen, width=0.4, label="best subject track")
    ax.axhline(report.threshold, color="black", linestyle="--", linewidth=0.8)
    ax.set_xticks(xs, names, rotation=60, ha="right", fontsize="x-small")
    low = min([v for v in imp + gen if v > 0] + [report.threshold]) - 0.05
    ax.set_ylim(max(0.0, low), 1.0)
    ax.set_ylabel("score")
    ax.legend(fontsize="small")
    files.append(save_figure(fig, folder / "face_footage_clips.png"))
    return files
