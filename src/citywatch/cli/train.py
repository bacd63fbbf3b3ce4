"""`citywatch train plates` and `citywatch train plates-export`: the plate recogniser trained on
synthetic plates (needs the ``train`` extra: ``pip install -e '.[train]'``); `citywatch train
plate-detector` is in :mod:`citywatch.cli.train_det`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citywatch.cli import train_crops, train_det
from citywatch.cli.context import ctx_of

DEFAULT_FONTS = Path("../shared/data/plates/fonts")


def _torch_or_fail() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ImportError(
            "citywatch train needs torch: pip install -e '.[train]' (a CPU wheel is enough)"
        ) from None


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(
        help="Train models of our own (needs the train extra: pip install -e '.[train]').",
        no_args_is_help=True,
    )
    app.add_typer(train_app, name="train")
    train_det.register(train_app)
    train_crops.register(train_app)

    @train_app.command("plates")
    def train_plates(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option(help="Run folder (checkpoint, log); resumes from it")],
        fonts: Annotated[
            Path, typer.Option(help="Folder of the plate fonts (gl-nummernschild, dinish, barlow)")
        ] = DEFAULT_FONTS,
        steps: Annotated[int, typer.Option(min=1, help="Training steps (batches)")] = 20_000,
        batch: Annotated[int, typer.Option(min=1, help="Synthetic plates per step")] = 32,
        lr: Annotated[
            float | None,
            typer.Option(
                min=1e-7,
                help="Peak learning rate (default 3e-3 scratch, 5e-4 plate-crnn, 1e-4 ppocr)",
            ),
        ] = None,
        init: Annotated[
            str,
            typer.Option(
                help="scratch: plate-crnn from random weights; plate-crnn: the shipped "
                "plate-crnn trained further; ppocr: fine-tune the shipped PP-OCRv4 "
                "recogniser; ppocrv6: fine-tune PP-OCRv6 small (prepared by "
                "`citywatch models prepare`); ppocrv6-plates: the shipped fine-tune of it "
                "trained further (the three need onnx2torch; one-line plates only)"
            ),
        ] = "scratch",
        height: Annotated[
            int | None,
            typer.Option(
                help="PP-OCR inits: the input height to learn to read at (32, 48 or 64; "
                "default the model's 48; fewer rows cost less per plate)"
            ),
        ] = None,
        col_step: Annotated[
            int | None,
            typer.Option(
                help="PP-OCRv6 inits: input columns per output step, 4 or 8 (default its 8; "
                "4 gives a crop read fewer rows high as many steps per character)"
            ),
        ] = None,
        boost: Annotated[
            str,
            typer.Option(help="Draw a format's styles more often, e.g. US=3 (comma-separated)"),
        ] = "",
        stroke_share: Annotated[
            float,
            typer.Option(
                min=0.0,
                max=1.0,
                help="Share of the US plates drawn in the project's own stroke lettering "
                "(training/plate_glyphs.py) instead of Barlow and DINish",
            ),
        ] = 0.0,
        real: Annotated[
            Path | None,
            typer.Option(help="A folder of real plate crops (`citywatch train plate-crops`)"),
        ] = None,
        real_share: Annotated[
            float,
            typer.Option(min=0.0, max=0.99, help="Share of the samples drawn from --real"),
        ] = 0.3,
        seed: Annotated[int, typer.Option(help="Seed of the data and the weights")] = 15,
        formats: Annotated[
            str, typer.Option(help="Comma-separated plate formats to draw (default: all)")
        ] = "",
        threads: Annotated[
            int, typer.Option(min=1, help="CPU threads for torch (1 leaves the others free)")
        ] = 1,
        minutes: Annotated[
            float | None, typer.Option(min=0.1, help="Stop (checkpointed) after this long")
        ] = None,
        export: Annotated[
            Path | None, typer.Option(help="Write the trained model as ONNX here at the end")
        ] = None,
        stop_at: Annotated[
            int | None,
            typer.Option(min=1, help="Stop (checkpointed) at this step of the --steps schedule"),
        ] = None,
    ) -> None:
        """Train the CTC plate recogniser on synthetic plates (seeded; run again to resume).

        Example: citywatch train plates --out var/train/plates --steps 6000 --export plate.onnx

        Fine-tuning PP-OCRv4: citywatch train plates --init ppocr --out var/train/ppocr
        --steps 1200 --batch 16
        """
        c = ctx_of(ctx)
        try:
            _torch_or_fail()
        except ImportError as err:
            c.fail(str(err))
        import torch
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from citywatch.training.plate_export import export_onnx
        from citywatch.training.plate_real import MixedSource, RealCrops, SampleSource
        from citywatch.training.plate_render import FontError, load_fonts
        from citywatch.training.plate_synth import PlateSynth
        from citywatch.training.plate_train import (
            INITS,
            PPOCR_INITS,
            TrainingError,
            TrainSettings,
            train,
        )
        from citywatch.training.plate_train import Progress as TrainProgress

        if init not in INITS:
            c.fail(f"--init {init!r}: expected one of {', '.join(INITS)}")
        if lr is None:
            lr = 1e-4 if init in PPOCR_INITS else 5e-4 if init == "plate-crnn" else 3e-3

        torch.set_num_threads(threads)
        mixing = real is not None and real_share > 0  # real crops drawn at all
        chosen = tuple(f.strip() for f in formats.split(",") if f.strip()) or None
        try:
            factors = tuple(
                (k.strip(), float(v)) for k, v in (b.split("=") for b in boost.split(",") if b)
            )
        except ValueError:
            c.fail(f"--boost {boost!r}: expected FORMAT=FACTOR[,FORMAT=FACTOR]")
        try:
            font_set = load_fonts(fonts)
            one_line = init in PPOCR_INITS  # PP-OCR reads one line
            kw = {
                "formats": chosen,
                "one_line": one_line,
                "boost": dict(factors),
                "stroke_share": stroke_share,
            }
            synth: SampleSource = PlateSynth(font_set, seed=seed, **kw)  # type: ignore[arg-type]
            val = PlateSynth(font_set, seed=seed + 10_000, **kw)  # type: ignore[arg-type]
            if mixing and real is not None:
                synth = MixedSource(synth, RealCrops(real), real_share, seed)
        except (FontError, ValueError) as err:
            c.fail(str(err))
        settings = TrainSettings(
            seed=seed,
            steps=steps,
            batch=batch,
            lr=lr,
            formats=chosen,
            init=init,
            boost=factors,
            stroke_share=stroke_share,
            real=str(real) if mixing else "",
            real_share=real_share if mixing else 0.0,
            height=height,
            col_step=col_step,
        )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f} val exact {task.fields[val]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=c.err) as progress:
            task = progress.add_task("train plates", total=steps, loss=0.0, val="-")

            def on_step(p: TrainProgress) -> None:
                val = "-" if p.val_exact is None else f"{p.val_exact:.3f}"
                if p.val_exact is None:
                    progress.update(task, completed=p.step, loss=p.loss)
                else:
                    progress.update(task, completed=p.step, loss=p.loss, val=val)

            try:
                last = train(
                    settings,
                    synth,
                    val,
                    out,
                    max_seconds=None if minutes is None else minutes * 60.0,
                    stop_at=stop_at,
                    on_step=on_step,
                )
            except TrainingError as err:
                c.fail(str(err))
        c.out.print(f"trained to step {last.get('step')}: {last}", highlight=False)
        if export is not None:
            try:
                path = export_onnx(out / "checkpoint.pt", export)
            except TrainingError as err:
                c.fail(str(err))
            c.out.print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB)")

    @train_app.command("plates-export")
    def plates_export(
        ctx: typer.Context,
        checkpoint: Annotated[Path, typer.Option(help="checkpoint.pt of a training run")],
        out: Annotated[Path, typer.Option(help="The ONNX file to write")],
        plate_classes: Annotated[
            bool,
            typer.Option(
                help="Fine-tuned PP-OCR: keep only the plate symbols, separators, space and "
                "blank in the last layer (smaller, faster; softmax over those alone)"
            ),
        ] = False,
        blend: Annotated[
            float,
            typer.Option(
                min=0.01,
                max=1.0,
                help="Fine-tuned PP-OCR: the share of the fine-tuned weights in an average with "
                "the original model's (WiSE-FT; 1 = fine-tuned alone)",
            ),
        ] = 1.0,
        half: Annotated[
            bool,
            typer.Option(
                help="Fine-tuned PP-OCR: store the weights as float16 (half the file; refused "
                "where that moves a probability more than 0.02 on the check's inputs)"
            ),
        ] = True,
    ) -> None:
        """Export a plate recogniser checkpoint to ONNX (checked against torch).

        Example: citywatch train plates-export --checkpoint var/train/plates/checkpoint.pt
        --out plate.onnx
        """
        c = ctx_of(ctx)
        try:
            _torch_or_fail()
        except ImportError as err:
            c.fail(str(err))
        from citywatch.training.plate_export import export_onnx
        from citywatch.training.plate_train import TrainingError

        if not checkpoint.is_file():
            c.fail(f"checkpoint {checkpoint} does not exist")
        try:
            path = export_onnx(checkpoint, out, plate_classes=plate_classes, blend=blend, half=half)
        except TrainingError as err:
            c.fail(str(err))
        c.out.print(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB)")
