"""`citywatch eval face-pairs`: verification on a list of labelled photo pairs, detection included.

Each distinct photo goes through the live pipeline once (:func:`face_data.embed_images`: the
configured detector, landmarks, quality floors, embedder; its largest usable face).  A pair with
a photo where no usable face was found counts as "different" at every threshold: the live
system could not have matched it either.

``verification_accuracy``: the pairs are split into ``folds`` folds (seed 0, genuine and
impostor pairs spread evenly); each fold is decided at the best-accuracy threshold of the other
folds, and the share of right decisions over all folds is reported.  The configured threshold
(``faces.threshold``, never tuned on these pairs) is reported beside it, and the held-out
decisions are broken down by face size and sharpness (a pair counts in its worse photo's
group), as in :mod:`citywatch.eval.faces`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from citywatch.eval.common import Metrics, accept_rate, best_accuracy_threshold
from citywatch.eval.face_data import FacePipeline, Layout, PairList, Progress, embed_images
from citywatch.eval.faces import FOLDS, SEED, blur_groups, pair_scores, size_groups

F64 = npt.NDArray[np.float64]


@dataclass
class PairsReport:
    metrics: Metrics
    genuine: F64
    impostor: F64
    threshold: float  # mean of the per-fold thresholds
    rows: list[Metrics]  # quality breakdown


def stratified_folds(same: npt.NDArray[np.bool_], folds: int, seed: int) -> npt.NDArray[np.int64]:
    """Fold number per pair: each class shuffled and dealt round-robin."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(same), np.int64)
    for cls in (True, False):
        idx = rng.permutation(np.flatnonzero(same == cls))
        out[idx] = np.arange(len(idx)) % folds
    return out


def evaluate_pairs(
    pairs: PairList,
    pipeline: FacePipeline,
    *,
    layout: Layout = "auto",
    folds: int = FOLDS,
    progress: Progress | None = None,
) -> PairsReport:
    if pairs.same.all() or not pairs.same.any():
        raise ValueError(f"{pairs.csv}: needs both same and different pairs")
    emb = embed_images(pairs.files, pipeline, layout=layout, progress=progress)
    scores = pair_scores(emb.embeddings, emb.found, pairs.pairs)
    folds = max(2, min(folds, int(pairs.same.sum()), int((~pairs.same).sum())))
    fold = stratified_folds(pairs.same, folds, SEED)
    correct = np.zeros(len(scores), np.bool_)
    thresholds = []
    for k in range(folds):
        test, train = fold == k, fold != k
        t = best_accuracy_threshold(scores[train & pairs.same], scores[train & ~pairs.same])
        thresholds.append(t)
        correct[test] = (scores[test] >= t) == pairs.same[test]
    genuine, impostor = scores[pairs.same], scores[~pairs.same]
    live = pipeline.cfg.threshold
    failed_pair = ~(emb.found[pairs.pairs[:, 0]] & emb.found[pairs.pairs[:, 1]])
    metrics: Metrics = {
        "dataset": pairs.csv.name,
        "model": pipeline.model,
        "detector": pipeline.detector.name,
        "layout": emb.layout,
        "pairs": len(scores),
        "same_pairs": int(pairs.same.sum()),
        "images": len(pairs.files),
        "verification_accuracy": float(correct.mean()),
        "verification_threshold": float(np.mean(thresholds)),
        "folds": folds,
        "detect_failures": emb.detect_failures,
        "pairs_with_detect_failure": int(failed_pair.sum()),
        "config_threshold": live,
        "accuracy_at_config_threshold": float(((scores >= live) == pairs.same).mean()),
        "tar_at_config_threshold": accept_rate(genuine, live),
        "far_at_config_threshold": accept_rate(impostor, live),
        "ms_per_face": emb.ms_per_face,
        "ms_per_face_embed": emb.ms_per_face_embed,
        "cpu_ms_per_face": emb.cpu_ms_per_face,
        "ms_per_face_single": emb.ms_per_face_single,
        "embed_batch": emb.batch,
    }
    rows: list[Metrics] = []
    blur_idx, blur_names, _ = blur_groups(emb.sharpness, emb.found)
    for idx, names in (size_groups(emb.face_px, emb.found), (blur_idx, blur_names)):
        worse = np.minimum(idx[pairs.pairs[:, 0]], idx[pairs.pairs[:, 1]])
        for k, name in enumerate(names):
            mask = worse == k
            if not mask.any():
                continue
            row: Metrics = {
                "group": name,
                "pairs": int(mask.sum()),
                "same_pairs": int((mask & pairs.same).sum()),
                "verification_accuracy": float(correct[mask].mean()),
            }
            rows.append(row)
            metrics[f"{name}_pairs"] = row["pairs"]
            metrics[f"{name}_verification_accuracy"] = row["verification_accuracy"]
    return PairsReport(metrics, genuine, impostor, float(np.mean(thresholds)), rows)
