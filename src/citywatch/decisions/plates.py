"""Plate track voting: many noisy per-frame reads of one plate become one :class:`PlateRead`.

Each frame's plate rows (with track ids) are added to their track.  When a track has not been
seen for ``lost_s`` (media time), or on :meth:`PlateTrackVoter.flush`, its reads are voted:
the most supported length wins, then each character position is voted among the reads of that
length, weighted by each read's score (OCR confidence times format fit).  A track with fewer than
``min_reads`` reads is dropped.  Memory is bounded: at most ``max_tracks`` open tracks (the
longest unseen is decided first) and ``max_reads`` reads per track (the best by score), and one
frame image per track, the frame of its best read, kept for evidence.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from citywatch.config.plates import PlatesConfig
from citywatch.decisions.types import Box, PlateRead
from citywatch.vision.plates.formats import PlateFormat, best, resolve
from citywatch.vision.record import FrameRecord, ImageBGR
from citywatch.vision.vehicles.describe import holding


@dataclass(frozen=True, slots=True)
class Vote:
    text: str
    confidence: float  # 0..1
    plate_format: str  # "" when the voted text fits no format
    votes: int  # reads equal to the voted text


def vote(reads: Sequence[tuple[str, float]], formats: Sequence[PlateFormat]) -> Vote | None:
    """The plate a set of (text, score) reads of one track agrees on; None without reads.

    Confidence is the winning length's share of the total weight times the smallest
    per-position share of the winning characters, times the mean score of the reads of that
    length.  When the per-position winners spell something no format accepts (a mix of two
    layouts), the single text with the largest total weight wins instead.
    """
    reads = [(t, max(0.0, s)) for t, s in reads if t]
    if not reads:
        return None
    by_len: dict[int, float] = defaultdict(float)
    for text, score in reads:
        by_len[len(text)] += score + 1e-9
    total = sum(by_len.values())
    length = min(by_len, key=lambda n: (-by_len[n], n))
    same = [(t, s) for t, s in reads if len(t) == length]
    chars = []
    min_share = 1.0
    for pos in range(length):
        weights: dict[str, float] = defaultdict(float)
        for text, score in same:
            weights[text[pos]] += score + 1e-9
        ch = min(weights, key=lambda c: (-weights[c], c))
        chars.append(ch)
        min_share = min(min_share, weights[ch] / sum(weights.values()))
    text = "".join(chars)
    cand = best(text, formats) if formats else None
    if formats and (cand is None or cand.text != text):
        per_text: dict[str, float] = defaultdict(float)
        for t, s in same:
            per_text[t] += s + 1e-9
        text = min(per_text, key=lambda t: (-per_text[t], t))
        min_share = per_text[text] / sum(per_text.values())
        cand = best(text, formats)
    mean_score = min(1.0, sum(s for _, s in same) / len(same))
    confidence = by_len[length] / total * min_share * mean_score
    return Vote(
        text=text,
        confidence=float(min(1.0, confidence)),
        plate_format=cand.format if cand is not None and cand.text == text else "",
        votes=sum(t == text for t, _ in reads),
    )


@dataclass(slots=True)
class _Track:
    track_id: int
    first_s: float
    last_s: float
    reads: list[tuple[float, int, str]] = field(default_factory=list)  # min-heap (score, n, text)
    count: int = 0
    best_score: float = -1.0
    best_box: Box = (0.0, 0.0, 0.0, 0.0)
    best_wall: float = 0.0
    best_image: ImageBGR | None = None
    reported: bool = False  # decided early; later reads only keep the track alive
    kinds: dict[str, float] = field(default_factory=dict)  # vehicle kind -> summed score
    colours: dict[str, float] = field(default_factory=dict)  # body colour -> summed share


def vote_vehicle(weights: dict[str, float]) -> tuple[str, float]:
    """The label with the most weight (ties: alphabetical) and its share of all; ("", 0)
    without any."""
    total = sum(weights.values())
    if total <= 0:
        return "", 0.0
    label = min(weights, key=lambda k: (-weights[k], k))
    return label, weights[label] / total


class PlateTrackVoter:
    """Per camera: collects reads per plate track and emits one :class:`PlateRead` per track."""

    def __init__(
        self,
        cfg: PlatesConfig,
        camera_id: str,
        *,
        clock: Callable[[], float] = time.time,
        keep_evidence: bool = True,
    ) -> None:
        self._camera_id = camera_id
        self._formats = resolve(cfg.formats)
        self._lost_s = cfg.vote.lost_s
        self._max_tracks = cfg.vote.max_tracks
        self._max_reads = cfg.vote.max_reads
        self._min_reads = cfg.min_reads
        self._min_conf = cfg.vote.min_confidence
        self._early = cfg.vote.early_votes
        self._clock = clock
        self._keep_evidence = keep_evidence
        self._tracks: dict[int, _Track] = {}

    def __len__(self) -> int:
        """Open tracks."""
        return len(self._tracks)

    def update(self, record: FrameRecord) -> list[PlateRead]:
        """Add this frame's plate reads; return the reads of tracks that ended."""
        t = record.frame.pts_s
        plates = record.plates
        scores = plates.text_score
        touched: set[int] = set()
        for i in range(len(plates)):
            tid = int(plates.track_id[i])
            text = plates.text[i] if plates.text else ""
            if tid < 0 or not text:
                continue
            score = float(scores[i]) if scores is not None else float(plates.score[i])
            tr = self._tracks.get(tid)
            if tr is None:
                tr = self._tracks[tid] = _Track(tid, t, t)
            tr.last_s = max(tr.last_s, t)
            touched.add(tid)
            tr.count += 1
            item = (score, tr.count, text)
            if len(tr.reads) < self._max_reads:
                heapq.heappush(tr.reads, item)
            else:
                heapq.heappushpop(tr.reads, item)
            self._add_vehicle(tr, record, i)
            if score > tr.best_score:
                tr.best_score = score
                x0, y0, x1, y1 = (float(v) for v in plates.xyxy[i])
                tr.best_box = (x0, y0, x1, y1)
                tr.best_wall = record.frame.wall_time
                tr.best_image = record.frame.image if self._keep_evidence else None
        early = self._decide_early(touched)
        ended = [tid for tid, tr in self._tracks.items() if t - tr.last_s > self._lost_s]
        if len(self._tracks) - len(ended) > self._max_tracks:
            open_ids = sorted(
                (tid for tid in self._tracks if tid not in set(ended)),
                key=lambda k: (self._tracks[k].last_s, k),
            )
            ended += open_ids[: len(open_ids) - self._max_tracks]
        return early + self._decide(ended)

    @staticmethod
    def _add_vehicle(tr: _Track, record: FrameRecord, i: int) -> None:
        """The kind and colour of the vehicle holding plate row ``i``, weighted by the
        detector's score and the colour's share of the body."""
        vehicles = record.vehicles
        j = holding(vehicles, record.plates.xyxy[i])
        if j is None:
            return
        kind, score = vehicles.kind[j], float(vehicles.score[j])
        tr.kinds[kind] = tr.kinds.get(kind, 0.0) + score
        if vehicles.colour and vehicles.colour[j]:
            share = float(vehicles.colour_score[j]) if vehicles.colour_score is not None else 1.0
            colour = vehicles.colour[j]
            tr.colours[colour] = tr.colours.get(colour, 0.0) + max(share, 1e-6)

    def _decide_early(self, track_ids: set[int]) -> list[PlateRead]:
        """Tracks whose reads already agree: report now (a hotlist alert should not wait for
        the car to drive away).  The track stays open so it is not reported twice."""
        if self._early <= 0:
            return []
        out = []
        for tid in sorted(track_ids):
            tr = self._tracks[tid]
            if tr.reported or tr.count < max(self._early, self._min_reads):
                continue
            result = vote([(text, score) for score, _, text in tr.reads], self._formats)
            if (
                result is not None
                and result.votes >= self._early
                and result.plate_format
                and result.confidence >= self._min_conf
            ):
                tr.reported = True
                out.append(self._read(tr, result))
        return out

    def flush(self) -> list[PlateRead]:
        """Decide every open track now (end of stream, shutdown)."""
        return self._decide(list(self._tracks))

    def _decide(self, track_ids: list[int]) -> list[PlateRead]:
        out = []
        for tid in sorted(track_ids, key=lambda k: (self._tracks[k].first_s, k)):
            tr = self._tracks.pop(tid)
            if tr.reported or tr.count < self._min_reads:
                continue
            result = vote([(text, score) for score, _, text in tr.reads], self._formats)
            if result is None or result.confidence < self._min_conf:
                continue
            out.append(self._read(tr, result))
        return out

    def _read(self, tr: _Track, result: Vote) -> PlateRead:
        kind, kind_share = vote_vehicle(tr.kinds)
        colour, _ = vote_vehicle(tr.colours)
        return PlateRead(
            camera_id=self._camera_id,
            track_id=tr.track_id,
            text=result.text,
            confidence=result.confidence,
            plate_format=result.plate_format,
            votes=result.votes,
            reads=tr.count,
            first_seen_s=tr.first_s,
            last_seen_s=tr.last_s,
            frame_wall_time=tr.best_wall,
            decided_wall_time=self._clock(),
            box=tr.best_box,
            evidence=tr.best_image,
            vehicle_kind=kind,
            vehicle_colour=colour,
            vehicle_score=kind_share,
        )
