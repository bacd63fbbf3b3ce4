"""`citywatch authorisations confirm | refuse | sweep`: the urgent-authorisation lifecycle."""

from __future__ import annotations

from typing import Annotated

import typer

from citywatch.cli.context import ctx_of
from citywatch.services.common import ServiceError


def register(authorisations_app: typer.Typer) -> None:
    authorisations_app.command("confirm")(authorisations_confirm)
    authorisations_app.command("refuse")(authorisations_refuse)
    authorisations_app.command("sweep")(authorisations_sweep)


def authorisations_confirm(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The urgent authorisation's reference")],
) -> None:
    """Record the written confirmation of an urgent authorisation (within 24 h of its start).

    Example: citywatch authorisations confirm AUTH-2026-17
    """
    from citywatch.services.authorisations import confirm_authorisation

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            row = confirm_authorisation(session, c.actor(), reference)
            c.out.print(f"authorisation {row.reference!r} confirmed", highlight=False)
    except ServiceError as err:
        c.fail(str(err))


def authorisations_refuse(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The urgent authorisation's reference")],
    reason: Annotated[str, typer.Option(help="Why it was refused (kept in the audit log)")],
) -> None:
    """Record that an urgent authorisation was refused: everything made under it is deleted.

    Its face alerts, their snapshots, its watchlists, subjects, embeddings and photos go at
    once; the deletion and its counts are audited.

    Example: citywatch authorisations refuse AUTH-2026-17 --reason 'judge refused 2026-11-27'
    """
    from citywatch.services.authorisations import refuse_authorisation

    c = ctx_of(ctx)
    try:
        with c.sessions()() as session:
            report = refuse_authorisation(session, c.media(), c.actor(), reference, reason=reason)
    except ServiceError as err:
        c.fail(str(err))
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.as_details().items())
    c.out.print(f"authorisation {reference!r} refused; deleted: {counts}", highlight=False)
    if report.files_failed:
        c.err.print(
            f"[yellow]could not delete {len(report.files_failed)} file(s)[/]: "
            + ", ".join(report.files_failed),
            highlight=False,
        )
        raise typer.Exit(1)


def authorisations_sweep(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be deleted")] = False,
) -> None:
    """Apply the lifecycle now: purge void urgent authorisations, destroy ended watchlists.

    `citywatch run` does this on a schedule; this runs it on demand.

    Example: citywatch authorisations sweep --dry-run
    """
    from citywatch.services.lifecycle import LifecycleSweeper

    c = ctx_of(ctx)
    report = LifecycleSweeper(c.sessions(), c.media()).run(dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for ref in report.lapsed:
        c.out.print(f"authorisation {ref!r}: urgent, not confirmed within 24 h: void")
    for item in report.items:
        counts = ", ".join(f"{k} {v}" for k, v in item.report.counts.as_details().items() if v)
        c.out.print(f"{item.target} ({item.state}): {verb} {counts or 'nothing'}", highlight=False)
    total = report.totals
    c.out.print(
        f"checked {report.checked} authorisation(s); {verb} {total.alerts} alert(s), "
        f"{total.subjects} subject(s), {total.embeddings} embedding(s), "
        f"{total.snapshots + total.photos} file(s)",
        highlight=False,
    )
    failed = [f for item in report.items for f in item.report.files_failed]
    for problem in (*report.errors, *(f"could not delete {f}" for f in failed)):
        c.err.print(f"[bold red]error:[/] {problem}", highlight=False)
    if report.errors or failed:
        raise typer.Exit(1)
