"""Face recognition accuracy on labelled identities: verification and open-set identification.

**Verification (LFW style).**  ``folds`` x ``per_fold`` genuine pairs and as many impostor
pairs are drawn without repetition (seed 0).  For each fold the threshold with the best
accuracy on the other nine folds is applied to it (``verification_accuracy`` is the mean);
``tar_at_far_X``: the threshold is set on the other nine folds' impostor pairs so that at most
X of them pass, and the held-out fold's genuine pairs are measured at it.  A pair with an image
where no face was found is a rejection.

**Open-set identification.**  In each of ``trials`` rounds (seed 0) half of the identities
are enrolled with one image each, chosen at random; every other image of an enrolled identity
is a mated search, every image of the other half a non-mated search.  The gallery returns its
best candidate (rank 1).  A mated search is missed when that candidate is wrong or scores under
the threshold (FNIR); a non-mated search is a false positive when the candidate scores at or
over it (FPIR).  The threshold is never set on the searches it is measured on: the
non-mated searches are split in two random halves, the threshold for FPIR X is set on one half,
FNIR is measured on the mated searches and FPIR on the other half, then the halves swap.
``fnir_at_fpir_X`` is the mean over all rounds and both halves, ``fpir_measured_at_X`` what the
other half actually gave, ``rank1`` the share of mated searches whose best candidate is right.
The same with the halves split by *identity* (the threshold set on some strangers, measured on
strangers never seen) is reported as ``..._unseen_identities``: with few identities the
threshold transfers badly (measured FPIR several times the target), which is worth knowing
before trusting a threshold from a small set.  FPIR grows with the gallery: the figures hold
for a gallery of this size.

**Quality breakdown.**  The same held-out decisions, grouped by the face's size (absolute
bands, px) and by its sharpness (thirds of the set's Laplacian variance, soft/mid/sharp): a
pair falls in the group of its worse image.  An operator sees where the model fails.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from citywatch.eval.common import (
    Metrics,
    accept_rate,
    accuracy_at,
    best_accuracy_threshold,
    threshold_at_far,
)
from citywatch.eval.face_data import (
    Embedded,
    FacePipeline,
    IdentitySet,
    Layout,
    Progress,
    embed_images,
)
from citywatch.vision.record import FloatArray, IntArray

FOLDS = 10
PAIRS_PER_FOLD = 300
SEED = 0
FARS = (1e-3, 1e-2)
FPIRS = (0.01, 0.003)
TRIALS = 100
#: Face-size bands (shorter box side, px) for the breakdown.
SIZE_EDGES = (40.0, 80.0, 120.0)
BLUR_NAMES = ("soft", "mid", "sharp")

Bool = npt.NDArray[np.bool_]
F64 = npt.NDArray[np.float64]


def rate_key(prefix: str, rate: float) -> str:
    """``tar_at_far`` + 1e-3 -> ``tar_at_far_1e-3``; ``fnir_at_fpir`` + 0.01 ->
    ``fnir_at_fpir_0.01`` (the names the issue fixes)."""
    text = f"{rate:.0e}".replace("e-0", "e-") if prefix.startswith("tar") else f"{rate:g}"
    return f"{prefix}_{text}"


# -- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class PairFolds:
    genuine: IntArray  # (folds, per_fold, 2) image indices
    impostor: IntArray  # (folds, per_fold, 2)

    @property
    def per_fold(self) -> int:
        return int(self.genuine.shape[1])


def make_pairs(
    labels: IntArray, *, folds: int = FOLDS, per_fold: int = PAIRS_PER_FOLD, seed: int = SEED
) -> PairFolds:
    """Distinct genuine and impostor pairs, shuffled into folds.  A set too small for
    ``per_fold`` pairs per fold gets as many as it has (the same number of each kind)."""
    labels = np.asarray(labels, np.int64)
    rng = np.random.default_rng(seed)
    by_id = [np.flatnonzero(labels == lab) for lab in np.unique(labels)]
    n_genuine = sum(len(ix) * (len(ix) - 1) // 2 for ix in by_id)
    n_all = len(labels) * (len(labels) - 1) // 2
    per_fold = min(per_fold, n_genuine // folds, (n_all - n_genuine) // folds)
    if per_fold < 1:
        raise ValueError(
            f"too few images for {folds} folds of pairs: {n_genuine} genuine pairs possible"
        )
    want = folds * per_fold
    genuine: set[tuple[int, int]] = set()
    impostor: set[tuple[int, int]] = set()
    sizes = np.array([len(ix) for ix in by_id], np.float64)
    weights = sizes * (sizes - 1)
    weights /= weights.sum()
    while len(genuine) < want:  # identities drawn in proportion to their pairs
        ix = by_id[int(rng.choice(len(by_id), p=weights))]
        a, b = sorted(int(v) for v in rng.choice(ix, 2, replace=False))
        genuine.add((a, b))
    while len(impostor) < want:
        a, b = (int(v) for v in rng.integers(0, len(labels), 2))
        if labels[a] != labels[b]:
            impostor.add((min(a, b), max(a, b)))
    g = np.array(sorted(genuine), np.int64)
    i = np.array(sorted(impostor), np.int64)
    rng.shuffle(g)
    rng.shuffle(i)
    return PairFolds(g.reshape(folds, per_fold, 2), i.reshape(folds, per_fold, 2))


def pair_scores(embeddings: FloatArray, found: Bool, pairs: IntArray) -> F64:
    """Cosine similarity per pair; ``-inf`` where an image has no face."""
    p = np.asarray(pairs).reshape(-1, 2)
    e = np.asarray(embeddings, np.float64)
    s = np.einsum("ij,ij->i", e[p[:, 0]], e[p[:, 1]])
    ok = found[p[:, 0]] & found[p[:, 1]]
    return np.where(ok, s, -np.inf).reshape(np.asarray(pairs).shape[:-1])


@dataclass
class Verification:
    genuine: F64  # (folds, per_fold) scores
    impostor: F64
    thresholds: F64  # (folds,) accuracy threshold chosen on the other folds
    accuracy: F64  # (folds,)
    tar: dict[float, F64]  # far -> (folds,)
    far: dict[float, F64]  # far -> (folds,) measured on the held-out fold
    genuine_ok: Bool  # (folds, per_fold): accepted at the held-out threshold
    impostor_ok: Bool  # rejected at it

    def metrics(self) -> Metrics:
        out: Metrics = {
            "verification_accuracy": float(self.accuracy.mean()),
            "verification_accuracy_std": float(self.accuracy.std()),
            "verification_threshold": float(self.thresholds.mean()),
        }
        for far in self.tar:
            out[rate_key("tar_at_far", far)] = float(self.tar[far].mean())
        for far in self.far:
            out[f"far_measured_at_{far:g}"] = float(self.far[far].mean())
        out["verification_pairs"] = int(self.genuine.size + self.impostor.size)
        return out


def verification(
    embeddings: FloatArray, found: Bool, folds: PairFolds, *, fars: tuple[float, ...] = FARS
) -> Verification:
    g = pair_scores(embeddings, found, folds.genuine)
    i = pair_scores(embeddings, found, folds.impostor)
    n = g.shape[0]
    thr = np.zeros(n)
    acc = np.zeros(n)
    tar = {f: np.zeros(n) for f in fars}
    far = {f: np.zeros(n) for f in fars}
    g_ok = np.zeros(g.shape, np.bool_)
    i_ok = np.zeros(i.shape, np.bool_)
    for k in range(n):
        rest = np.arange(n) != k
        t = best_accuracy_threshold(g[rest].ravel(), i[rest].ravel())
        thr[k], acc[k] = t, accuracy_at(g[k], i[k], t)
        g_ok[k], i_ok[k] = g[k] >= t, i[k] < t
        for f in fars:
            tf = threshold_at_far(i[rest].ravel(), f)
            tar[f][k], far[f][k] = accept_rate(g[k], tf), accept_rate(i[k], tf)
    return Verification(g, i, thr, acc, tar, far, g_ok, i_ok)


# -- open-set identification -------------------------------------------------------------


@dataclass
class OpenSet:
    fnir: dict[float, list[float]] = field(default_factory=dict)
    fpir: dict[float, list[float]] = field(default_factory=dict)
    rank1: list[float] = field(default_factory=list)
    mated: list[F64] = field(default_factory=list)  # per round: -inf when rank 1 is wrong
    nonmated: list[F64] = field(default_factory=list)  # per round: best candidate's score
    nonmated_images: list[IntArray] = field(default_factory=list)
    # Held-out decisions per image, summed over rounds (for the breakdown), per FPIR.
    mated_tries: dict[float, F64] = field(default_factory=dict)
    mated_misses: dict[float, F64] = field(default_factory=dict)
    nonmated_tries: dict[float, F64] = field(default_factory=dict)
    nonmated_hits: dict[float, F64] = field(default_factory=dict)

    def metrics(self) -> Metrics:
        out: Metrics = {}
        for f in self.fnir:
            out[rate_key("fnir_at_fpir", f)] = float(np.mean(self.fnir[f]))
        out["rank1"] = float(np.mean(self.rank1))
        for f in self.fpir:
            out[f"fpir_measured_at_{f:g}"] = float(np.mean(self.fpir[f]))
        out["open_set_trials"] = len(self.rank1)
        out["mated_searches"] = int(sum(len(m) for m in self.mated))
        out["nonmated_searches"] = int(sum(len(m) for m in self.nonmated))
        return out

    def pooled(self) -> tuple[F64, F64]:
        return np.concatenate(self.mated), np.concatenate(self.nonmated)


def open_set(
    embeddings: FloatArray,
    found: Bool,
    labels: IntArray,
    *,
    trials: int = TRIALS,
    seed: int = SEED,
    fpirs: tuple[float, ...] = FPIRS,
    split: Literal["images", "identities"] = "images",
) -> OpenSet:
    labels = np.asarray(labels, np.int64)
    ids = np.unique(labels)
    if len(ids) < 4:
        raise ValueError(f"open-set needs at least 4 identities, got {len(ids)}")
    e = np.asarray(embeddings, np.float32)
    n = len(labels)
    rng = np.random.default_rng(seed)
    res = OpenSet()
    for f in fpirs:
        res.fnir[f], res.fpir[f] = [], []
        for name in ("mated_tries", "mated_misses", "nonmated_tries", "nonmated_hits"):
            getattr(res, name)[f] = np.zeros(n)
    for _ in range(trials):
        perm = rng.permutation(ids)
        enrolled, others = perm[: len(ids) // 2], perm[len(ids) // 2 :]
        gallery = []
        for lab in enrolled:
            pool = np.flatnonzero((labels == lab) & found)
            if len(pool) == 0:
                pool = np.flatnonzero(labels == lab)
            gallery.append(int(rng.choice(pool)))
        gal = np.asarray(gallery)
        g_emb = np.where(found[gal, None], e[gal], 0.0)
        mated = np.flatnonzero(np.isin(labels, enrolled) & ~np.isin(np.arange(n), gal))
        sims = e[mated] @ g_emb.T
        right = enrolled[np.argmax(sims, axis=1)] == labels[mated]
        ok = right & found[mated]
        # float64: thresholds sit one float64 step above a score (threshold_at_far), a step
        # that a float32 comparison would round away.
        m_scores = np.where(ok, sims.max(axis=1), -np.inf).astype(np.float64)
        res.rank1.append(float(ok.mean()))
        res.mated.append(m_scores)
        if split == "identities":
            order = rng.permutation(others)
            halves = [order[: len(others) // 2], order[len(others) // 2 :]]
            half_imgs = [np.flatnonzero(np.isin(labels, h)) for h in halves]
        else:
            pool = rng.permutation(np.flatnonzero(np.isin(labels, others)))
            half_imgs = [np.sort(pool[: len(pool) // 2]), np.sort(pool[len(pool) // 2 :])]
        half_scores = [
            np.where(found[ix], (e[ix] @ g_emb.T).max(axis=1), -np.inf).astype(np.float64)
            for ix in half_imgs
        ]
        res.nonmated.append(np.concatenate(half_scores))
        res.nonmated_images.append(np.concatenate(half_imgs))
        for f in fpirs:
            for a, b in ((0, 1), (1, 0)):
                t = threshold_at_far(half_scores[a], f)
                miss = m_scores < t
                hit = half_scores[b] >= t
                res.fnir[f].append(float(miss.mean()))
                res.fpir[f].append(float(hit.mean()))
                res.mated_tries[f][mated] += 1
                res.mated_misses[f][mated] += miss
                res.nonmated_tries[f][half_imgs[b]] += 1
                res.nonmated_hits[f][half_imgs[b]] += hit
    return res


# -- quality breakdown -------------------------------------------------------------------


def size_groups(face_px: FloatArray, found: Bool) -> tuple[IntArray, tuple[str, ...]]:
    """Group index per image by face size band; -1 where no face was found."""
    edges = list(SIZE_EDGES)
    names = [f"size_lt{int(edges[0])}"]
    names += [f"size_{int(a)}_{int(b)}" for a, b in itertools.pairwise(edges)]
    names.append(f"size_ge{int(edges[-1])}")
    g = np.searchsorted(np.asarray(edges), np.asarray(face_px), side="right")
    return np.where(found, g, -1).astype(np.int64), tuple(names)


def blur_groups(sharpness: FloatArray, found: Bool) -> tuple[IntArray, tuple[str, ...], F64]:
    """Group index per image by thirds of the sharpness of the faces found, and the edges."""
    s = np.asarray(sharpness, np.float64)
    valid = s[found]
    edges = np.quantile(valid, [1 / 3, 2 / 3]) if valid.size else np.zeros(2)
    g = np.searchsorted(edges, s, side="right")
    names = tuple(f"blur_{n}" for n in BLUR_NAMES)
    return np.where(found, g, -1).astype(np.int64), names, edges


def breakdown(
    groups: IntArray,
    names: tuple[str, ...],
    ver: Verification,
    folds: PairFolds,
    ops: OpenSet,
    fpir: float = FPIRS[0],
) -> tuple[Metrics, list[Metrics]]:
    """Flat metrics and table rows per group (a pair goes to its worse image's group)."""
    flat: Metrics = {}
    rows: list[Metrics] = []
    g_pairs = np.minimum(groups[folds.genuine[..., 0]], groups[folds.genuine[..., 1]])
    i_pairs = np.minimum(groups[folds.impostor[..., 0]], groups[folds.impostor[..., 1]])
    # A pair with a missing face belongs to no group (-1): it is a failure, counted overall.
    for k, name in enumerate(names):
        gm, im = g_pairs == k, i_pairs == k
        pairs = int(gm.sum() + im.sum())
        acc = (
            float((ver.genuine_ok[gm].sum() + ver.impostor_ok[im].sum()) / pairs) if pairs else None
        )
        tries = ops.mated_tries[fpir][groups == k].sum()
        misses = ops.mated_misses[fpir][groups == k].sum()
        n_tries = ops.nonmated_tries[fpir][groups == k].sum()
        n_hits = ops.nonmated_hits[fpir][groups == k].sum()
        row: Metrics = {
            "group": name,
            "images": int((groups == k).sum()),
            "pairs": pairs,
            "verification_accuracy": acc,
            rate_key("fnir_at_fpir", fpir): float(misses / tries) if tries else None,
            f"fpir_measured_at_{fpir:g}": float(n_hits / n_tries) if n_tries else None,
        }
        rows.append(row)
        for key, value in row.items():
            if key != "group":
                flat[f"{name}_{key}"] = value
    return flat, rows


def group_thresholds(
    ops: OpenSet, groups: IntArray, names: tuple[str, ...], fpir: float
) -> dict[str, float]:
    """Per group, the threshold at ``fpir`` on the pooled non-mated searches of that group's
    images; a group with fewer than ``1 / fpir`` searches cannot resolve the rate and is left
    out."""
    scores = np.concatenate(ops.nonmated)
    images = np.concatenate(ops.nonmated_images)
    out: dict[str, float] = {}
    for k, name in enumerate(names):
        s = scores[groups[images] == k]
        if s.size * fpir >= 1.0:
            out[name] = threshold_at_far(s, fpir)
    return out


# -- the whole evaluation ----------------------------------------------------------------


@dataclass
class IdentityReport:
    """Everything `citywatch eval faces` prints, writes and plots."""

    metrics: Metrics
    rows: list[Metrics]  # quality breakdown
    verification: Verification
    open_set: OpenSet
    groups: dict[str, tuple[IntArray, tuple[str, ...]]]  # dimension -> (per image, names)
    embedded: Embedded | None = None  # the embeddings (hard-impostor calibration reuses them)


def evaluate_identities(
    data: IdentitySet,
    pipeline: FacePipeline,
    *,
    layout: Layout = "auto",
    trials: int = TRIALS,
    progress: Progress | None = None,
) -> IdentityReport:
    """Embed ``data`` with the live pipeline and run both protocols (module docstring)."""
    emb = embed_images(data.files, pipeline, layout=layout, progress=progress)
    folds = make_pairs(data.labels)
    ver = verification(emb.embeddings, emb.found, folds)
    ops = open_set(emb.embeddings, emb.found, data.labels, trials=trials)
    unseen = open_set(
        emb.embeddings, emb.found, data.labels, trials=trials, split="identities"
    ).metrics()
    sizes = size_groups(emb.face_px, emb.found)
    blur_idx, blur_names, blur_edges = blur_groups(emb.sharpness, emb.found)
    metrics: Metrics = {
        "dataset": data.name,
        "model": pipeline.model,
        "detector": pipeline.detector.name,
        "layout": emb.layout,
        "identities": len(data.identities),
        "images": len(data),
        "faces": emb.faces,
        "detect_failures": emb.detect_failures,
    }
    metrics.update(ver.metrics())
    metrics.update(ops.metrics())
    for f in FPIRS:
        for key in (rate_key("fnir_at_fpir", f), f"fpir_measured_at_{f:g}"):
            metrics[f"{key}_unseen_identities"] = unseen[key]
    metrics["ms_per_face"] = emb.ms_per_face
    metrics["ms_per_face_embed"] = emb.ms_per_face_embed
    metrics["cpu_ms_per_face"] = emb.cpu_ms_per_face
    metrics["ms_per_face_single"] = emb.ms_per_face_single
    metrics["embed_batch"] = emb.batch
    metrics["layout_seconds"] = emb.seconds_layout
    metrics["blur_soft_max_sharpness"] = float(blur_edges[0])
    metrics["blur_sharp_min_sharpness"] = float(blur_edges[1])
    rows: list[Metrics] = []
    for idx, names in (sizes, (blur_idx, blur_names)):
        flat, part = breakdown(idx, names, ver, folds, ops)
        metrics.update(flat)
        rows.extend(part)
    groups = {"size": sizes, "blur": (blur_idx, blur_names)}
    return IdentityReport(metrics, rows, ver, ops, groups, emb)
