"""The report's charts: matplotlib figures (no pyplot state: one Figure per chart, drawn by
the Agg canvas), returned as PNG data URIs for a report that is a single file."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from citywatch.services.register import MonthStatistics
from citywatch.services.report import DayStatistics

OK, BAD, WARN, FACE, PLATE, INK, GRID = (
    "#2f9e44",
    "#e03131",
    "#f08c00",
    "#7048e8",
    "#d9a400",
    "#343a40",
    "#dee2e6",
)


def _figure(height: float = 2.6) -> Figure:
    fig = Figure(figsize=(8.2, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _style(ax: object) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(GRID)
    ax.spines["bottom"].set_color(GRID)
    ax.tick_params(colors=INK, labelsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _stacked(
    ax: object, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]]
) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    x = list(range(len(labels)))
    bottom = [0] * len(labels)
    for name, values, colour in series:
        ax.bar(x, values, bottom=bottom, color=colour, label=name, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(x, labels)
    ax.legend(frameon=False, fontsize=8, ncols=len(series), loc="upper left")
    ax.set_ylim(0, max([*bottom, 1]) * 1.3)


def review_by_day(days: Sequence[DayStatistics]) -> str:
    """Alerts per day of the month: confirmed, rejected (false alerts), pending."""
    fig = _figure()
    ax = fig.add_subplot()
    _style(ax)
    labels = [str(d.day.day) if d.day.day % 2 else "" for d in days]
    _stacked(
        ax,
        labels,
        [
            ("confirmed", [d.counts.confirmed for d in days], OK),
            ("rejected (false alerts)", [d.counts.rejected for d in days], BAD),
            ("pending", [d.counts.pending for d in days], WARN),
        ],
    )
    ax.set_ylabel("alerts", fontsize=8, color=INK)
    ax.set_xlabel("day of the month (UTC)", fontsize=8, color=INK)
    return to_data_uri(fig)


def analysis_by_day(days: Sequence[DayStatistics]) -> str:
    """Faces analysed and plate reads per day (two panels: their scales differ)."""
    fig = _figure(3.2)
    axes = fig.subplots(1, 2)
    x = [d.day.day for d in days]
    for ax, key, colour, title in (
        (axes[0], "faces_analysed", FACE, "faces analysed (counted, never stored)"),
        (axes[1], "plate_reads", PLATE, "plate reads"),
    ):
        _style(ax)
        ax.bar(x, [getattr(d.counts, key) for d in days], color=colour, width=0.75)
        ax.set_title(title, fontsize=9, color=INK, loc="left")
        ax.set_xlabel("day (UTC)", fontsize=8, color=INK)
    fig.tight_layout()
    return to_data_uri(fig)


def trend_by_month(trend: Sequence[MonthStatistics]) -> str:
    """The last twelve months: alerts by review outcome."""
    fig = _figure()
    ax = fig.add_subplot()
    _style(ax)
    _stacked(
        ax,
        [m.month for m in trend] or ["-"],
        [
            ("confirmed", [m.confirmed for m in trend] or [0], OK),
            ("rejected (false alerts)", [m.rejected for m in trend] or [0], BAD),
            ("pending", [m.pending for m in trend] or [0], WARN),
        ],
    )
    ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylabel("alerts", fontsize=8, color=INK)
    return to_data_uri(fig)
