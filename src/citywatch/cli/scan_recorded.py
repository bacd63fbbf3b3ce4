"""`citywatch scan --camera ID --from T1 --to T2 --case REF`: the live pipeline over a
camera's recorded segments, under the rules that held when they were recorded
(:mod:`citywatch.engine.recorded_scan`)."""

from __future__ import annotations

import datetime as dt

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from citywatch.cli.context import CliContext
from citywatch.cli.scan import print_alerts


def scan_recording(
    c: CliContext,
    camera: str,
    start: dt.datetime,
    end: dt.datetime,
    case: str,
    fps: float,
    as_json: bool,
) -> None:
    from citywatch.engine.assemble import Models
    from citywatch.engine.recorded_scan import finish_scan, prepare_scan, run_scan
    from citywatch.engine.scan import ScanReport
    from citywatch.eval.model_card import apply_model_card
    from citywatch.services.common import ServiceError
    from citywatch.vision.prepared import require_prepared_models

    try:
        cfg, _point = apply_model_card(c.config())
    except ValueError as err:
        c.fail(str(err))
    sessions = c.sessions()
    models = Models(cfg)  # loads each model when first used

    def embedding_dim() -> int:  # only when a segment may be analysed for faces
        require_prepared_models(cfg, faces=True, plates=False)
        return models.embedder.dim

    try:
        with sessions() as session:
            scan = prepare_scan(
                session,
                c.actor(),
                c.media(),
                cfg,
                camera_id=camera,
                start=start,
                end=end,
                case_ref=case,
                analyse_fps=fps,
                dim=embedding_dim,
            )
    except ServiceError as err:
        c.fail(str(err), code=1)
    except ValueError as err:  # a model that is not prepared
        c.fail(str(err))
    for plan in scan.plans:
        c.err.print(
            f"{plan.label}: faces {'on' if plan.faces else 'off'}, plates "
            f"{'on' if plan.plates else 'off'}"
            + (f" (watchlists: {', '.join(plan.watchlists)})" if plan.watchlists else ""),
            highlight=False,
        )
    report = ScanReport()
    if scan.needs_faces or scan.needs_plates:
        try:
            require_prepared_models(cfg, faces=scan.needs_faces, plates=scan.needs_plates)
        except ValueError as err:
            c.fail(str(err))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=c.err,
        ) as progress:
            task = progress.add_task(f"camera {camera}", total=None)
            run_scan(scan, cfg, models, report, on_frame=lambda _p, _f: progress.advance(task))
    for problem in report.problems:
        c.err.print(f"[yellow]warning:[/] {problem}", highlight=False)
    for label, why in report.unreadable.items():
        c.err.print(f"[bold red]error:[/] {label}: could not be read: {why}", highlight=False)
    print_alerts(c, report, as_json)
    with sessions() as session:
        summary = finish_scan(session, c.actor(), scan, report)
    c.err.print(
        f"scan of camera {camera} for case {scan.case_ref!r}: {summary['alerts']} alert(s) in "
        f"{len(scan.plans)} segment(s), {report.plate_reads} plate track(s) read, "
        f"{report.faces_discarded} other face track(s) analysed and discarded",
        highlight=False,
    )
    if report.unreadable:
        raise typer.Exit(1)
