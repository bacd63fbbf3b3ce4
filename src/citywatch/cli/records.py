"""Commands that read personal data (every one audited by the service it calls)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from citywatch.cli.context import ctx_of
from citywatch.services.common import ServiceError

alerts = typer.Typer(help="Alerts: possible matches waiting for review.", no_args_is_help=True)
plates = typer.Typer(help="Plate reads (ANPR records).", no_args_is_help=True)
audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts, name="alerts")
    app.add_typer(plates, name="plates")
    app.add_typer(audit, name="audit")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@alerts.command("list")
def alerts_list(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="face or plate")] = None,
    status: Annotated[str | None, typer.Option(help="pending, confirmed or rejected")] = None,
    camera: Annotated[str | None, typer.Option(help="Camera id")] = None,
    since: Annotated[dt.datetime | None, typer.Option(help="From (UTC)")] = None,
    until: Annotated[dt.datetime | None, typer.Option(help="Until (UTC)")] = None,
    before_id: Annotated[int | None, typer.Option(help="Page: alerts older than this id")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Alerts, newest first.

    Example: citywatch alerts list --status pending --kind face
    """
    from citywatch.services.alerts import alert_event, list_alerts

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            rows = list_alerts(
                session,
                c.actor(),
                kind=kind,
                status=status,
                camera_id=camera,
                since=_utc(since),
                until=_utc(until),
                before_id=before_id,
                limit=limit,
            )
            events = [alert_event(r) for r in rows]
    except ServiceError as err:
        c.fail(str(err))
    if as_json:
        for e in events:
            c.out.print_json(json.dumps(e.to_json(), default=str))
        return
    table = Table(title=f"alerts ({len(events)})")
    for col in ("id", "kind", "camera", "who / plate", "score", "seen (UTC)", "status"):
        table.add_column(col)
    for e in events:
        who = e.subject_name or (f"{e.plate} (read {e.read})" if e.plate else "")
        vehicle = e.vehicle_check()
        if e.kind == "plate" and (vehicle.note or vehicle.seen):
            who += f"; {vehicle.note or 'seen: ' + vehicle.seen}"
        table.add_row(
            str(e.id),
            e.kind,
            e.camera_id,
            who or "",
            f"{e.score:.3f}" if e.score is not None else "",
            f"{e.seen_at:%Y-%m-%d %H:%M:%S}",
            e.status,
        )
    c.out.print(table)


@alerts.command("show")
def alerts_show(
    ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id")]
) -> None:
    """One alert in full, with the path of its evidence snapshot.

    Example: citywatch alerts show 17
    """
    from citywatch.services.alerts import alert_event, get_alert

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            event = alert_event(get_alert(session, c.actor(), alert_id))
    except ServiceError as err:
        c.fail(str(err))
    data = event.to_json()
    if event.snapshot_path:
        data["snapshot_file"] = str(c.media().path(event.snapshot_path))
    c.out.print_json(json.dumps(data, default=str))


@alerts.command("review")
def alerts_review(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id")],
    decision: Annotated[str, typer.Argument(help="confirm or reject")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log)")],
) -> None:
    """Confirm or reject a possible match (a human decision, audited).

    Example: citywatch alerts review 17 reject --reason 'different person: no scar'
    """
    from citywatch.services.alerts import review_alert

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            row = review_alert(session, c.actor(), alert_id, decision, reason)
            c.out.print(f"alert {row.id}: {row.status}")
    except ServiceError as err:
        c.fail(str(err))


@plates.command("search")
def plates_search(
    ctx: typer.Context,
    pattern: Annotated[str, typer.Argument(help="Plate with wildcards: * any run, ? one char")],
    case: Annotated[str, typer.Option(help="Case reference (required, audited)")],
    camera: Annotated[str | None, typer.Option(help="Camera id")] = None,
    zone: Annotated[str | None, typer.Option(help="Zone")] = None,
    since: Annotated[dt.datetime | None, typer.Option(help="From (UTC)")] = None,
    until: Annotated[dt.datetime | None, typer.Option(help="Until (UTC)")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 200,
) -> None:
    """Search plate reads.  Every search needs a case reference and is audited.

    Example: citywatch plates search 'BG*12?' --case CASE-2026-17 --since 2026-11-01
    """
    from citywatch.services.search import search_plate_reads

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            rows = search_plate_reads(
                session,
                c.actor(),
                pattern,
                case_ref=case,
                camera_id=camera,
                zone=zone,
                since=_utc(since),
                until=_utc(until),
                limit=limit,
                window=c.config().retention.access_window,
            )
            table = Table(title=f"plate reads matching {pattern!r} ({len(rows)})")
            for col in ("id", "plate", "conf", "camera", "first seen (UTC)", "last seen (UTC)"):
                table.add_column(col)
            for r in rows:
                table.add_row(
                    str(r.id),
                    r.plate,
                    f"{r.confidence:.2f}",
                    r.camera_id,
                    f"{r.first_seen_at:%Y-%m-%d %H:%M:%S}",
                    f"{r.last_seen_at:%Y-%m-%d %H:%M:%S}",
                )
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(table)


@plates.command("vehicles")
def plates_vehicles(
    ctx: typer.Context,
    case: Annotated[str, typer.Option(help="Case reference (required, audited)")],
    vehicle: Annotated[
        str | None, typer.Option(help="Vehicle type: car, truck (van), bus, motorcycle")
    ] = None,
    colour: Annotated[str | None, typer.Option(help="Body colour: white, grey, black, ...")] = None,
    pattern: Annotated[str | None, typer.Option(help="Plate pattern: * any run, ? one")] = None,
    camera: Annotated[str | None, typer.Option(help="Camera id")] = None,
    zone: Annotated[str | None, typer.Option(help="Zone")] = None,
    since: Annotated[dt.datetime | None, typer.Option(help="From (UTC)")] = None,
    until: Annotated[dt.datetime | None, typer.Option(help="Until (UTC)")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 200,
) -> None:
    """Search plate reads by the vehicle that held the plate.  A case reference is required
    and the search is audited; without a plate pattern only at one camera or zone within at
    most 24 hours.

    Example: citywatch plates vehicles --case CASE-2026-17 --vehicle car --colour white
    --camera cam-3 --since 2026-11-20T06:00 --until 2026-11-20T12:00
    """
    from citywatch.services.vehicle_search import search_vehicle_reads

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            rows = search_vehicle_reads(
                session,
                c.actor(),
                case_ref=case,
                pattern=pattern,
                vehicle_kind=vehicle,
                vehicle_colour=colour,
                camera_id=camera,
                zone=zone,
                since=_utc(since),
                until=_utc(until),
                limit=limit,
                window=c.config().retention.access_window,
            )
            asked = " ".join(p for p in (colour, vehicle, pattern) if p)
            table = Table(title=f"plate reads: {asked} ({len(rows)})")
            for col in ("id", "plate", "vehicle", "camera", "first seen (UTC)", "last seen (UTC)"):
                table.add_column(col)
            for r in rows:
                table.add_row(
                    str(r.id),
                    r.plate,
                    " ".join(p for p in (r.vehicle_colour, r.vehicle_kind) if p),
                    r.camera_id,
                    f"{r.first_seen_at:%Y-%m-%d %H:%M:%S}",
                    f"{r.last_seen_at:%Y-%m-%d %H:%M:%S}",
                )
    except ServiceError as err:
        c.fail(str(err))
    c.out.print(table)
