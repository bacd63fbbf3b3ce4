"""`citywatch eval plates` and `citywatch eval plate-clips`: measured plate accuracy.

Both run the configured plate back end through the code live cameras run (the plate stage;
for clips the whole camera pipeline with motion gate, tracker, voter and hotlist matcher),
print a Rich table, and write ``--json`` (flat keys) and ``--plot`` PNGs on request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from citywatch.cli.context import CliContext, ctx_of
from citywatch.cli.evaluate import add_host_load, threads_or_all_cores
from citywatch.config.root import CitywatchConfig


def _progress(c: CliContext) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=c.err,
        transient=True,
    )


def _use_plates(c: CliContext, option: str, update: dict[str, Any]) -> None:
    """Run with the config's ``plates`` section changed by ``update`` (validated; a bad value
    fails naming ``option``)."""
    from pydantic import ValidationError

    from citywatch.config.plates import PlatesConfig

    cfg = c.config()
    try:
        plates = PlatesConfig.model_validate({**cfg.plates.model_dump(), **update})
    except ValidationError as err:
        c.fail(f"{option}: {err.errors()[0]['msg']}")
    c.use_config(cfg.model_copy(update={"plates": plates}))


def _formats(c: CliContext, formats: str) -> None:
    """Override the configured plate formats with a comma-separated list (validated)."""
    if formats:
        _use_plates(
            c, f"--formats {formats!r}", {"formats": [f.strip() for f in formats.split(",")]}
        )


RecogniserOpt = Annotated[
    str,
    typer.Option(
        "--recogniser",
        help="Read with this recogniser instead of the config's (ppocrv4, ppocrv6-small, "
        "ppocrv6-plates, plate-crnn, auto)",
    ),
]


def _recogniser_option(c: CliContext, name: str) -> None:
    """Override plates.reader.recogniser (validated) when ``name`` is given."""
    if name:
        reader = {**c.config().plates.reader.model_dump(), "recogniser": name}
        _use_plates(c, f"--recogniser {name!r}", {"reader": reader})


ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="Inference threads per plate model (default: all CPU cores, as for eval faces; "
        "live cameras use plates.reader.threads)",
    ),
]


def _threads(c: CliContext, threads: int | None) -> int:
    """Set the plate models' threads for this run (default: all CPU cores; on 2 cores, photos
    taking turns between 1 and 2 threads gave 95 vs 85 ms per EU photo and 179 vs 152 per US
    photo); returns the number used."""
    n = threads_or_all_cores(threads)
    reader = {**c.config().plates.reader.model_dump(), "threads": n}
    _use_plates(c, f"--threads {n}", {"reader": reader})
    return n


def _require_plate_model(c: CliContext) -> None:
    """Stop, naming the model and `citywatch models prepare`, when the recogniser the config
    reads with is not prepared (never read with another one instead)."""
    from citywatch.vision.prepared import ModelsNotPrepared, require_prepared_models

    try:
        require_prepared_models(c.config(), faces=False, plates=True)
    except ModelsNotPrepared as err:
        c.fail(str(err))


def _recogniser(cfg: CitywatchConfig) -> str:
    """What the plate stage reads with: RapidOCR's greedy reader, a model path, or the name of
    the shipped recogniser (``auto`` resolved)."""
    from citywatch.vision.plates.recognisers import reader_model

    r = cfg.plates.reader
    if r.decoder == "greedy":
        return "rapidocr-greedy"
    label, _ = reader_model(r.recogniser, r.rec_model, cfg.plates.formats, cfg.models.cache_dir)
    return label


def register(eval_app: typer.Typer, calibrate_app: typer.Typer) -> None:
    """Add ``plates`` and ``plate-clips`` to ``eval_app`` (plates have nothing to calibrate
    yet: ``calibrate_app`` is left as it is)."""

    @eval_app.command("plates")
    def eval_plates(
        ctx: typer.Context,
        images: Annotated[
            Path, typer.Option(help="Folder of photos with openalpr-style NAME.txt truth")
        ],
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the flat metrics here")
        ] = None,
        plot: Annotated[Path | None, typer.Option(help="Write PNG plots into this folder")] = None,
        subset: Annotated[
            str, typer.Option(help="all, or one stable half of the photos: a or b")
        ] = "all",
        formats: Annotated[
            str,
            typer.Option(
                help="Plate formats to use instead of the config's: those of the region the "
                "photos come from (e.g. US, or HR,RS,DE,SK,CZ,EU); a generic format early in "
                "the list takes reads that the region's layouts would have repaired"
            ),
        ] = "",
        errors: Annotated[bool, typer.Option(help="List every plate read wrong")] = False,
        threads: ThreadsOpt = None,
        recogniser: RecogniserOpt = "",
    ) -> None:
        """Plate reading on still photos: exact_rate, char_accuracy, found_rate, ms_per_image.

        Example: citywatch eval plates --images ../shared/data/plates/images_eu --json eu.json
        --plot plots/
        """
        from citywatch.eval.common import print_metrics, rows_table, write_json
        from citywatch.eval.host_load import LoadMeter
        from citywatch.eval.plates import (
            TruthError,
            evaluate_photos,
            load_photos,
            outcome_rows,
        )
        from citywatch.vision.plates.build import build_plate_stage, detector_kind

        c = ctx_of(ctx)
        if subset not in ("all", "a", "b"):
            c.fail(f"--subset {subset!r}: expected all, a or b")
        half: Literal["all", "a", "b"] = subset  # type: ignore[assignment]
        _formats(c, formats)
        n_threads = _threads(c, threads)
        _recogniser_option(c, recogniser)
        try:
            photos = load_photos(images, half)
        except TruthError as err:
            c.fail(str(err))
        _require_plate_model(c)
        cfg = c.config()
        stage = build_plate_stage(cfg.plates, track=False, cache_dir=cfg.models.cache_dir)
        with LoadMeter() as load, _progress(c) as progress:
            task = progress.add_task(images.name, total=len(photos))
            report = evaluate_photos(
                photos,
                stage.read_plates,
                formats=stage.formats,
                on_photo=lambda _p: progress.advance(task),
            )
        metrics = report.metrics(images.name, half)
        metrics["formats"] = ",".join(cfg.plates.formats)
        if metrics["plates_fitting_no_format"]:
            c.err.print(
                f"[yellow]note:[/] {metrics['plates_fitting_no_format']} of {metrics['plates']} "
                f"true plates fit none of the formats {metrics['formats']} (only generic "
                "rules can read them): set --formats to the region's",
                highlight=False,
            )
        metrics["backend"] = cfg.plates.reader.type
        metrics["recogniser"] = _recogniser(cfg)
        metrics["detector"] = detector_kind(cfg.plates)
        metrics["threads"] = n_threads
        add_host_load(c, load, metrics)
        if errors:
            c.out.print(rows_table("plates read wrong", outcome_rows(report)))
        print_metrics(c.out, f"plates: {images}", metrics)
        if json_out is not None:
            write_json(json_out, metrics)
            c.err.print(f"metrics written to {json_out}", highlight=False)
        if plot is not None:
            from citywatch.eval.plate_plots import write_plate_plots

            paths = write_plate_plots(plot, report, name=images.name)
            c.err.print(f"plots written: {', '.join(str(p) for p in paths.values())}")

    @eval_app.command("plate-clips")
    def eval_plate_clips(
        ctx: typer.Context,
        clips: Annotated[Path, typer.Option(help="Folder of video clips")],
        ground_truth: Annotated[
            Path, typer.Option(help="CSV with the columns clip,plate (more are ignored)")
        ],
        fps: Annotated[float, typer.Option(help="Frames analysed per second of video")] = 5.0,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the flat metrics here")
        ] = None,
        plot: Annotated[Path | None, typer.Option(help="Write PNG plots into this folder")] = None,
        formats: Annotated[
            str, typer.Option(help="Plate formats to use instead of the config's, e.g. NL")
        ] = "",
        details: Annotated[bool, typer.Option(help="List every clip with its reads")] = False,
        threads: ThreadsOpt = None,
        recogniser: RecogniserOpt = "",
    ) -> None:
        """Hotlist alerts on clips through the live pipeline: clip_hit_rate, false_alerts,
        ms_per_frame.  Every true plate is put on the hotlist.

        Example: citywatch eval plate-clips --clips ../shared/data/plates/video_nl/clips
        --ground-truth ../shared/data/plates/video_nl/per_clip_ground_truth.csv --json nl.json
        """
        from citywatch.engine.assemble import Models
        from citywatch.eval.common import print_metrics, rows_table, write_json
        from citywatch.eval.host_load import LoadMeter
        from citywatch.eval.plate_clips import evaluate_clips, load_clip_truth, outcome_rows
        from citywatch.eval.plates import TruthError

        c = ctx_of(ctx)
        if not 0 < fps <= 60:
            c.fail(f"--fps {fps}: expected a value in (0, 60]")
        _formats(c, formats)
        try:
            truth = load_clip_truth(ground_truth)
        except TruthError as err:
            c.fail(str(err))
        n_threads = _threads(c, threads)
        _recogniser_option(c, recogniser)
        _require_plate_model(c)
        cfg = c.config()
        models = Models(cfg)
        with LoadMeter() as load, _progress(c) as progress:
            task = progress.add_task(clips.name, total=len(truth))
            try:
                report = evaluate_clips(
                    clips,
                    truth,
                    cfg,
                    models,
                    analyse_fps=fps,
                    on_clip=lambda _o: progress.advance(task),
                )
            except TruthError as err:
                c.fail(str(err))
        metrics = report.metrics(clips.name)
        metrics["formats"] = ",".join(cfg.plates.formats)
        metrics["analyse_fps"] = fps
        metrics["threads"] = n_threads
        add_host_load(c, load, metrics)
        for o in report.outcomes:
            if o.problem:
                c.err.print(f"[yellow]warning:[/] {o.clip}: {o.problem}", highlight=False)
        if details:
            c.out.print(rows_table("clips", outcome_rows(report)))
        print_metrics(c.out, f"plate clips: {clips}", metrics)
        if json_out is not None:
            write_json(json_out, metrics)
            c.err.print(f"metrics written to {json_out}", highlight=False)
        if plot is not None:
            from citywatch.eval.plate_plots import plot_clips

            path = plot_clips(plot / f"{clips.name}_clips.png", report, title=str(clips.name))
            c.err.print(f"plot written: {path}")
