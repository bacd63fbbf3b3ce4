"""The plate evaluation's PNG plots are drawn from its reports (nothing shown on screen)."""

from __future__ import annotations

from pathlib import Path

import cv2

from citywatch.eval.plate_clips import ClipOutcome, ClipReport
from citywatch.eval.plate_plots import plot_clips, write_plate_plots
from citywatch.eval.plates import PlateImageReport, PlateOutcome


def outcome(truth: str, read: str, score: float) -> PlateOutcome:
    return PlateOutcome(
        image=f"{truth}.jpg",
        truth=truth,
        read=read,
        score=score,
        found=bool(read),
        exact=read == truth,
        char_accuracy=sum(a == b for a, b in zip(read, truth, strict=False)) / len(truth),
        plate_format="US",
    )


def png_size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not a readable image"
    return image.shape[1], image.shape[0]


def test_photo_plots_are_written_for_each_kind(tmp_path: Path) -> None:
    report = PlateImageReport(
        outcomes=[
            outcome("5DJ0529", "BDJ0529", 0.74),
            outcome("RDN464", "RON464", 0.84),
            outcome("7AWV401", "7AWV401", 0.9),
            outcome("CG2H2U", "", 0.0),
        ]
    )
    paths = write_plate_plots(tmp_path / "plots", report, name="images_us")
    assert set(paths) == {"by_format", "confusions", "scores"}
    for kind, path in paths.items():
        assert path == tmp_path / "plots" / f"images_us_{kind}.png"
        width, height = png_size(path)
        assert width >= 400 and height >= 300


def test_clip_plot_grows_with_the_clips(tmp_path: Path) -> None:
    def clip(name: str, hit: bool) -> ClipOutcome:
        return ClipOutcome(
            clip=name,
            truth=("56JTT5",),
            hits=("56JTT5",) if hit else (),
            false_alerts=() if hit else ("56JTT8",),
            reads=("56JTT5",),
            frames=36,
            moving_frames=30,
            stage_ms=900.0,
            moving_ms=800.0,
            warmup_frames=3,
            warmup_ms=240.0,
            wall_ms=1000.0,
        )

    few = plot_clips(tmp_path / "few.png", ClipReport([clip("a", True)]), title="nl")
    many = ClipReport([clip(f"clip{i}", i % 2 == 0) for i in range(20)])
    wide = plot_clips(tmp_path / "many.png", many, title="nl")
    assert png_size(wide)[0] > png_size(few)[0]
