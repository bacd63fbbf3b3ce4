"""The watchlist gallery: enrolled face embeddings and exact cosine search over them.

One row per enrolled embedding; a subject may have several rows (several photos).  The best
row wins, so a subject's score is the best over its photos.  Exact search with numpy on an fp32
matrix: ~1 ms per query at 100k rows (see the stack notes); nothing approximate is needed below
~1M rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citywatch.vision.record import FloatArray, IntArray

NO_MATCH = -1
NORM_TOLERANCE = 1e-3


class GalleryError(ValueError):
    """The gallery or a query has the wrong shape, type or normalisation."""


@dataclass(frozen=True, slots=True)
class Subject:
    subject_id: int
    name: str
    watchlist_id: int


@dataclass(frozen=True, eq=False)
class Gallery:
    """``embeddings`` (M, d) float32, rows L2-normalised; the other arrays hold one entry per
    row.  Immutable: a changed watchlist builds a new gallery."""

    embeddings: FloatArray
    subject_ids: IntArray
    subject_names: tuple[str, ...]
    watchlist_ids: IntArray

    def __post_init__(self) -> None:
        e = self.embeddings
        if e.ndim != 2 or e.dtype != np.float32:
            raise GalleryError(
                f"Gallery.embeddings: expected (M, d) float32, got {e.shape} {e.dtype}"
            )
        m = e.shape[0]
        for name, arr in (("subject_ids", self.subject_ids), ("watchlist_ids", self.watchlist_ids)):
            if arr.shape != (m,):
                raise GalleryError(f"Gallery.{name}: expected shape ({m},), got {arr.shape}")
        if len(self.subject_names) != m:
            raise GalleryError(
                f"Gallery.subject_names: expected {m} entries, got {len(self.subject_names)}"
            )
        _check_unit_rows("Gallery.embeddings", e)
        view = e.view()  # read-only view: the caller's own array stays writable
        view.setflags(write=False)
        object.__setattr__(self, "embeddings", view)

    @classmethod
    def build(
        cls,
        embeddings: npt.ArrayLike,
        subject_ids: npt.ArrayLike,
        subject_names: tuple[str, ...] | list[str],
        watchlist_ids: npt.ArrayLike,
    ) -> Gallery:
        """A gallery from plain sequences (embeddings are copied to float32)."""
        e = np.array(embeddings, dtype=np.float32, copy=True)
        if e.ndim == 1 and e.size == 0:
            e = e.reshape(0, 0)
        return cls(
            embeddings=e,
            subject_ids=np.asarray(subject_ids, np.int64).reshape(-1),
            subject_names=tuple(subject_names),
            watchlist_ids=np.asarray(watchlist_ids, np.int64).reshape(-1),
        )

    @classmethod
    def empty(cls, dim: int) -> Gallery:
        return cls(
            embeddings=np.zeros((0, dim), np.float32),
            subject_ids=np.zeros(0, np.int64),
            subject_names=(),
            watchlist_ids=np.zeros(0, np.int64),
        )

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def __repr__(self) -> str:
        subjects = len(set(self.subject_ids.tolist()))
        return f"Gallery(rows={len(self)}, subjects={subjects}, dim={self.dim})"

    def subject(self, index: int) -> Subject:
        return Subject(
            subject_id=int(self.subject_ids[index]),
            name=self.subject_names[index],
            watchlist_id=int(self.watchlist_ids[index]),
        )

    def search(self, queries: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """Best gallery row and its cosine similarity per query row, (Q,) each.  With an empty
        gallery: index :data:`NO_MATCH` and score -inf."""
        q = np.asarray(queries, np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise GalleryError(f"Gallery.search: expected queries (Q, {self.dim}), got {q.shape}")
        _check_unit_rows("Gallery.search queries", q)
        if len(self) == 0 or len(q) == 0:
            return (
                np.full(len(q), NO_MATCH, np.int64),
                np.full(len(q), -np.inf, np.float32),
            )
        sims = q @ self.embeddings.T
        best = np.argmax(sims, axis=1).astype(np.int64)
        return best, sims[np.arange(len(q)), best].astype(np.float32)


def ranked_subjects(
    gallery: Gallery, query: FloatArray
) -> tuple[tuple[int, float], tuple[int, float] | None]:
    """For one unit query (d,): the best row and its cosine, and the best row of the
    best *other* subject with its cosine (None when the gallery holds one subject).  A subject
    enrolled from several photos is one candidate: its score is its best photo's."""
    q = np.asarray(query, np.float32).reshape(1, -1)
    if len(gallery) == 0:
        raise GalleryError("ranked_subjects: the gallery is empty")
    index, _ = gallery.search(q)
    sims = (q @ gallery.embeddings.T)[0]
    best = int(index[0])
    other = gallery.subject_ids != gallery.subject_ids[best]
    if not other.any():
        return (best, float(sims[best])), None
    rows = np.flatnonzero(other)
    second = int(rows[int(np.argmax(sims[rows]))])
    return (best, float(sims[best])), (second, float(sims[second]))


def _check_unit_rows(where: str, rows: FloatArray) -> None:
    if rows.size == 0:
        return
    if not np.isfinite(rows).all():
        raise GalleryError(f"{where}: contains NaN or infinity")
    norms = np.linalg.norm(rows, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
    if len(bad):
        raise GalleryError(
            f"{where}: rows must be L2-normalised; row {int(bad[0])} has norm {norms[bad[0]]:.4f}"
        )
