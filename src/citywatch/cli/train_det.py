"""`citywatch train plate-detector`: the text detector fine-tuned to find whole plates
(needs the ``train`` extra with ``onnx2torch``; the data: Romanian dashcam frames, MIT, and
synthetic plates from the licensed fonts; see docs/models.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citywatch.cli.context import ctx_of

DEFAULT_FONTS = Path("../shared/data/plates/fonts")


def register(train_app: typer.Typer) -> None:
    @train_app.command("plate-detector")
    def train_plate_detector(
        ctx: typer.Context,
        ro: Annotated[
            Path,
            typer.Option(
                help="The dataset/ folder of RobertLucian/license-plate-dataset (MIT; fetch it)"
            ),
        ],
        out: Annotated[Path, typer.Option(help="Run folder (checkpoint.pt); resumes from it")],
        fonts: Annotated[Path, typer.Option(help="Folder of the plate fonts")] = DEFAULT_FONTS,
        steps: Annotated[int, typer.Option(min=1, help="Training steps (batches)")] = 1200,
        batch: Annotated[int, typer.Option(min=1, help="Pictures per step")] = 8,
        lr: Annotated[float, typer.Option(min=1e-7, help="Peak learning rate")] = 5e-4,
        seed: Annotated[int, typer.Option(help="Seed of the data")] = 15,
        drives: Annotated[
            str, typer.Option(help="Comma-separated drives to train on (the rest is held out)")
        ] = "dayride_type1_001,nightride_type3_001",
        threads: Annotated[int, typer.Option(min=1, help="torch threads")] = 2,
        init: Annotated[
            Path | None,
            typer.Option(help="Start from this ONNX detector (default: PP-OCRv4's text detector)"),
        ] = None,
        separable: Annotated[
            bool,
            typer.Option(
                help="Make its full 3x3 convolutions depthwise-separable first (a cheaper "
                "detector; training/det_slim.py)"
            ),
        ] = False,
        distil: Annotated[
            float,
            typer.Option(
                min=0.0,
                help="Weight of matching the starting detector's own probability map (a "
                "cheaper student learning the detector it replaces; 0: none)",
            ),
        ] = 0.0,
        export: Annotated[
            Path | None, typer.Option(help="Write the trained detector here (.onnx)")
        ] = None,
    ) -> None:
        """Fine-tune PP-OCRv4's text detector to find whole plates at a longer side of 320.

        Example: citywatch train plate-detector --ro /tmp/ro/dataset --out var/train/det
        --export plate_det.onnx
        """
        c = ctx_of(ctx)
        try:
            import torch
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            from citywatch.training.plate_det import (
                DetData,
                DetSettings,
                DetTrainError,
                export_checkpoint,
                ro_frames,
                train_det,
            )
            from citywatch.training.plate_render import FontError, load_fonts
        except ImportError as err:
            c.fail(f"citywatch train needs torch and onnx2torch: pip install -e '.[train]' ({err})")
        torch.set_num_threads(threads)
        chosen = tuple(d.strip() for d in drives.split(",") if d.strip())
        if init is not None and not init.is_file():
            c.fail(f"--init {init}: no such file")
        settings = DetSettings(
            seed=seed,
            steps=steps,
            batch=batch,
            lr=lr,
            drives=chosen,
            init=str(init.resolve()) if init is not None else "",
            separable=separable,
            distil=distil,
        )
        try:
            frames = ro_frames(ro, chosen)
            data = DetData(frames, load_fonts(fonts), seed=seed)
        except (DetTrainError, FontError) as err:
            c.fail(str(err))
        c.err.print(f"{len(frames)} frames of {', '.join(chosen)}")
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=c.err) as progress:
            task = progress.add_task("train plate-detector", total=steps, loss=0.0)
            try:
                train_det(
                    data,
                    settings,
                    out,
                    progress=lambda step, loss: progress.update(task, completed=step, loss=loss),
                )
            except DetTrainError as err:
                c.fail(str(err))
        if export is not None:
            try:
                path = export_checkpoint(out / "checkpoint.pt", export)
            except DetTrainError as err:
                c.fail(str(err))
            c.out.print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB)")
