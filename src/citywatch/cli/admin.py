"""Administration commands: cameras, authorisations, watchlists, hotlists."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from citywatch.cli.config_edit import ConfigEditError, with_camera
from citywatch.cli.context import DEFAULT_CONFIG, ctx_of, dataclass_table
from citywatch.config.root import ConfigError, parse_config
from citywatch.services.common import ServiceError
from citywatch.sources.redact import redact_url, url_secrets

cameras = typer.Typer(help="The camera register.", no_args_is_help=True)
authorisations = typer.Typer(help="Authorisations for face recognition.", no_args_is_help=True)
watchlists = typer.Typer(help="Watchlists and their subjects.", no_args_is_help=True)
hotlists = typer.Typer(help="Plate hotlists.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cameras, name="cameras")
    app.add_typer(authorisations, name="authorisations")
    app.add_typer(watchlists, name="watchlists")
    app.add_typer(hotlists, name="hotlists")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# ----------------------------------------------------------------------------- cameras


@cameras.command("add")
def cameras_add(
    ctx: typer.Context,
    camera_id: Annotated[str, typer.Argument(help="Stable id, e.g. junction-12")],
    url: Annotated[str, typer.Option(help="rtsp://, http(s):// or a file; secrets as ${ENV}")],
    purpose: Annotated[list[str], typer.Option(help="face and/or plate (repeat)")],
    legal_basis: Annotated[str, typer.Option(help="Legal-basis reference")],
    impact_assessment: Annotated[str, typer.Option(help="Impact-assessment (DPIA) reference")],
    approved_on: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD")],
    name: Annotated[str, typer.Option(help="Human-readable name")] = "",
    lat: Annotated[float | None, typer.Option(help="Latitude")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude")] = None,
    zone: Annotated[str, typer.Option(help="Zone (published when the location is withheld)")] = "",
    operator: Annotated[str, typer.Option(help="Who runs the camera")] = "",
) -> None:
    """Register a camera and add it to the config file, keeping its comments, order and quoting
    (the previous file is kept as .bak).

    Example: citywatch cameras add junction-12 --url 'rtsp://viewer:${J12_PW}@10.1.2.12/s1'
    --purpose plate --legal-basis 'Road Traffic Act art. 43' --impact-assessment DPIA-4
    --approved-on 2026-03-01 --lat 44.81 --lon 20.46
    """
    from citywatch.services.cameras import RegistrationError, register_camera

    c = ctx_of(ctx)
    if url_secrets(url) and "${" not in url:
        c.fail(
            f"camera {camera_id!r}: the URL holds a password; write it as an environment "
            f"reference instead, e.g. {redact_url(url).replace('***', 'user:${CAM_PASSWORD}')}"
        )
    entry: dict[str, Any] = {
        "id": camera_id,
        "url": url,
        "purposes": purpose,
        "legal_basis": legal_basis,
        "impact_assessment": impact_assessment,
        "approved_on": approved_on.date(),
    }
    for key, value in (("name", name), ("zone", zone), ("operator", operator)):
        if value:
            entry[key] = value
    if lat is not None and lon is not None:
        entry["location"] = {"lat": lat, "lon": lon}
    path = c.config_path or DEFAULT_CONFIG
    try:
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        after = with_camera(before, entry)
    except (OSError, ConfigEditError) as err:
        c.fail(f"{path}: {err}")
    data = yaml.safe_load(after)
    try:
        cfg = parse_config(data, source=str(path), base_dir=path.absolute().parent)
    except ConfigError as err:
        c.fail(str(err))
    c.use_config(cfg)
    cam = next(x for x in cfg.cameras if x.id == camera_id)
    try:
        with c.sessions()() as session:
            register_camera(session, cam, c.actor())
    except RegistrationError as err:
        c.fail(str(err))
    if path.is_file():
        shutil.copyfile(path, path.with_suffix(path.suffix + ".bak"))
    path.write_text(after, encoding="utf-8")
    c.out.print(f"camera {camera_id!r} registered and written to {path}")


@cameras.command("list")
def cameras_list(ctx: typer.Context) -> None:
    """The camera register: purposes, legal basis, impact assessment, location.

    Example: citywatch cameras list
    """
    from citywatch.services.cameras import list_cameras

    c = ctx_of(ctx)
    with c.sessions()() as session:
        rows = list_cameras(session)
        table = Table(title="camera register")
        cols = ("id", "name", "purposes", "legal basis", "DPIA", "approved", "where", "url")
        for col in (*cols, "analysed (detect_url)"):
            table.add_column(col)
        for r in rows:
            where = f"{r.lat:.5f},{r.lon:.5f}" if r.lat is not None and r.lon is not None else ""
            table.add_row(
                r.id,
                r.name,
                ",".join(r.purposes),
                r.legal_basis,
                r.impact_assessment,
                str(r.approved_on or ""),
                where or r.zone,
                r.url_redacted,
                r.detect_url_redacted or "",
            )
    c.out.print(table)


@cameras.command("status")
def cameras_status(ctx: typer.Context) -> None:
    """Health of the cameras of a running `citywatch run` (state, fps, reconnects, errors).

    A camera whose health file has not been rewritten for a few intervals (the run was
    killed or hangs) shows as stale, with the age of its last record.

    Example: citywatch cameras status
    """
    import time

    from citywatch.cli.health_view import status_table
    from citywatch.engine.local import read_health

    c = ctx_of(ctx)
    now = time.time()
    health = read_health(c.config().store.state_dir, now=now)
    if not health:
        c.out.print("no camera health recorded yet (is `citywatch run` running?)")
        return
    c.out.print(status_table(health, now))


# ----------------------------------------------------------------------- authorisations


@authorisations.command("create")
def authorisations_create(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The authorisation's reference")],
    authority: Annotated[str, typer.Option(help="Who issued it")],
    purpose: Annotated[str, typer.Option(help="e.g. missing person, imminent threat")],
    starts: Annotated[dt.datetime, typer.Option(help="Start (UTC)")],
    ends: Annotated[dt.datetime, typer.Option(help="End (UTC)")],
    camera: Annotated[list[str] | None, typer.Option(help="Camera in scope (repeat)")] = None,
    zone: Annotated[list[str] | None, typer.Option(help="Zone in scope (repeat)")] = None,
    urgent: Annotated[bool, typer.Option(help="Urgent: must be confirmed within 24 h")] = False,
) -> None:
    """Record an authorisation that face recognition and watchlists are bound to.

    Example: citywatch authorisations create AUTH-2026-17 --authority 'Belgrade court'
    --purpose 'missing person' --starts 2026-11-26 --ends 2026-12-03 --zone centre
    """
    from citywatch.services.authorisations import create_authorisation

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            row = create_authorisation(
                session,
                c.actor(),
                reference,
                authority,
                purpose,
                _utc(starts),
                _utc(ends),
                camera or [],
                zone or [],
                urgent=urgent,
            )
            c.out.print(f"authorisation {row.reference!r} recorded ({row.status})")
    except ServiceError as err:
        c.fail(str(err))


@authorisations.command("list")
def authorisations_list(ctx: typer.Context) -> None:
    """Authorisations with scope and period.

    Example: citywatch authorisations list
    """
    from citywatch.services.authorisations import list_authorisations

    c = ctx_of(ctx)
    table = Table(title="authorisations")
    for col in ("reference", "authority", "purpose", "from", "to", "cameras", "zones", "status"):
        table.add_column(col)
    with c.sessions()() as session:
        for a in list_authorisations(session):
            table.add_row(
                a.reference,
                a.authority,
                a.purpose,
                f"{a.starts_at:%Y-%m-%d %H:%M}",
                f"{a.ends_at:%Y-%m-%d %H:%M}",
                ",".join(a.scope_cameras),
                ",".join(a.scope_zones),
                a.status,
            )
    c.out.print(table)


# --------------------------------------------------------------------------- watchlists


@watchlists.command("create")
def watchlists_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Watchlist name")],
    authorisation: Annotated[str, typer.Option(help="Reference of the authorisation")],
    max_subjects: Annotated[int, typer.Option(help="Size limit")] = 1000,
) -> None:
    """Create a watchlist bound to an authorisation (it ends with it).

    Example: citywatch watchlists create missing-2026-17 --authorisation AUTH-2026-17
    """
    from citywatch.services.watchlists import create_watchlist

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            create_watchlist(session, c.actor(), name, authorisation, max_subjects)
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"watchlist {name!r} created under {authorisation!r}")


@watchlists.command("enrol")
def watchlists_enrol(
    ctx: typer.Context,
    watchlist: Annotated[str, typer.Argument(help="Watchlist name")],
    subject: Annotated[str, typer.Argument(help="The person's name or reference")],
    photos: Annotated[list[Path], typer.Argument(help="Photos with exactly one face each")],
    reason: Annotated[str, typer.Option(help="Why this person is on the list")],
    source: Annotated[str, typer.Option(help="Where the photos come from")],
) -> None:
    """Enrol a person from one or more photos (each must show exactly one face).

    Example: citywatch watchlists enrol missing-2026-17 'J. Doe' doe1.jpg doe2.jpg
    --reason 'reported missing 2026-11-24' --source 'family photo'
    """
    from citywatch.engine.assemble import Models
    from citywatch.engine.platform import make_embed_faces
    from citywatch.services.enrolment import EnrolmentError, enrol_subject
    from citywatch.vision.images import ImageError, load_image

    c = ctx_of(ctx)
    images, unreadable = [], []
    for p in photos:
        try:
            images.append((p.name, load_image(p)))
        except ImageError as err:
            unreadable.append(str(err))
    if unreadable:
        c.fail(_refused(subject, unreadable, len(photos)))
    embed = make_embed_faces(Models(c.config()), c.config())
    try:
        with c.sessions()() as session:
            r = enrol_subject(
                session, c.media(), c.actor(), watchlist, subject, images, embed, reason, source
            )
    except EnrolmentError as err:
        c.fail(_refused(subject, err.refused, len(photos)) if err.refused else str(err))
    except ServiceError as err:
        c.fail(str(err))
    names = ", ".join(p.name for p in photos)
    if r.created:
        c.out.print(
            f"enrolled {r.subject_name!r} on watchlist {r.watchlist!r} (subject {r.subject_id}) "
            f"from {r.embeddings_added} photo(s): {names}",
            highlight=False,
        )
    else:
        c.out.print(
            f"added {r.embeddings_added} photo(s) to {r.subject_name!r} on watchlist "
            f"{r.watchlist!r} (subject {r.subject_id}, already enrolled): {names}",
            highlight=False,
        )


def _refused(subject: str, problems: Sequence[str], given: int) -> str:
    lines = "\n".join(f"  {p}" for p in problems)
    return f"{subject!r} not enrolled: {len(problems)} of {given} photo(s) refused\n{lines}"


@watchlists.command("list")
def watchlists_list(ctx: typer.Context) -> None:
    """Watchlists with their authorisation and size.

    Example: citywatch watchlists list
    """
    from citywatch.services.watchlists import list_watchlists

    c = ctx_of(ctx)
    with c.sessions()() as session:
        rows = list_watchlists(session)
    c.out.print(dataclass_table("watchlists", rows))


@watchlists.command("remove")
def watchlists_remove(
    ctx: typer.Context,
    watchlist: Annotated[str, typer.Argument(help="Watchlist name")],
    subject: Annotated[str, typer.Argument(help="The subject's name")],
    reason: Annotated[str, typer.Option(help="Why the subject is removed")],
) -> None:
    """Remove a subject: embeddings and photos are deleted.

    Example: citywatch watchlists remove missing-2026-17 'J. Doe' --reason 'found safe'
    """
    from citywatch.services.watchlists import remove_subject

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            n = remove_subject(session, c.media(), c.actor(), watchlist, subject, reason=reason)
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(f"removed {subject!r} from {watchlist!r} ({n} photo(s) deleted)")


# ----------------------------------------------------------------------------- hotlists


@hotlists.command("add")
def hotlists_add(
    ctx: typer.Context,
    hotlist: Annotated[str, typer.Argument(help="Hotlist name (created if missing)")],
    plate: Annotated[str, typer.Argument(help="Plate, separators allowed: 'BG 123-AB'")],
    reason: Annotated[str, typer.Option(help="Why the plate is wanted")],
    vehicle: Annotated[
        str | None, typer.Option(help="The vehicle it belongs on: car, van/truck, bus, motorcycle")
    ] = None,
    colour: Annotated[str | None, typer.Option(help="Its colour: white, silver/grey, ...")] = None,
) -> None:
    """Put a plate on a hotlist (with the vehicle it belongs on, when known: an alert on a
    vehicle of another type or colour says so).

    Example: citywatch hotlists add stolen 'BG 123-AB' --reason 'stolen 2026-11-20'
    --vehicle car --colour white
    """
    from citywatch.services.hotlists import add_plate

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            row = add_plate(
                session,
                c.actor(),
                hotlist,
                plate,
                reason,
                vehicle_kind=vehicle,
                vehicle_colour=colour,
            )
            c.out.print(f"{row.plate} is on hotlist {hotlist!r}")
    except ServiceError as err:
        c.fail(str(err))


@hotlists.command("import")
def hotlists_import(
    ctx: typer.Context,
    hotlist: Annotated[str, typer.Argument(help="Hotlist name (created if missing)")],
    file: Annotated[Path, typer.Argument(help="CSV or text: plate[,reason] per line")],
    reason: Annotated[str, typer.Option(help="Reason for lines that give none")] = "",
) -> None:
    """Import plates from a file; any bad line refuses the import and is named.

    Example: citywatch hotlists import stolen stolen-2026-11.csv --reason 'national list'
    """
    from citywatch.services.hotlists import import_plates

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            n = import_plates(session, c.actor(), hotlist, file, reason=reason)
    except (ServiceError, OSError) as err:
        c.fail(str(err))
    c.out.print(f"{n} plate(s) added to {hotlist!r}")


@hotlists.command("list")
def hotlists_list(ctx: typer.Context) -> None:
    """Hotlists and their sizes.

    Example: citywatch hotlists list
    """
    from citywatch.services.hotlists import list_hotlists

    c = ctx_of(ctx)
    with c.sessions()() as session:
        rows = list_hotlists(session)
    c.out.print(dataclass_table("hotlists", rows))
