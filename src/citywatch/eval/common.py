"""Metrics and report output shared by every `citywatch eval` command and the benchmarks.

Scores are similarities: a pair (or a search) is *accepted* when ``score >= threshold``.
Verification speaks of genuine / impostor pairs (TAR, FAR); open-set identification of mated /
non-mated searches (FNIR, FPIR).  The same functions serve both: give a mated search whose
top candidate is the wrong identity the score ``-inf`` (it is missed at every threshold), and
FNIR(t) = 1 - TAR(t), FPIR(t) = FAR(t).

Reports are flat: ``{"verification_accuracy": 0.97, "tar_at_far_1e-3": 0.91, ...}``, written
as JSON (:func:`write_json`), printed as a Rich table (:func:`print_metrics`) and, with
``--plot``, drawn as PNG files (:func:`plot_det`, :func:`plot_histogram`,
:func:`plot_threshold_table`).  Plots use matplotlib's object API (no pyplot state).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from citywatch.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Scalar = float | int | str | bool | None
#: A flat report: metric name -> number (or a short string such as the data set's name).
Metrics = dict[str, Scalar]
Scores = npt.ArrayLike


class MetricsError(ValueError):
    """Scores or a report have the wrong shape (empty score list, nested report, ...)."""


def _scores(name: str, values: Scores) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, np.float64).reshape(-1)
    if np.isnan(arr).any():
        raise MetricsError(f"{name}: scores contain NaN")
    return arr


def _nonempty(name: str, values: Scores) -> npt.NDArray[np.float64]:
    arr = _scores(name, values)
    if arr.size == 0:
        raise MetricsError(f"{name}: no scores")
    return arr


# -- operating points ---------------------------------------------------------------------


def accept_rate(scores: Scores, threshold: float) -> float:
    """Share of ``scores`` at or above ``threshold`` (0.0 for an empty list)."""
    s = _scores("scores", scores)
    return float((s >= threshold).mean()) if s.size else 0.0


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of ``right`` of ``n`` ((0, 1) when ``n`` is 0)."""
    if n <= 0:
        return (0.0, 1.0)
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar test of two readers on the same items: ``only_a`` items only the
    first got right, ``only_b`` only the second.  The chance of a split at least this uneven
    if both were equally good (each discordant item a fair coin)."""
    if only_a < 0 or only_b < 0:
        raise MetricsError(f"mcnemar_p: counts must not be negative, got {only_a}, {only_b}")
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def threshold_at_far(impostor: Scores, far: float) -> float:
    """The lowest threshold at which at most ``far`` of the impostor scores are accepted.

    With n impostor scores, ``floor(far * n)`` of them may pass: the threshold sits just above
    the next-highest one.  ``far >= 1`` accepts everything (``-inf``)."""
    if not far >= 0.0:
        raise MetricsError(f"threshold_at_far: far must be >= 0, got {far}")
    s = np.sort(_nonempty("impostor", impostor))[::-1]
    allowed = math.floor(far * s.size + 1e-9)
    if allowed >= s.size:
        return -math.inf
    return float(np.nextafter(s[allowed], math.inf))


def tar_at_far(genuine: Scores, impostor: Scores, far: float) -> float:
    """TAR at the threshold :func:`threshold_at_far` picks on these impostor scores (a point
    read off the ROC of one set; for a held-out figure pick the threshold on another)."""
    g = _nonempty("genuine", genuine)
    return accept_rate(g, threshold_at_far(impostor, far))


def fnir_at_fpir(mated: Scores, nonmated: Scores, fpir: float) -> float:
    """FNIR at the threshold where FPIR = ``fpir`` (mated scores: ``-inf`` for a wrong rank 1)."""
    return 1.0 - tar_at_far(mated, nonmated, fpir)


def accuracy_at(genuine: Scores, impostor: Scores, threshold: float) -> float:
    """Share of all pairs classified right: genuine accepted, impostor rejected."""
    g, i = _scores("genuine", genuine), _scores("impostor", impostor)
    n = g.size + i.size
    if n == 0:
        raise MetricsError("accuracy_at: no pairs")
    return float(((g >= threshold).sum() + (i < threshold).sum()) / n)


def best_accuracy_threshold(genuine: Scores, impostor: Scores) -> float:
    """The threshold with the highest accuracy on these pairs (LFW's "choose on 9 folds").

    Candidates are midpoints between neighbouring distinct scores (and both ends); ties go to
    the candidate nearest the middle of the tied range, so the choice does not hug a score."""
    g, i = _nonempty("genuine", genuine), _nonempty("impostor", impostor)
    u = np.unique(np.concatenate([g, i]))
    cands = np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])
    gs, is_ = np.sort(g), np.sort(i)
    accepted_g = g.size - np.searchsorted(gs, cands, side="left")
    rejected_i = np.searchsorted(is_, cands, side="left")
    correct = accepted_g + rejected_i
    best = np.flatnonzero(correct == correct.max())
    return float(cands[best[len(best) // 2]])


@dataclass(frozen=True, slots=True)
class Curve:
    """Error trade-off of one score set: at ``thresholds[k]``, ``accept_pos[k]`` of the
    positives (genuine / mated) and ``accept_neg[k]`` of the negatives are accepted."""

    thresholds: npt.NDArray[np.float64]
    accept_pos: npt.NDArray[np.float64]
    accept_neg: npt.NDArray[np.float64]


def curve(positive: Scores, negative: Scores) -> Curve:
    """TAR and FAR at every distinct score (descending thresholds)."""
    p, n = _nonempty("positive", positive), _nonempty("negative", negative)
    finite = np.concatenate([p, n])
    thr = np.unique(finite[np.isfinite(finite)])[::-1]
    ps, ns = np.sort(p), np.sort(n)
    tar = (p.size - np.searchsorted(ps, thr, side="left")) / p.size
    far = (n.size - np.searchsorted(ns, thr, side="left")) / n.size
    return Curve(thr, tar.astype(np.float64), far.astype(np.float64))


def threshold_rows(
    positive: Scores, negative: Scores, thresholds: Sequence[float]
) -> list[Metrics]:
    """One row per threshold: accept rates of positives and negatives and their errors."""
    p, n = _scores("positive", positive), _scores("negative", negative)
    rows: list[Metrics] = []
    for t in thresholds:
        tar, far = accept_rate(p, t), accept_rate(n, t)
        rows.append({"threshold": float(t), "tar": tar, "far": far, "frr": 1.0 - tar})
    return rows


# -- reports ------------------------------------------------------------------------------


def check_flat(metrics: Mapping[str, object]) -> Metrics:
    """``metrics`` as a plain dict, refusing nested values (reports have flat keys)."""
    out: Metrics = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise MetricsError(f"report key {key!r}: keys must be non-empty strings")
        if isinstance(value, np.generic):
            value = value.item()
        if value is not None and not isinstance(value, (float, int, str, bool)):
            raise MetricsError(
                f"report key {key!r}: value must be a number, string, bool or null, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no inf/NaN
        out[key] = value
    return out


def write_json(path: Path, metrics: Mapping[str, object]) -> Path:
    """Write a flat report as indented JSON (atomic), keys in the given order."""
    flat = check_flat(metrics)
    data = json.dumps(flat, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    atomic_write_bytes(Path(path), data)
    return Path(path)


def format_value(value: Scalar) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def metrics_table(title: str, metrics: Mapping[str, object]) -> Table:
    flat = check_flat(metrics)
    table = Table(title=title)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for key, value in flat.items():
        table.add_row(key, format_value(value))
    return table


def rows_table(title: str, rows: Sequence[Mapping[str, object]]) -> Table:
    """A table of uniform flat rows (the columns are the first row's keys)."""
    table = Table(title=title)
    if not rows:
        return table
    keys = list(check_flat(rows[0]))
    for key in keys:
        table.add_column(key, justify="left" if key == keys[0] else "right")
    for row in rows:
        flat = check_flat(row)
        table.add_row(*(format_value(flat.get(k)) for k in keys))
    return table


def print_metrics(console: Console, title: str, metrics: Mapping[str, object]) -> None:
    console.print(metrics_table(title, metrics))


# -- plots --------------------------------------------------------------------------------


def new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    """A matplotlib figure without pyplot's global state (safe from any thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """``fig`` laid out and written to ``path`` (its folder made); the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_det(
    path: Path,
    curves: Mapping[str, tuple[Scores, Scores]],
    *,
    title: str,
    x_label: str = "FAR (false accept rate)",
    y_label: str = "FRR (false reject rate)",
    marks: Sequence[float] = (),
) -> Path:
    """DET plot (log-log error trade-off): for each label, (positive, negative) scores.
    ``marks`` draws vertical lines at operating points on the x axis (e.g. FAR 1e-3)."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    floor = 1.0
    for label, (pos, neg) in curves.items():
        c = curve(pos, neg)
        npos, nneg = np.asarray(pos).size, np.asarray(neg).size
        floor = min(floor, 0.5 / max(npos, 1), 0.5 / max(nneg, 1))
        ax.plot(c.accept_neg, 1.0 - c.accept_pos, label=label, drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(floor, 1.0)
    for m in marks:
        ax.axvline(m, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return save_figure(fig, path)


def plot_roc(path: Path, curves: Mapping[str, tuple[Scores, Scores]], *, title: str) -> Path:
    """ROC plot: TAR against FAR (log x axis)."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    floor = 1.0
    for label, (pos, neg) in curves.items():
        c = curve(pos, neg)
        floor = min(floor, 0.5 / max(np.asarray(neg).size, 1))
        ax.plot(np.maximum(c.accept_neg, floor), c.accept_pos, label=label, drawstyle="steps-post")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("FAR (false accept rate)")
    ax.set_ylabel("TAR (true accept rate)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return save_figure(fig, path)


def plot_histogram(
    path: Path,
    positive: Scores,
    negative: Scores,
    *,
    title: str,
    labels: tuple[str, str] = ("mated", "non-mated"),
    thresholds: Mapping[str, float] | None = None,
) -> Path:
    """Score histograms of positives and negatives, with threshold lines."""
    p = _scores("positive", positive)
    n = _scores("negative", negative)
    p, n = p[np.isfinite(p)], n[np.isfinite(n)]
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    both = np.concatenate([p, n])
    bins: int | list[float] = (
        np.linspace(float(both.min()), float(both.max()), 60).tolist() if both.size else 10
    )
    ax.hist(n, bins=bins, alpha=0.6, density=True, label=f"{labels[1]} ({n.size})")
    ax.hist(p, bins=bins, alpha=0.6, density=True, label=f"{labels[0]} ({p.size})")
    for name, t in (thresholds or {}).items():
        ax.axvline(t, color="black", linestyle="--", linewidth=0.8)
        ax.text(t, ax.get_ylim()[1] * 0.95, f" {name}", fontsize="x-small", va="top")
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_threshold_table(path: Path, rows: Sequence[Mapping[str, object]], *, title: str) -> Path:
    """A per-threshold table drawn as a PNG (the same rows also go to the JSON / console)."""
    flat = [check_flat(r) for r in rows]
    keys = list(flat[0]) if flat else []
    cells = [[format_value(r.get(k)) for k in keys] for r in flat]
    fig = new_figure(1.4 * max(len(keys), 1) + 1, 0.32 * (len(cells) + 2) + 0.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    ax.set_title(title)
    if cells:
        tbl = ax.table(cellText=cells, colLabels=keys, loc="center")
        tbl.auto_set_font_size(False)
        tbl.set_fontsize(8)
    return save_figure(fig, path)
