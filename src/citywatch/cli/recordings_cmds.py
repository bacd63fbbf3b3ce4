"""`citywatch recordings verify | export | timeline`: recorded footage for a case.

``verify`` needs no database and no config: it is what the court's expert runs, with the
published Ed25519 public key (or the HMAC secret).  Exit codes: 0 verified, 1 the export does
not verify, 2 usage error (no key, a bad argument).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citywatch.cli.audit_cmds import KeyFile
from citywatch.cli.context import CliContext, ctx_of

if TYPE_CHECKING:
    from citywatch.audit.keys import AuditKey

recordings = typer.Typer(
    help="Continuous recording: signed evidence exports and their offline check.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(recordings, name="recordings")


def _key(c: CliContext, key_file: Path | None) -> AuditKey:
    from citywatch.audit.keys import AuditKeyError, load_key

    try:
        return load_key(key_file)
    except AuditKeyError as err:
        c.fail(str(err))


@recordings.command("verify")
def recordings_verify(
    ctx: typer.Context,
    export: Annotated[
        Path, typer.Argument(help="An export folder or zip from `citywatch recordings export`")
    ],
    key_file: KeyFile = None,
) -> None:
    """Check an evidence export offline: the manifest's signature and every file's SHA-256.

    Exits 1 naming every problem: a changed byte, a missing or added file, a changed manifest
    field, or a signature by another key.

    Example: citywatch recordings verify CASE-2026-17-cam3.zip --key-file audit-ed25519.pub.pem
    """
    from citywatch.audit.evidence_export import describe, verify_export

    c = ctx_of(ctx)
    check = verify_export(export, _key(c, key_file))
    if check.ok:
        c.out.print(
            f"[green]export verified[/]: {check.files_checked} file(s) match the signed "
            f"manifest; {describe(check.manifest)}",
            highlight=False,
        )
        return
    c.err.print(
        f"[bold red]export does NOT verify[/]: {len(check.problems)} problem(s)", highlight=False
    )
    for problem in check.problems:
        c.err.print(f"  - {problem}", highlight=False, markup=False)
    raise typer.Exit(1)


DATE_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


@recordings.command("export")
def recordings_export(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option("--camera", help="Camera id")],
    since: Annotated[
        dt.datetime, typer.Option("--from", formats=DATE_FORMATS, help="From (UTC, inclusive)")
    ],
    until: Annotated[
        dt.datetime, typer.Option("--to", formats=DATE_FORMATS, help="To (UTC, exclusive)")
    ],
    case: Annotated[str, typer.Option("--case", help="Case reference (required, audited)")],
    out: Annotated[
        Path, typer.Option("--out", help="Export to write: a folder, or a zip if it ends in .zip")
    ],
    key_file: KeyFile = None,
) -> None:
    """Export a camera's recording of a time range as signed evidence for a case.

    The range is cut by stream copy (no re-encode), widened to whole groups of pictures; the
    manifest names camera, range, case, you and the time, with every file's SHA-256, and is
    signed with the audit key.  Only an investigator ($CITYWATCH_ROLE) may export; the export
    is audited.  Check it with `citywatch recordings verify`.

    Example: CITYWATCH_ROLE=investigator citywatch recordings export --camera cam-3
    --from 2026-11-30T14:00:00 --to 2026-11-30T14:10:00 --case CASE-2026-17
    --out CASE-2026-17-cam-3.zip --key-file audit-ed25519.pem
    """
    from citywatch.services.common import ServiceError
    from citywatch.services.recording_export import export_recording

    c = ctx_of(ctx)
    key = _key(c, key_file)
    try:
        with c.sessions()() as session:
            result = export_recording(
                session,
                c.actor(),
                c.media(),
                key,
                camera_id=camera,
                start=_utc(since),
                end=_utc(until),
                case_ref=case,
                out=out,
            )
    except ServiceError as err:
        c.fail(str(err), code=1)
    files = [f for f in result.files if f["path"].endswith(".mp4")]
    c.out.print(
        f"[green]exported[/] {len(files)} file(s) to {result.path}, "
        f"{sum(f['bytes'] for f in files):,} bytes, signed {key.alg} key {key.key_id}",
        highlight=False,
    )
    for f in files:
        c.out.print(f"  {f['path']}  sha256 {f['sha256']}", highlight=False)


@recordings.command("timeline")
def recordings_timeline(
    ctx: typer.Context,
    camera: Annotated[str, typer.Option("--camera", help="Camera id")],
    since: Annotated[
        dt.datetime, typer.Option("--from", formats=DATE_FORMATS, help="From (UTC, inclusive)")
    ],
    until: Annotated[
        dt.datetime, typer.Option("--to", formats=DATE_FORMATS, help="To (UTC, exclusive)")
    ],
    case: Annotated[str, typer.Option("--case", help="Case reference (required, audited)")],
) -> None:
    """What was recorded of a camera in a range (at most 24 h), and its alerts there.

    Only an investigator ($CITYWATCH_ROLE) may look; the look is audited with the range.

    Example: CITYWATCH_ROLE=investigator citywatch recordings timeline --camera cam-3
    --from 2026-11-30T14:00:00 --to 2026-11-30T18:00:00 --case CASE-2026-17
    """
    from rich.table import Table

    from citywatch.services.common import ServiceError
    from citywatch.services.playback import timeline

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            tl = timeline(
                session, c.actor(), camera, start=_utc(since), end=_utc(until), case_ref=case
            )
            alerts = [
                (a.id, a.kind, a.seen_at, a.subject_name or a.plate or "", a.status)
                for a in tl.alerts
            ]
    except ServiceError as err:
        c.fail(str(err), code=1)
    ranges = Table(title=f"recorded: camera {tl.camera_id} ({tl.camera_name})")
    for col in ("from (UTC)", "to (UTC)", "segments"):
        ranges.add_column(col)
    for r in tl.ranges:
        ranges.add_row(
            f"{r.start:%Y-%m-%d %H:%M:%S}", f"{r.end:%Y-%m-%d %H:%M:%S}", str(r.segments)
        )
    c.out.print(ranges)
    if not tl.ranges:
        c.out.print("nothing was recorded in this range")
    table = Table(title=f"alerts ({len(alerts)})")
    for col in ("id", "kind", "seen (UTC)", "who / plate", "status"):
        table.add_column(col)
    for aid, kind, seen, who, status in alerts:
        table.add_row(str(aid), kind, f"{seen:%Y-%m-%d %H:%M:%S}", who, status)
    c.out.print(table)
