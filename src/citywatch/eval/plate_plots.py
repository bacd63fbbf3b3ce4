"""PNG plots of a plate evaluation: accuracy per plate format, read scores of right and wrong
reads, and the character confusions behind the wrong ones.  matplotlib's object API only (no
pyplot state), so plots can be drawn from any thread."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from citywatch.eval.common import new_figure, save_figure
from citywatch.eval.plate_clips import ClipReport
from citywatch.eval.plates import PlateImageReport


def plot_by_format(path: Path, rows: Sequence[tuple[str, float, int]], *, title: str) -> Path:
    """Bars of the exact rate per plate format, labelled with the plate counts."""
    fig = new_figure(max(5.0, 0.7 * len(rows) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    names = [r[0] for r in rows]
    rates = [r[1] for r in rows]
    bars = ax.bar(range(len(rows)), rates, color="tab:blue")
    for bar, (_, rate, count) in zip(bars, rows, strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            rate + 0.01,
            f"{rate:.2f}\n(n={count})",
            ha="center",
            va="bottom",
            fontsize="x-small",
        )
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize="small")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("exact rate")
    ax.set_title(title)
    return save_figure(fig, path)


def plot_confusions(
    path: Path, pairs: Counter[tuple[str, str]], *, title: str, top: int = 24
) -> Path:
    """A matrix of (true, read) character confusions, restricted to the characters of the
    ``top`` most frequent pairs; ``-`` is a missing or extra character."""
    fig = new_figure(6.5, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    common = pairs.most_common(top)
    if not common:
        ax.text(0.5, 0.5, "no character errors", ha="center", va="center")
        ax.axis("off")
        ax.set_title(title)
        return save_figure(fig, path)
    truths = sorted({t for (t, _), _ in common})
    reads = sorted({r for (_, r), _ in common})
    mat = np.zeros((len(truths), len(reads)), np.int64)
    for (t, r), n in common:
        mat[truths.index(t), reads.index(r)] = n
    im = ax.imshow(mat, cmap="Reds")
    ax.set_xticks(range(len(reads)), reads)
    ax.set_yticks(range(len(truths)), truths)
    ax.set_xlabel("read as")
    ax.set_ylabel("true character")
    for i in range(len(truths)):
        for j in range(len(reads)):
            if mat[i, j]:
                ax.text(j, i, str(mat[i, j]), ha="center", va="center", fontsize="x-small")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_scores(path: Path, right: Sequence[float], wrong: Sequence[float], *, title: str) -> Path:
    """Histograms of the read score (0..1) of right and wrong reads: where a score threshold
    would cut."""
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    bins = np.linspace(0.0, 1.0, 41).tolist()
    ax.hist(np.asarray(wrong, float), bins=bins, alpha=0.6, label=f"wrong ({len(wrong)})")
    ax.hist(np.asarray(right, float), bins=bins, alpha=0.6, label=f"right ({len(right)})")
    ax.set_xlabel("read score (OCR confidence x format fit)")
    ax.set_ylabel("reads")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def write_plate_plots(folder: Path, report: PlateImageReport, *, name: str) -> Mapping[str, Path]:
    """All plots of one evaluation into ``folder``; returns {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    found = [o for o in report.outcomes if o.found]
    right = [o.score for o in found if o.exact]
    wrong = [o.score for o in found if not o.exact]
    out = {
        "by_format": plot_by_format(
            folder / f"{name}_by_format.png", report.by_format(), title=f"{name}: exact rate"
        ),
        "confusions": plot_confusions(
            folder / f"{name}_confusions.png",
            report.confusions(),
            title=f"{name}: character errors of wrong reads",
        ),
    }
    out["scores"] = plot_scores(
        folder / f"{name}_scores.png", right, wrong, title=f"{name}: read scores"
    )
    return out


def plot_clips(path: Path, report: ClipReport, *, title: str) -> Path:
    """Per clip: plate search time per analysed frame, green when every true plate was
    alerted, red when one was missed; false alerts are written above the bar."""
    outcomes = report.outcomes
    fig = new_figure(max(6.0, 0.45 * len(outcomes) + 2), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ms = [o.stage_ms / max(1, o.frames) for o in outcomes]
    colours = ["tab:green" if len(o.hits) == len(o.truth) else "tab:red" for o in outcomes]
    bars = ax.bar(range(len(outcomes)), ms, color=colours)
    for bar, o in zip(bars, outcomes, strict=True):
        if o.false_alerts:
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height(),
                f"{len(o.false_alerts)} false",
                ha="center",
                va="bottom",
                fontsize="x-small",
                color="tab:red",
            )
    ax.set_xticks(range(len(outcomes)), [o.clip for o in outcomes], rotation=60, ha="right")
    ax.tick_params(axis="x", labelsize="x-small")
    ax.set_ylabel("ms per analysed frame (motion + plates)")
    hits = sum(len(o.hits) for o in outcomes)
    total = sum(len(o.truth) for o in outcomes)
    ax.set_title(f"{title}: {hits}/{total} plates alerted (green: all alerted)")
    return save_figure(fig, path)
