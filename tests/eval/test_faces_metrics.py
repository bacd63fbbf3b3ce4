"""Metric functions and the face protocols on score lists and embeddings with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from citywatch.eval.common import (
    MetricsError,
    accuracy_at,
    best_accuracy_threshold,
    check_flat,
    curve,
    fnir_at_fpir,
    metrics_table,
    tar_at_far,
    threshold_at_far,
    threshold_rows,
    write_json,
)
from citywatch.eval.faces import (
    PairFolds,
    blur_groups,
    breakdown,
    make_pairs,
    open_set,
    rate_key,
    size_groups,
    verification,
)

IMPOSTOR = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
GENUINE = [0.55, 0.65, 0.75, 0.85, 0.92, 0.96, 0.97, 0.98, 0.99, 1.0]


@pytest.mark.parametrize(
    ("far", "passes", "tar"),
    [
        (0.0, 0, 0.5),  # just above the best impostor (0.95): 0.96 .. 1.0 pass
        (0.1, 1, 0.6),  # one impostor (0.95) may pass: just above 0.9, from 0.92 up
        (0.15, 1, 0.6),  # floor(1.5) = 1
        (0.3, 3, 0.8),  # three may pass: just above 0.7, from 0.75 up
        (1.0, 10, 1.0),  # everything
    ],
)
def test_threshold_and_tar_at_far(far: float, passes: int, tar: float) -> None:
    t = threshold_at_far(IMPOSTOR, far)
    assert sum(s >= t for s in IMPOSTOR) == passes
    assert tar_at_far(GENUINE, IMPOSTOR, far) == pytest.approx(tar)


def test_fnir_at_fpir_counts_wrong_rank1_as_misses() -> None:
    mated = [0.9, 0.8, -math.inf, 0.95]  # the third search found the wrong person
    nonmated = [0.1, 0.2, 0.85, 0.3]
    # FPIR 0.25: one non-mated may pass -> threshold just above 0.3; misses: the -inf only.
    assert fnir_at_fpir(mated, nonmated, 0.25) == pytest.approx(0.25)
    # FPIR 0: threshold just above 0.85 -> 0.8 and -inf missed.
    assert fnir_at_fpir(mated, nonmated, 0.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("genuine", "impostor", "accuracy"),
    [
        ([0.9, 0.8, 0.7], [0.1, 0.2, 0.3], 1.0),
        ([0.9, 0.8, 0.25], [0.1, 0.2, 0.3], 5 / 6),
        ([0.5, 0.5], [0.5, 0.5], 0.5),
    ],
)
def test_best_accuracy_threshold(genuine, impostor, accuracy) -> None:  # type: ignore[no-untyped-def]
    t = best_accuracy_threshold(genuine, impostor)
    assert accuracy_at(genuine, impostor, t) == pytest.approx(accuracy)


def test_best_accuracy_threshold_sits_in_the_middle_of_a_tie() -> None:
    t = best_accuracy_threshold([0.8, 0.9], [0.1, 0.2])
    assert 0.2 < t < 0.8  # every cut between 0.2 and 0.8 is perfect: the middle one is taken
    assert t == pytest.approx(0.5)


def test_curve_is_monotone_and_ends_at_one() -> None:
    c = curve(GENUINE, IMPOSTOR)
    assert np.all(np.diff(c.thresholds) < 0)
    assert np.all(np.diff(c.accept_pos) >= 0) and np.all(np.diff(c.accept_neg) >= 0)
    assert c.accept_pos[-1] == 1.0 and c.accept_neg[-1] == 1.0
    rows = threshold_rows(GENUINE, IMPOSTOR, [0.5])
    assert rows == [{"threshold": 0.5, "tar": 1.0, "far": 0.6, "frr": 0.0}]


def test_empty_or_nan_scores_are_refused() -> None:
    with pytest.raises(MetricsError, match="impostor: no scores"):
        threshold_at_far([], 0.1)
    with pytest.raises(MetricsError, match="NaN"):
        tar_at_far([0.5, float("nan")], [0.1], 0.1)


def test_reports_are_flat_and_written_as_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write_json(tmp_path / "r.json", {"a": np.float32(0.5), "b": 3, "c": "x", "d": math.inf})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": 3, "c": "x", "d": None}
    with pytest.raises(MetricsError, match="'nested'"):
        check_flat({"nested": {"x": 1}})
    console = Console(record=True, width=80)
    console.print(metrics_table("T", {"verification_accuracy": 0.97451}))
    assert "0.9745" in console.export_text()


@pytest.mark.parametrize(
    ("prefix", "rate", "key"),
    [
        ("tar_at_far", 1e-3, "tar_at_far_1e-3"),
        ("tar_at_far", 1e-2, "tar_at_far_1e-2"),
        ("fnir_at_fpir", 0.01, "fnir_at_fpir_0.01"),
        ("fnir_at_fpir", 0.003, "fnir_at_fpir_0.003"),
    ],
)
def test_metric_names_are_the_issues(prefix: str, rate: float, key: str) -> None:
    assert rate_key(prefix, rate) == key


# -- protocols on synthetic embeddings -----------------------------------------------------


def _clusters(ids: int, per: int, noise: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, 16))
    labels = np.repeat(np.arange(ids), per)
    e = centres[labels] + noise * rng.normal(size=(ids * per, 16))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return e.astype(np.float32), labels.astype(np.int64)


def test_make_pairs_draws_distinct_labelled_pairs_reproducibly() -> None:
    _, labels = _clusters(6, 12, 0.1)
    folds = make_pairs(labels, folds=10, per_fold=30)
    assert folds.genuine.shape == (10, 30, 2) and folds.impostor.shape == (10, 30, 2)
    g = folds.genuine.reshape(-1, 2)
    i = folds.impostor.reshape(-1, 2)
    assert (labels[g[:, 0]] == labels[g[:, 1]]).all() and (g[:, 0] < g[:, 1]).all()
    assert (labels[i[:, 0]] != labels[i[:, 1]]).all()
    assert len({tuple(p) for p in g}) == 300 and len({tuple(p) for p in i}) == 300
    again = make_pairs(labels, folds=10, per_fold=30)
    assert np.array_equal(again.genuine, folds.genuine)
    # 12 + 4 images of two people: 72 genuine, 48 impostor pairs -> 4 of each per fold.
    assert make_pairs(labels[:16], folds=10, per_fold=300).per_fold == 4
    with pytest.raises(ValueError, match="too few images"):
        make_pairs(labels[:12])  # one person: no impostor pairs


def test_verification_separable_clusters_are_perfect_and_failures_reject() -> None:
    e, labels = _clusters(6, 12, 0.05)
    found = np.ones(len(labels), bool)
    folds = make_pairs(labels, folds=10, per_fold=30)
    ver = verification(e, found, folds)
    m = ver.metrics()
    assert m["verification_accuracy"] == 1.0 and m["tar_at_far_1e-3"] == 1.0
    assert ver.genuine_ok.all() and ver.impostor_ok.all()
    # No face in half the images: their genuine pairs are rejections.
    found[::2] = False
    worse = verification(e, found, folds).metrics()
    assert worse["verification_accuracy"] < 0.9


def test_open_set_known_outcomes() -> None:
    e, labels = _clusters(8, 10, 0.05)
    found = np.ones(len(labels), bool)
    res = open_set(e, found, labels, trials=5)
    m = res.metrics()
    assert m["rank1"] == 1.0 and m["fnir_at_fpir_0.01"] == 0.0
    assert m["mated_searches"] == 5 * 4 * 9 and m["nonmated_searches"] == 5 * 4 * 10
    # Every image a copy of one face: every search hits the gallery at 1.0; at FPIR 0.01 the
    # threshold lies above 1.0, so every mated search is missed and no stranger passes.
    same = np.tile(e[:1], (len(labels), 1))
    m = open_set(same, found, labels, trials=3).metrics()
    assert m["fnir_at_fpir_0.01"] == 1.0 and m["fpir_measured_at_0.01"] == 0.0
    with pytest.raises(ValueError, match="at least 4 identities"):
        open_set(e[:30], found[:30], labels[:30])


def test_breakdown_puts_a_pair_in_its_worse_images_group() -> None:
    e, labels = _clusters(6, 12, 0.05)
    found = np.ones(len(labels), bool)
    face_px = np.where(np.arange(len(labels)) % 2 == 0, 30.0, 100.0).astype(np.float32)
    groups, names = size_groups(face_px, found)
    assert names == ("size_lt40", "size_40_80", "size_80_120", "size_ge120")
    folds = PairFolds(np.array([[[0, 1], [1, 3]]]), np.array([[[0, 12], [1, 13]]]))
    ver = verification(e, found, make_pairs(labels, folds=2, per_fold=5))
    ver.genuine_ok = np.array([[True, False]])
    ver.impostor_ok = np.array([[True, True]])
    ops = open_set(e, found, labels, trials=2)
    flat, rows = breakdown(groups, names, ver, folds, ops)
    small = next(r for r in rows if r["group"] == "size_lt40")
    large = next(r for r in rows if r["group"] == "size_80_120")
    assert (small["pairs"], large["pairs"]) == (2, 2)  # (0,1) and (0,12) have a 30 px image
    assert small["verification_accuracy"] == 1.0 and large["verification_accuracy"] == 0.5
    assert flat["size_80_120_verification_accuracy"] == 0.5
    blur, blur_names, edges = blur_groups(np.arange(9, dtype=np.float32), np.ones(9, bool))
    assert blur.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and blur_names[0] == "blur_soft"
    assert edges[0] < edges[1]
