"""Per-entry statistics of the scores passers-by draw: scalars only, never faces or embeddings.

Each face track that ends without an alert adds one number to the entry it came closest to:
its best score against that entry.  From those numbers (count, running mean and variance by
Welford's method, the near misses: scores within ``band`` of the threshold) each entry gets
its own threshold, ``max(threshold, mean + k * std)`` once ``min_tracks`` scores are in, and an
entry with ``magnet_near_misses`` or more near misses is a **lookalike magnet**: the people who
pass this camera keep resembling it, and the admin who enrolled it should know (a better photo,
or a reason to expect false alerts).

Measured on the dev footage (fused embedder, scores of the tracks of one half of the clips
learnt, applied to the other half): at threshold 0.66 the rule with margin and frame checks
still raised 1 false alert on the held-out half (a stranger at 0.699 as ``jessica-alba``);
that entry had drawn 8 stranger tracks in the first half (mean + 3 std = 0.767) and its own
threshold removed the alert; the singer's alert stayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class EntryScores:
    tracks: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations (Welford)
    near_misses: int = 0
    highest: float = -1.0

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.tracks) if self.tracks else 0.0


@dataclass(frozen=True, slots=True)
class Magnet:
    subject_id: int
    name: str
    near_misses: int
    tracks: int
    highest: float
    own_threshold: float


class EntryStats:
    """The statistics of one camera's watchlist entries (in memory; a new gallery keeps them
    for the entries still on it)."""

    def __init__(
        self,
        threshold: float,
        *,
        band: float = 0.05,
        k: float = 3.0,
        min_tracks: int = 5,
        magnet_near_misses: int = 3,
    ) -> None:
        if band < 0 or k < 0 or min_tracks < 1 or magnet_near_misses < 1:
            raise ValueError("entry statistics: band and k >= 0, counts >= 1")
        self.base = threshold
        self.band, self.k = band, k
        self.min_tracks, self.magnet_near_misses = min_tracks, magnet_near_misses
        self._entries: dict[int, EntryScores] = {}
        self._names: dict[int, str] = {}

    def add(self, subject_id: int, name: str, score: float) -> None:
        """One passer-by's best score against ``subject_id`` (a track that raised no alert)."""
        if not math.isfinite(score):
            return
        e = self._entries.setdefault(subject_id, EntryScores())
        self._names[subject_id] = name
        e.tracks += 1
        delta = score - e.mean
        e.mean += delta / e.tracks
        e.m2 += delta * (score - e.mean)
        e.highest = max(e.highest, score)
        if score >= self.base - self.band:
            e.near_misses += 1

    def threshold(self, subject_id: int) -> float:
        e = self._entries.get(subject_id)
        if e is None or e.tracks < self.min_tracks:
            return self.base
        return max(self.base, e.mean + self.k * e.std)

    def get(self, subject_id: int) -> EntryScores | None:
        return self._entries.get(subject_id)

    def magnets(self) -> list[Magnet]:
        """Entries with ``magnet_near_misses`` or more near misses, most first."""
        out = [
            Magnet(sid, self._names[sid], e.near_misses, e.tracks, e.highest, self.threshold(sid))
            for sid, e in self._entries.items()
            if e.near_misses >= self.magnet_near_misses
        ]
        return sorted(out, key=lambda m: (-m.near_misses, m.subject_id))

    def keep_only(self, subject_ids: set[int]) -> None:
        """Forget the entries no longer listed (a gallery swap)."""
        for sid in [s for s in self._entries if s not in subject_ids]:
            del self._entries[sid]
            self._names.pop(sid, None)
