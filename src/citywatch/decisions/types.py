"""What the decision layer hands to the service layer: track-level results, never per-frame.

Only a face track that matched the watchlist produces a :class:`FaceMatch`; every other face
track is forgotten and only counted (:class:`FaceTrackCount`).  A plate track produces one
:class:`PlateRead` with its best voted read; the hotlist matcher turns a read into a
:class:`HotlistHit` when it matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citywatch.vision.record import ImageBGR

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class TrackScores:
    """The scalar evidence of one face-track decision (no face, no embedding): what the
    operator reviews behind an alert, and what an evaluation or an entry's near-miss
    statistics are made of."""

    camera_id: str
    track_id: int
    subject_id: int  # best entry
    subject_name: str
    watchlist_id: int
    score: float  # cosine of the track's (quality-weighted) embedding to that entry
    runner_up_id: int | None  # best other entry
    runner_up_name: str | None
    runner_up_score: float | None
    frame_scores: tuple[float, ...]  # each embedded frame against the best entry, best first
    frame_quality: tuple[float, ...]  # the same frames' quality, 0..1
    face_px: float  # face side at the best frame
    threshold: float  # the entry's threshold the decision used
    matched: bool
    first_seen_s: float
    last_seen_s: float
    reason: str = ""  # why a track over the threshold was not alerted, else ""

    @property
    def margin(self) -> float | None:
        """Score minus the runner-up's (None with a single-entry watchlist)."""
        return None if self.runner_up_score is None else self.score - self.runner_up_score

    def evidence(self) -> dict[str, object]:
        """What the reviewing operator sees beside the snapshot (JSON-ready scalars)."""
        margin = self.margin
        return {
            "frames_used": len(self.frame_scores),
            "frame_scores": [round(v, 4) for v in self.frame_scores],
            "frame_quality": [round(v, 3) for v in self.frame_quality],
            "face_px": round(self.face_px, 1),
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "margin": None if margin is None else round(margin, 4),
            "runner_up": self.runner_up_name,
            "runner_up_score": (
                None if self.runner_up_score is None else round(self.runner_up_score, 4)
            ),
        }


@dataclass(frozen=True, slots=True)
class FaceMatch:
    camera_id: str
    track_id: int
    subject_id: int
    subject_name: str
    watchlist_id: int
    score: float  # cosine similarity between the track's embedding and the subject
    threshold: float  # the operating point the decision was made at
    first_seen_s: float  # media time of the track's first frame
    last_seen_s: float
    frame_wall_time: float  # wall time the evidence frame was decoded (for latency)
    decided_wall_time: float
    box: Box  # the matched face in the evidence frame
    evidence: ImageBGR | None = None  # the frame, every other face blurred
    frames_used: int = 0  # how many frames were embedded for the decision
    scores: TrackScores | None = None  # the evidence behind the decision (review page)


@dataclass(frozen=True, slots=True)
class FaceTrackCount:
    """Faces that were analysed and discarded: a count, nothing else."""

    camera_id: str
    tracks: int
    wall_time: float


@dataclass(frozen=True, slots=True)
class PlateRead:
    camera_id: str
    track_id: int
    text: str  # normalised best read, no separators, upper case
    confidence: float  # 0..1, from the vote
    plate_format: str  # e.g. "NL", "HR", "RS", "DE", "EU", "US", or "" when none fits
    votes: int  # reads that agreed with the winner
    reads: int  # reads in the track
    first_seen_s: float
    last_seen_s: float
    frame_wall_time: float
    decided_wall_time: float
    box: Box
    evidence: ImageBGR | None = None  # frame with faces blurred
    vehicle_kind: str = ""  # car, truck, bus, motorcycle; "" when no vehicle held the plate
    vehicle_colour: str = ""  # named body colour (vision/vehicles/colour.py); "" when none
    vehicle_score: float = 0.0  # the voted kind's share of the track's vehicle votes

    @property
    def vehicle(self) -> str:
        """The vehicle in words: "white car", "car" (colour not named) or "" (none)."""
        return " ".join(p for p in (self.vehicle_colour, self.vehicle_kind) if p)


@dataclass(frozen=True, slots=True)
class HotlistHit:
    read: PlateRead
    hotlist_id: int
    entry: str  # the hotlist plate that matched
    distance: int  # substitutions/indels after OCR-confusion-aware matching (0 = exact)
    differing: tuple[int, ...] = field(default_factory=tuple)  # positions in ``read.text``


Sighting = FaceMatch | FaceTrackCount | PlateRead
