"""Hard impostors for `citywatch calibrate faces`: the strangers a camera actually confuses.

Random pairs of photos of people of every age, sex and origin score far lower than the people
a watchlist is confused with on the street, so a threshold set on them promises a false-alert
rate the street will not keep.  Three harder impostor sets are measured here, each a set of
*non-mated searches* (one score per probe: its best score against a gallery that does not hold
the probe's person):

* ``nearest_other``: every face of the identity set searched against every face of every
  *other* identity; its score is its nearest other identity's best photo (a gallery of
  ``identities - 1`` people, all of their photos).
* ``cctv_<px>px[_blur]``: the same searches with the probe degraded to what a CCTV camera
  gives: the aligned crop shrunk so the face is ``px`` pixels wide, optionally blurred
  (Gaussian, sigma 1 px at that size), JPEG-compressed at quality 50, and scaled back (the
  landmarks stay where they were).  Its genuine counterpart (the degraded probe against the
  clean photos of its own identity) is measured too: degradation pushes both down.
* ``footage``: face tracks of people who are not enrolled, from the live pipeline over clips
  whose truth says nobody enrolled is there (`eval face-footage` truth files), searched against
  the identity set as the watchlist.  Different clips are different people; tracks of one clip
  are counted as tracks, whatever person they hold.

The threshold for a target rate is the score that at most that share of the pooled hard
searches reaches.  A rate lower than the searches can resolve (fewer than ``1 / rate``) is not
promised from them: the threshold is then the highest hard score seen, and the rate reported
is the 95 % upper bound (rule of three: ``3 / searches``).  False alerts grow with the
watchlist: a per-search rate measured against a gallery of ``n`` people is scaled by
``watchlist / n`` (one chance per enrolled person) to the watchlist size the card assumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.eval.common import Metrics, threshold_at_far
from citywatch.eval.face_data import Embedded, FacePipeline, IdentitySet, read_image
from citywatch.vision.record import FloatArray, ImageBGR

if TYPE_CHECKING:
    from citywatch.config.root import CitywatchConfig

F64 = npt.NDArray[np.float64]
#: (face width in px, blurred) of the CCTV probes.
DEGRADATIONS: tuple[tuple[int, bool], ...] = ((32, False), (24, True))
JPEG_QUALITY = 50
#: Share of the aligned crop's width a face spans (ArcFace layout: eye-to-eye ~35 of 112 px,
#: face ~64 px).
FACE_SHARE = 64.0 / 112.0
#: Every how many-th face of the identity set is degraded (the cost is one more embedding each).
DEGRADE_EVERY = 2


def degrade(crop: ImageBGR, face_px: int, blur: bool) -> ImageBGR:
    """``crop`` as a CCTV camera would give it: the face ``face_px`` wide, blurred or not,
    JPEG at :data:`JPEG_QUALITY`, scaled back to the crop's size."""
    h, w = crop.shape[:2]
    side = max(8, round(face_px / FACE_SHARE))
    small = cv2.resize(crop, (side, round(side * h / w)), interpolation=cv2.INTER_AREA)
    if blur:
        small = cv2.GaussianBlur(small, (0, 0), 1.0)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 image
        raise ValueError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - a buffer OpenCV just wrote
        raise ValueError("JPEG decoding failed")
    out: ImageBGR = np.ascontiguousarray(
        cv2.resize(decoded, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8
    )
    return out


def nearest_other(
    probes: FloatArray, probe_labels: npt.ArrayLike, gallery: FloatArray, labels: npt.ArrayLike
) -> F64:
    """Per probe, its best cosine to a gallery row of another identity."""
    pl, gl = np.asarray(probe_labels), np.asarray(labels)
    sims = np.asarray(probes, np.float64) @ np.asarray(gallery, np.float64).T
    sims[pl[:, None] == gl[None, :]] = -np.inf
    return sims.max(axis=1)


def nearest_same(
    probes: FloatArray,
    probe_labels: npt.ArrayLike,
    probe_rows: npt.ArrayLike,
    gallery: FloatArray,
    labels: npt.ArrayLike,
) -> F64:
    """Per probe, its best cosine to another photo of its own identity (never itself)."""
    pl, gl = np.asarray(probe_labels), np.asarray(labels)
    sims = np.asarray(probes, np.float64) @ np.asarray(gallery, np.float64).T
    sims[pl[:, None] != gl[None, :]] = -np.inf
    sims[np.arange(len(pl)), np.asarray(probe_rows)] = -np.inf
    return sims.max(axis=1)


@dataclass
class HardImpostors:
    """Non-mated search scores per hard set, and the genuine scores beside them."""

    gallery_people: int  # people a search is made against (identities - 1 for the probes)
    impostor: dict[str, F64] = field(default_factory=dict)
    genuine: dict[str, F64] = field(default_factory=dict)

    def pooled(self) -> F64:
        parts = [v[np.isfinite(v)] for v in self.impostor.values()]
        return np.concatenate(parts) if parts else np.zeros(0)

    def describe(self) -> str:
        sets = ", ".join(f"{k} ({len(v)})" for k, v in self.impostor.items())
        return f"hard impostors: {sets}; searched against {self.gallery_people} people"

    def metrics(self) -> Metrics:
        out: Metrics = {"hard_gallery_people": self.gallery_people}
        for kind, scores in (("impostor", self.impostor), ("genuine", self.genuine)):
            for name, s in scores.items():
                s = s[np.isfinite(s)]
                out[f"hard_{name}_{kind}_searches"] = int(s.size)
                if s.size:
                    out[
                        f"hard_{name}_{kind}_max"
                        if kind == "impostor"
                        else f"hard_{name}_{kind}_median"
                    ] = float(s.max() if kind == "impostor" else np.median(s))
        return out


def identity_hard_sets(
    data: IdentitySet,
    embedded: Embedded,
    pipeline: FacePipeline,
    *,
    degradations: Sequence[tuple[int, bool]] = DEGRADATIONS,
    every: int = DEGRADE_EVERY,
    progress: Callable[[int], None] | None = None,
) -> HardImpostors:
    """``nearest_other`` and the CCTV sets of the identity set (module docstring)."""
    found = embedded.found
    e = embedded.embeddings[found]
    labels = data.labels[found]
    rows = np.flatnonzero(found)
    out = HardImpostors(gallery_people=len(np.unique(labels)) - 1)
    out.impostor["nearest_other"] = nearest_other(e, labels, e, labels)
    out.genuine["nearest_other"] = nearest_same(e, labels, np.arange(len(e)), e, labels)
    if embedded.layout != "aligned" or embedded.landmarks is None or not degradations:
        return out
    picks = np.arange(0, len(rows), max(1, every))
    lm = embedded.landmarks[None]
    for face_px, blur in degradations:
        name = f"cctv_{face_px}px" + ("_blur" if blur else "")
        probes = np.zeros((len(picks), e.shape[1]), np.float32)
        for k, j in enumerate(picks):
            image = degrade(read_image(data.files[int(rows[j])]), face_px, blur)
            probes[k] = pipeline.embedder.embed(image, lm)[0]
            if progress is not None:
                progress(1)
        out.impostor[name] = nearest_other(probes, labels[picks], e, labels)
        out.genuine[name] = nearest_same(probes, labels[picks], picks, e, labels)
    return out


@dataclass(frozen=True)
class HardPoint:
    """The threshold the hard sets allow at a target per-track rate, and what it promises."""

    threshold: float
    searches: int
    measured_rate: float  # share of hard searches at or over the threshold
    resolved: bool  # False: the target is below what the searches can resolve
    expected_per_1000_tracks: float  # at the assumed watchlist size
    assumed_watchlist: int


def hard_point(hard: HardImpostors, *, target_per_1000: float, assumed_watchlist: int) -> HardPoint:
    """The threshold for at most ``target_per_1000`` false alerts per 1,000 face tracks with a
    watchlist of ``assumed_watchlist`` people (module docstring)."""
    scores = hard.pooled()
    if scores.size == 0:
        raise ValueError("no hard impostor searches to calibrate on")
    if assumed_watchlist < 1 or target_per_1000 <= 0:
        raise ValueError("the watchlist size and the target rate must be positive")
    scale = assumed_watchlist / max(1, hard.gallery_people)
    per_search = target_per_1000 / 1000.0 / scale  # the rate at the calibration gallery's size
    resolved = scores.size * per_search >= 1.0
    if resolved:
        threshold = threshold_at_far(scores, per_search)
    else:
        threshold = float(np.nextafter(scores.max(), np.inf))
    measured = float((scores >= threshold).mean())
    bound = measured if resolved else 3.0 / scores.size
    return HardPoint(
        threshold=threshold,
        searches=int(scores.size),
        measured_rate=measured,
        resolved=resolved,
        expected_per_1000_tracks=min(1000.0, 1000.0 * bound * scale),
        assumed_watchlist=assumed_watchlist,
    )


def footage_impostors(
    hard: HardImpostors,
    data: IdentitySet,
    embedded: Embedded,
    clips: Sequence[Path],
    config: CitywatchConfig,
    *,
    analyse_fps: float = 5.0,
) -> int:
    """Add the ``footage`` set: each analysed face track of ``clips`` (nobody of the identity
    set is in them) searched against the identity set, one entry per identity, through the live
    pipeline.  Returns the tracks added."""
    from citywatch.decisions.gallery import Gallery
    from citywatch.engine.assemble import Models
    from citywatch.eval.face_footage import FootageTruth, run_footage_clip

    found = embedded.found
    gallery = Gallery.build(
        embedded.embeddings[found],
        data.labels[found],
        [data.identities[i] for i in data.labels[found]],
        np.zeros(int(found.sum()), np.int64),
    )
    models = Models(config)
    scores: list[float] = []
    for clip in clips:
        result = run_footage_clip(
            clip, FootageTruth(str(clip), ()), gallery, config, models, analyse_fps=analyse_fps
        )
        if result.problem:
            raise ValueError(f"{clip}: {result.problem}")
        scores.extend(result.impostor_scores())
    hard.impostor["footage"] = np.asarray(scores, np.float64)
    hard.gallery_people = max(hard.gallery_people, len(data.identities) - 1)
    return len(scores)
