"""``citywatch retention run [--dry-run]``: apply the retention rules now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from citywatch.cli.context import ctx_of
from citywatch.services.common import ServiceError

retention = typer.Typer(
    help="Retention: delete personal data that is past its period (rows and files).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(retention, name="retention")


@retention.command("run")
def retention_run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be deleted; delete nothing")
    ] = False,
) -> None:
    """Delete plate reads, alerts (with snapshots) and statistics past their retention period.

    Reads and alerts on evidence hold are kept; audit entries are always kept.  The sweep is
    audited with its counts.  The same sweep runs on a schedule under `citywatch serve`.

    Example: citywatch retention run --dry-run
    """
    from citywatch.services.retention import RetentionSweeper

    c = ctx_of(ctx)
    cfg = c.config()
    sweeper = RetentionSweeper(c.sessions(), c.media(), cfg.retention, actor=c.actor())
    try:
        report = sweeper.run(dry_run=dry_run)
    except ServiceError as err:
        c.fail(str(err))
    verb = "would delete" if dry_run else "deleted"
    title = f"retention {'dry run' if dry_run else 'run'} at {report.at:%Y-%m-%d %H:%M} UTC"
    table = Table(title=title)
    for col in ("data", "rule", verb, "kept on hold"):
        table.add_column(col)
    for entry in report.classes:
        count = entry.due if dry_run else entry.deleted
        table.add_row(
            entry.data_class.value.replace("_", " "), entry.rule, str(count), str(entry.held)
        )
    files = report.files_due if dry_run else report.files_deleted
    table.add_row("snapshot files", "with their rows, unless still needed", str(files), "")
    if report.orphans is not None:
        from citywatch.services.orphans import ORPHAN_GRACE

        table.add_row(
            "orphan evidence files",
            f"no row points at them, older than {ORPHAN_GRACE.total_seconds() / 3600:g} h",
            str(report.orphans.deleted),
            "",
        )
    c.out.print(table)
    if report.files_failed:
        c.err.print(f"[yellow]{report.files_failed} snapshot file(s) could not be deleted[/]")
