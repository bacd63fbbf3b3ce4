"""`citywatch scan`: evidence review of recorded footage under a case reference."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from citywatch.cli.context import CliContext, ctx_of

if TYPE_CHECKING:
    from citywatch.engine.scan import ScanReport

DATE_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
#: the analysis rate face decisions are tuned at (cameras' ``analyse_fps`` default): a track is
#: first decided on its first few frames, so at a higher rate they span less of the track
FACE_DECISION_FPS = 5.0


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _expected_frames(video: Path, fps: float) -> int | None:
    import av

    try:
        with av.open(str(video)) as container:
            if container.duration:
                return max(1, int(container.duration / 1_000_000 * fps))
    except (av.error.FFmpegError, OSError):
        return None
    return None


def print_alerts(c: CliContext, report: ScanReport, as_json: bool) -> None:
    """The alerts of a scan, one line (or JSON object) each; recorded footage gives the
    wall-clock time of the first sighting."""
    for a in report.alerts:
        if as_json:
            c.out.print(json.dumps(a.to_json()), highlight=False, soft_wrap=True)
            continue
        when = f"{a.seen_at:%Y-%m-%d %H:%M:%S}Z  " if a.seen_at is not None else ""
        if a.kind == "face":
            c.out.print(
                f"FACE  {when}{a.source}  possible match: {a.subject}  score {a.score:.3f}  "
                f"{a.first_seen_s:.1f}-{a.last_seen_s:.1f} s  track {a.track_id}",
                highlight=False,
            )
        else:
            c.out.print(
                f"PLATE {when}{a.source}  hotlist {a.plate} (read {a.read}, distance "
                f"{a.distance})  conf {a.score:.2f}  {a.first_seen_s:.1f}-"
                f"{a.last_seen_s:.1f} s  track {a.track_id}",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    @app.command()
    def scan(
        ctx: typer.Context,
        videos: Annotated[
            list[Path] | None,
            typer.Argument(help="Video files to analyse (or --camera with --from and --to)"),
        ] = None,
        case: Annotated[
            str, typer.Option("--case", help="Case reference (required: a scan is audited)")
        ] = "",
        watchlist: Annotated[
            Path | None,
            typer.Option(
                help="Folder of photos: one per person, named after them (jane-doe.jpg), "
                "and/or a sub-folder of photos per person (jane-doe/1.jpg)"
            ),
        ] = None,
        hotlist: Annotated[
            str | None,
            typer.Option(
                help="Text file, one plate per line, or the name of a hotlist in the store "
                "(citywatch hotlists list); a file of that name comes first"
            ),
        ] = None,
        fps: Annotated[float, typer.Option(help="Frames analysed per second of video")] = 5.0,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
        camera: Annotated[
            str | None,
            typer.Option(
                help="Scan this camera's continuous recording instead of files (with --from, "
                "--to); the store's watchlists under the authorisations live at each "
                "segment's time, the store's hotlist"
            ),
        ] = None,
        since: Annotated[
            dt.datetime | None,
            typer.Option("--from", formats=DATE_FORMATS, help="Recording from (UTC)"),
        ] = None,
        until: Annotated[
            dt.datetime | None,
            typer.Option("--to", formats=DATE_FORMATS, help="Recording to (UTC)"),
        ] = None,
    ) -> None:
        """Analyse recorded footage for watchlisted people and hotlisted plates.

        A video of which not one frame can be read (empty, not a video, an MP4 without its
        index) is an error: named on stderr and, with --json, as a line {"kind": "error",
        "source": ..., "error": ...}; the scan goes on with the others and exits 1.

        Example: citywatch scan cctv-0412.mp4 --watchlist suspects/ --hotlist plates.txt
        --case CASE-2026-17 --json

        Example (a stored hotlist): citywatch scan cctv-0412.mp4 --hotlist stolen --case
        CASE-2026-17

        Example (recordings, as an investigator): CITYWATCH_ROLE=investigator citywatch scan
        --camera cam-3 --from 2026-11-30T14:00:00 --to 2026-11-30T15:00:00 --case CASE-2026-17
        """
        from citywatch.audit.chain import append
        from citywatch.engine.assemble import Models
        from citywatch.engine.scan import (
            ScanError,
            ScanReport,
            load_hotlist_file,
            load_stored_hotlist,
            load_watchlist_dir,
            scan_videos,
        )
        from citywatch.eval.model_card import apply_model_card
        from citywatch.services.common import unit_of_work
        from citywatch.vision.prepared import require_prepared_models

        c = ctx_of(ctx)
        if not case.strip():
            c.fail("a scan is an investigation: give its case reference with --case")
        if camera is not None or since is not None or until is not None:
            from citywatch.cli.scan_recorded import scan_recording

            if videos or watchlist is not None or hotlist is not None:
                c.fail(
                    "--camera scans the camera's recording with the store's watchlists and "
                    "hotlist: give no video files, --watchlist or --hotlist with it"
                )
            if camera is None or since is None or until is None:
                c.fail("a scan of recordings needs --camera, --from and --to")
            scan_recording(c, camera, _utc(since), _utc(until), case, fps, as_json)
            return
        if not videos:
            c.fail("nothing to scan: give video files, or --camera with --from and --to")
        if watchlist is None and hotlist is None:
            c.fail("nothing to look for: give --watchlist and/or --hotlist")
        for v in videos:
            if not v.is_file():
                c.fail(f"video {v} does not exist")
        try:
            cfg, _point = apply_model_card(c.config())
            # the models the scan needs, before any file is read (names `models prepare`)
            require_prepared_models(cfg, faces=watchlist is not None, plates=hotlist is not None)
        except ValueError as err:  # a broken card, a refused threshold, a missing model
            c.fail(str(err))
        models = Models(cfg)
        report = ScanReport()
        sessions = c.sessions()
        stored = hotlist is not None and not Path(hotlist).is_file()
        try:
            gallery = load_watchlist_dir(watchlist, models, cfg, report) if watchlist else None
            if hotlist is None:
                matcher, n_plates = None, 0
            elif stored:
                matcher, n_plates = load_stored_hotlist(sessions, c.actor(), hotlist, case, cfg)
            else:
                matcher, n_plates = load_hotlist_file(Path(hotlist), cfg)
        except ScanError as err:
            c.fail(str(err))
        details = {
            "videos": [str(v) for v in videos],
            "watchlist_dir": str(watchlist) if watchlist else None,
            "subjects": sorted(set(gallery.subject_names)) if gallery is not None else [],
            "hotlist_file": hotlist if hotlist and not stored else None,
            "hotlist": hotlist if stored else None,
            "hotlist_plates": n_plates,
        }
        with sessions() as session, unit_of_work(session):
            append(session, c.actor(), "scan.start", f"case:{case}", details=details, reason=case)

        for problem in report.problems:
            c.err.print(f"[yellow]warning:[/] {problem}", highlight=False)
        if gallery is not None and fps > FACE_DECISION_FPS:
            c.err.print(
                f"[yellow]warning:[/] --fps {fps:g}: a face track is first decided on its first "
                f"frames, tuned at {FACE_DECISION_FPS:g} fps; faster, they span less of the "
                f"track and a scan can miss matches a {FACE_DECISION_FPS:g} fps scan finds "
                "(docs/face-footage.md)",
                highlight=False,
            )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=c.err,
            transient=False,
        ) as progress:
            tasks = {v: progress.add_task(v.name, total=_expected_frames(v, fps)) for v in videos}
            seen_problems = len(report.problems)
            scan_videos(
                videos,
                gallery,
                matcher,
                cfg,
                models,
                report,
                analyse_fps=fps,
                on_frame=lambda v, _f: progress.advance(tasks[v]),
            )
            for v in videos:
                t = tasks[v]
                progress.update(t, total=progress.tasks[t].completed)
        for problem in report.problems[seen_problems:]:
            c.err.print(f"[yellow]warning:[/] {problem}", highlight=False)

        for video, why in report.unreadable.items():
            c.err.print(f"[bold red]error:[/] {video}: could not be read: {why}", highlight=False)
            if as_json:
                line = {"kind": "error", "source": video, "error": f"could not be read: {why}"}
                c.out.print(json.dumps(line), highlight=False, soft_wrap=True)
        print_alerts(c, report, as_json)
        summary = {
            "alerts": len(report.alerts),
            "face_alerts": sum(a.kind == "face" for a in report.alerts),
            "plate_alerts": sum(a.kind == "plate" for a in report.alerts),
            "plate_reads": report.plate_reads,
            "faces_discarded": report.faces_discarded,
            "frames": report.frames,
            "problems": report.problems,
            "unreadable": report.unreadable,
        }
        with sessions() as session, unit_of_work(session):
            append(session, c.actor(), "scan.finish", f"case:{case}", details=summary, reason=case)
        unread = len(report.unreadable)
        c.err.print(
            f"scan for case {case!r}: {summary['alerts']} alert(s), "
            f"{report.plate_reads} plate track(s) read, {report.faces_discarded} other face "
            f"track(s) analysed and discarded"
            + (f"; {unread} of {len(videos)} video(s) could not be read" if unread else ""),
            highlight=False,
        )
        if unread:
            raise typer.Exit(1)
