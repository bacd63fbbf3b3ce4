"""Console tables and PNG plots of the face evaluations (`--plot DIR`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console

from citywatch.eval.common import (
    Metrics,
    metrics_table,
    plot_det,
    plot_histogram,
    plot_roc,
    plot_threshold_table,
    rows_table,
    threshold_at_far,
    threshold_rows,
)
from citywatch.eval.face_pairs import PairsReport
from citywatch.eval.faces import IdentityReport

#: Operating points listed in the per-threshold tables (model-agnostic: set by impostor rates).
TABLE_FARS = (0.1, 0.03, 0.01, 0.003, 0.001)

HEADLINE = (
    "verification_accuracy",
    "tar_at_far_1e-3",
    "tar_at_far_1e-2",
    "fnir_at_fpir_0.01",
    "fnir_at_fpir_0.003",
    "rank1",
    "fpir_measured_at_0.01",
    "fpir_measured_at_0.003",
    "ms_per_face",
    "ms_per_face_embed",
    "cpu_ms_per_face",
    "ms_per_face_single",
    "embed_batch",
    "threads",
    "host_other_busy",
    "host_steal",
    "detect_failures",
)


def headline(metrics: Metrics) -> Metrics:
    """The metrics worth a first look, in a fixed order, then the set's description."""
    out = {k: metrics[k] for k in HEADLINE if k in metrics}
    for k in ("dataset", "model", "detector", "layout", "images", "faces", "pairs"):
        if k in metrics:
            out[k] = metrics[k]
    return out


def print_identity_report(console: Console, report: IdentityReport) -> None:
    console.print(
        metrics_table("Face recognition on labelled identities", headline(report.metrics))
    )
    rows = [r for r in report.rows if r.get("images")]
    console.print(rows_table("By image quality (held-out decisions)", rows))


def print_pairs_report(console: Console, report: PairsReport) -> None:
    groups = tuple(str(r["group"]) for r in report.rows)
    plain = {k: v for k, v in report.metrics.items() if not k.startswith(groups)}
    console.print(metrics_table("Face verification on photo pairs", plain))
    console.print(rows_table("By image quality (held-out decisions)", report.rows))


def _threshold_rows(
    positive: np.ndarray, negative: np.ndarray, extra: dict[str, float]
) -> list[Metrics]:
    finite_neg = negative[np.isfinite(negative)]
    points: list[tuple[str, float]] = []
    if finite_neg.size:
        points += [(f"far {f:g}", threshold_at_far(finite_neg, f)) for f in TABLE_FARS]
    points += list(extra.items())
    points.sort(key=lambda p: p[1])
    rows = threshold_rows(positive, negative, [t for _, t in points])
    return [{"point": name, **row} for (name, _), row in zip(points, rows, strict=True)]


def write_identity_plots(report: IdentityReport, folder: Path) -> list[Path]:
    folder = Path(folder)
    v, o = report.verification, report.open_set
    genuine, impostor = v.genuine.ravel(), v.impostor.ravel()
    mated, nonmated = o.pooled()
    out = [
        plot_det(
            folder / "faces_det.png",
            {
                "verification (FAR / FRR)": (genuine, impostor),
                "open set (FPIR / FNIR)": (mated, nonmated),
            },
            title="DET: identities",
            x_label="FAR / FPIR",
            y_label="FRR / FNIR",
            marks=(1e-3, 1e-2),
        ),
        plot_roc(folder / "faces_roc.png", {"verification": (genuine, impostor)}, title="ROC"),
        plot_histogram(
            folder / "faces_hist_verification.png",
            genuine,
            impostor,
            title="Verification scores",
            labels=("genuine pairs", "impostor pairs"),
            thresholds={"best acc.": float(v.thresholds.mean())},
        ),
        plot_histogram(
            folder / "faces_hist_open_set.png",
            mated,
            nonmated,
            title="Open-set search scores (best candidate)",
            labels=("mated (right candidate)", "non-mated"),
        ),
    ]
    rows = _threshold_rows(mated, nonmated, {})
    out.append(
        plot_threshold_table(
            folder / "faces_thresholds.png",
            [
                {
                    "point": str(r["point"]).replace("far", "fpir"),
                    "threshold": r["threshold"],
                    "fpir": r["far"],
                    "fnir": r["frr"],
                }
                for r in rows
            ],
            title="Open set: FNIR and FPIR per threshold (pooled rounds)",
        )
    )
    quality = [r for r in report.rows if r.get("images")]
    if quality:
        out.append(plot_threshold_table(folder / "faces_quality.png", quality, title="By quality"))
    return out


def write_pairs_plots(report: PairsReport, folder: Path, live_threshold: float) -> list[Path]:
    folder = Path(folder)
    g, i = report.genuine, report.impostor
    extra = {"best acc. (cv)": report.threshold, "config": live_threshold}
    rows = _threshold_rows(g, i, extra)
    return [
        plot_det(folder / "pairs_det.png", {"pairs": (g, i)}, title="DET: photo pairs"),
        plot_roc(folder / "pairs_roc.png", {"pairs": (g, i)}, title="ROC: photo pairs"),
        plot_histogram(
            folder / "pairs_hist.png",
            g,
            i,
            title="Photo pair scores",
            labels=("same person", "different people"),
            thresholds=extra,
        ),
        plot_threshold_table(folder / "pairs_thresholds.png", rows, title="Per threshold"),
    ]


def list_files(paths: Sequence[Path]) -> str:
    return ", ".join(p.name for p in paths)
