"""`citywatch eval faces`, `citywatch eval face-pairs`, `citywatch calibrate faces`.

Thin: load the data, build the live face back ends from the config, call
:mod:`citywatch.eval`, print with Rich, write JSON / PNG / the model card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from citywatch.cli.context import CliContext, ctx_of
from citywatch.cli.evaluate import add_host_load
from citywatch.cli.evaluate import threads_or_all_cores as _threads
from citywatch.config.root import CitywatchConfig
from citywatch.eval.host_load import LoadMeter

if TYPE_CHECKING:
    from citywatch.eval.face_data import Layout

T = TypeVar("T")

LayoutOpt = Annotated[
    str,
    typer.Option(
        "--layout",
        help="auto | aligned (crops already aligned, all one size) | photo (detect faces)",
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="Inference threads (default: all CPU cores)"),
]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the flat metrics here")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write PNG plots into this folder")]


def _layout(c: CliContext, value: str) -> Layout:
    if value not in ("auto", "aligned", "photo"):
        c.fail(f"--layout must be auto, aligned or photo, got {value!r}")
    return cast("Layout", value)


@contextmanager
def _progress(c: CliContext, label: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=c.err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _config(c: CliContext) -> CitywatchConfig:
    from citywatch.eval.model_card import ModelCardError, ThresholdRefused, apply_model_card

    try:
        config, _ = apply_model_card(c.config())
    except (ModelCardError, ThresholdRefused) as err:
        c.fail(str(err))
    return config


def _run(c: CliContext, what: str, fn: Callable[[], T]) -> T:
    from citywatch.eval.face_data import FaceDataError
    from citywatch.vision.faces.registry import FaceBackendError

    try:
        return fn()
    except (FaceDataError, FaceBackendError, ValueError) as err:
        c.fail(f"{what}: {err}")


def register(eval_app: typer.Typer, calibrate_app: typer.Typer) -> None:
    @eval_app.command("faces")
    def eval_faces(
        ctx: typer.Context,
        identities: Annotated[
            Path, typer.Option("--identities", help="Folder of <identity>/<image> files")
        ],
        json_out: JsonOpt = None,
        plot: PlotOpt = None,
        layout: LayoutOpt = "auto",
        threads: ThreadsOpt = None,
    ) -> None:
        """Verification (LFW-style 10 folds) and open-set identification on labelled faces.

        Example: citywatch eval faces --identities ../shared/data/faces/identities
        --json faces.json --plot plots/
        """
        from citywatch.eval.common import write_json
        from citywatch.eval.face_data import FacePipeline, load_identities
        from citywatch.eval.face_report import print_identity_report, write_identity_plots
        from citywatch.eval.faces import evaluate_identities

        c = ctx_of(ctx)
        chosen = _layout(c, layout)
        data = _run(c, "identities", lambda: load_identities(identities))
        config = _config(c)
        pipeline = _run(
            c, "face models", lambda: FacePipeline.from_config(config, threads=_threads(threads))
        )
        with LoadMeter() as load, _progress(c, "embedding faces", len(data)) as advance:
            report = _run(
                c,
                str(identities),
                lambda: evaluate_identities(data, pipeline, layout=chosen, progress=advance),
            )
        report.metrics["threads"] = _threads(threads)
        add_host_load(c, load, report.metrics)
        print_identity_report(c.out, report)
        if json_out is not None:
            write_json(json_out, report.metrics)
            c.err.print(f"metrics written to {json_out}")
        if plot is not None:
            files = write_identity_plots(report, plot)
            c.err.print(f"{len(files)} plots written to {plot}")

    @eval_app.command("face-pairs")
    def eval_face_pairs(
        ctx: typer.Context,
        pairs: Annotated[
            Path, typer.Option("--pairs", help="CSV with img1,img2,same (paths relative to it)")
        ],
        json_out: JsonOpt = None,
        plot: PlotOpt = None,
        layout: LayoutOpt = "auto",
        threads: ThreadsOpt = None,
    ) -> None:
        """Verification on labelled photo pairs, face detection included.

        Example: citywatch eval face-pairs
        --pairs ../shared/data/faces/verification_pairs/pairs_pivot.csv --json pairs.json
        """
        from citywatch.eval.common import write_json
        from citywatch.eval.face_data import FacePipeline, load_pairs
        from citywatch.eval.face_pairs import evaluate_pairs
        from citywatch.eval.face_report import print_pairs_report, write_pairs_plots

        c = ctx_of(ctx)
        chosen = _layout(c, layout)
        data = _run(c, "pairs", lambda: load_pairs(pairs))
        config = _config(c)
        pipeline = _run(
            c, "face models", lambda: FacePipeline.from_config(config, threads=_threads(threads))
        )
        with LoadMeter() as load, _progress(c, "embedding photos", len(data.files)) as advance:
            report = _run(
                c,
                str(pairs),
                lambda: evaluate_pairs(data, pipeline, layout=chosen, progress=advance),
            )
        report.metrics["threads"] = _threads(threads)
        add_host_load(c, load, report.metrics)
        print_pairs_report(c.out, report)
        if json_out is not None:
            write_json(json_out, report.metrics)
            c.err.print(f"metrics written to {json_out}")
        if plot is not None:
            files = write_pairs_plots(report, plot, config.faces.threshold)
            c.err.print(f"{len(files)} plots written to {plot}")

    @calibrate_app.command("faces")
    def calibrate_faces(
        ctx: typer.Context,
        identities: Annotated[
            Path, typer.Option("--identities", help="Folder of <identity>/<image> files")
        ],
        target_fpir: Annotated[
            float,
            typer.Option("--target-fpir", min=1e-6, max=0.5, help="False positive rate allowed"),
        ] = 0.003,
        card: Annotated[
            Path | None,
            typer.Option("--card", help="Model card to write (default: faces.model_card)"),
        ] = None,
        hard: Annotated[
            bool,
            typer.Option(
                "--hard/--no-hard",
                help="Also calibrate on hard impostors: nearest other identity, CCTV-sized and "
                "blurred faces, and the face tracks of --footage clips",
            ),
        ] = True,
        footage: Annotated[
            list[Path] | None,
            typer.Option("--footage", help="A clip nobody of --identities appears in (repeatable)"),
        ] = None,
        target_per_1000: Annotated[
            float,
            typer.Option(
                "--target-per-1000",
                min=1e-3,
                max=1000,
                help="False alerts per 1,000 face tracks allowed (hard impostors)",
            ),
        ] = 1.0,
        assumed_watchlist: Annotated[
            int,
            typer.Option(
                "--assumed-watchlist",
                min=1,
                help="People on the watchlist the false-alert rate is stated for",
            ),
        ] = 100,
        json_out: JsonOpt = None,
        plot: PlotOpt = None,
        layout: LayoutOpt = "auto",
        threads: ThreadsOpt = None,
    ) -> None:
        """Choose the face threshold for a target FPIR and write it into a model card.

        With --hard (the default) the threshold is also high enough for hard impostors at
        --target-per-1000 false alerts per 1,000 tracks with --assumed-watchlist people.

        Example: citywatch calibrate faces --identities ../shared/data/faces/identities
        --target-fpir 0.003 --footage ../shared/data/faces/crowd_video/video.mp4
        --card var/model_card.json
        """
        from citywatch.eval.common import metrics_table, write_json
        from citywatch.eval.face_data import FacePipeline, load_identities
        from citywatch.eval.face_report import print_identity_report, write_identity_plots
        from citywatch.eval.faces import evaluate_identities
        from citywatch.eval.model_card import calibrate

        c = ctx_of(ctx)
        chosen = _layout(c, layout)
        base = c.config()
        target = card if card is not None else base.faces.model_card
        if target is None:
            c.fail("where should the model card go? give --card PATH or set faces.model_card")
        data = _run(c, "identities", lambda: load_identities(identities))
        pipeline = _run(
            c, "face models", lambda: FacePipeline.from_config(base, threads=_threads(threads))
        )
        with LoadMeter() as load, _progress(c, "embedding faces", len(data)) as advance:
            report = _run(
                c,
                str(identities),
                lambda: evaluate_identities(data, pipeline, layout=chosen, progress=advance),
            )
        add_host_load(c, load, report.metrics)
        hard_sets = None
        if hard and report.embedded is not None:
            from citywatch.eval.hard_impostors import footage_impostors, identity_hard_sets

            embedded = report.embedded
            with _progress(c, "hard impostors (CCTV faces)", len(data)) as advance:
                hard_sets = _run(
                    c,
                    "hard impostors",
                    lambda: identity_hard_sets(data, embedded, pipeline, progress=advance),
                )
            if footage:
                clips = list(footage)
                n = _run(
                    c,
                    "footage",
                    lambda: footage_impostors(hard_sets, data, embedded, clips, base),
                )
                c.err.print(f"{n} face tracks of {len(clips)} clip(s) added as impostors")
            report.metrics.update(hard_sets.metrics())
        from citywatch.vision.faces.registry import training_data

        result = _run(
            c,
            "calibration",
            lambda: calibrate(
                report,
                target_fpir=target_fpir,
                hard=hard_sets,
                target_per_1000=target_per_1000,
                assumed_watchlist=assumed_watchlist,
                training_data=training_data(base.faces.embedder),
            ),
        )
        print_identity_report(c.out, report)
        c.out.print(
            metrics_table(
                f"Operating point for FPIR {target_fpir:g}",
                {
                    "threshold (equitable point)": result.threshold,
                    "threshold over all searches": result.overall_threshold,
                    "threshold the hard impostors ask for": result.hard_threshold,
                    "expected false alerts per 1,000 tracks": (
                        result.expected_false_alerts_per_1000_tracks
                    ),
                    "assumed watchlist size": result.assumed_watchlist_size,
                    **{f"threshold {k}": v for k, v in result.group_thresholds.items()},
                    **result.rates,
                },
            )
        )
        result.save(target)
        c.err.print(f"model card written to {target}")
        if json_out is not None:
            write_json(json_out, {**report.metrics, "threshold": result.threshold})
        if plot is not None:
            write_identity_plots(report, plot)


def register_footage(eval_app: typer.Typer) -> None:
    @eval_app.command("face-footage")
    def eval_face_footage(
        ctx: typer.Context,
        truth: Annotated[
            Path,
            typer.Option("--truth", help="CSV clip,subjects (subjects ';'-separated, empty: none)"),
        ],
        watchlist: Annotated[
            Path,
            typer.Option(
                "--watchlist", help="Folder: a photo per person, or a folder of photos per person"
            ),
        ],
        clips: Annotated[
            Path | None,
            typer.Option("--clips", help="Folder the truth file's clip paths are relative to"),
        ] = None,
        fps: Annotated[
            float, typer.Option("--fps", min=0.1, max=60, help="Frames analysed per second")
        ] = 5.0,
        json_out: JsonOpt = None,
        plot: PlotOpt = None,
        threads: ThreadsOpt = None,
    ) -> None:
        """Face alerts on footage through the live pipeline: true, missed and false alerts,
        tracks analysed, false alerts per 1,000 tracks, score margins.

        Example: citywatch eval face-footage --truth bench/face_footage_truth.csv
        --clips ../shared/data --watchlist var/face-suite/watchlist --json footage.json
        """
        from citywatch.engine.assemble import Models
        from citywatch.engine.scan import ScanError, ScanReport, load_watchlist_dir
        from citywatch.eval.common import metrics_table, rows_table, write_json
        from citywatch.eval.face_footage import (
            FootageError,
            check_clips,
            evaluate_footage,
            load_footage_truth,
            write_footage_plots,
        )

        c = ctx_of(ctx)
        rows = _run(c, "truth", lambda: load_footage_truth(truth))
        root = clips if clips is not None else truth.parent
        _run(c, str(truth), lambda: check_clips(rows, root))
        config = _config(c)
        config = config.model_copy(
            update={"models": config.models.model_copy(update={"threads": _threads(threads)})}
        )
        models = Models(config)
        enrol = ScanReport()
        try:
            gallery = _run(
                c, "watchlist", lambda: load_watchlist_dir(watchlist, models, config, enrol)
            )
        except ScanError as err:
            c.fail(f"watchlist: {err}")
        for problem in enrol.problems:
            c.err.print(f"[yellow]enrolment:[/] {problem}", highlight=False)
        try:
            with LoadMeter() as load:
                report = _run(
                    c,
                    str(truth),
                    lambda: evaluate_footage(
                        rows,
                        root,
                        gallery,
                        config,
                        models,
                        analyse_fps=fps,
                        on_clip=lambda r: c.err.print(
                            f"{r.clip}: {len(r.alerts)} alert(s), {r.tracks_analysed} track(s) "
                            f"analysed, {r.seconds:.0f} s",
                            highlight=False,
                        ),
                    ),
                )
        except FootageError as err:
            c.fail(str(err))
        report.enrolment_problems = list(enrol.problems)
        metrics = report.metrics()
        metrics.update(_card_expectation(config, report.watchlist_entries))
        metrics["threads"] = _threads(threads)
        metrics["analyse_fps"] = fps
        add_host_load(c, load, metrics)
        c.out.print(rows_table("Face alerts per clip", report.rows()))
        for r in report.clips:
            if r.note():
                c.err.print(f"{r.clip}: {r.note()}", highlight=False)
            for magnet in r.magnets:
                c.err.print(f"[yellow]lookalike magnet[/] ({r.clip}): {magnet}", highlight=False)
        c.out.print(metrics_table("Face alerts on footage", metrics))
        if json_out is not None:
            write_json(json_out, metrics)
            c.err.print(f"metrics written to {json_out}")
        if plot is not None:
            files = write_footage_plots(report, plot)
            c.err.print(f"{len(files)} plots written to {plot}")


def _card_expectation(config: CitywatchConfig, entries: int) -> dict[str, float | int | None]:
    """The model card's expected false alerts per 1,000 tracks, beside the measured figure:
    as the card states it (for its assumed watchlist size) and scaled to this watchlist."""
    from citywatch.eval.model_card import ModelCard

    if config.faces.model_card is None:
        return {}
    card = ModelCard.load(config.faces.model_card)
    stated = card.expected_false_alerts_per_1000_tracks
    scaled = None
    if stated is not None and card.assumed_watchlist_size > 0:
        scaled = round(stated * entries / card.assumed_watchlist_size, 3)
    return {
        "card_expected_false_alerts_per_1000_tracks": stated,
        "card_assumed_watchlist_size": card.assumed_watchlist_size,
        "card_expected_at_this_watchlist": scaled,
    }
