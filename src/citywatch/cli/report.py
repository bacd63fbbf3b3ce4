"""``citywatch report``: the monthly oversight report (HTML, and PDF where Chromium is
installed), recorded in the audit log with the SHA-256 of each file written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citywatch.cli.context import ctx_of
from citywatch.services.common import ServiceError


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", "-m", help="The month, YYYY-MM (UTC)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the files (default: <state_dir>/reports)"),
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf/--no-pdf", help="Also print a PDF (needs Chromium)")
    ] = True,
    require_pdf: Annotated[
        bool, typer.Option("--require-pdf", help="Fail when no PDF can be made")
    ] = False,
) -> None:
    """Write the oversight report of a month: statistics with charts, authorisations, cameras,
    retention actions and an audit-log summary, for a data-protection authority or a council.

    Only roles with stats.read (admin, auditor: $CITYWATCH_ROLE) may produce it; the audit log
    records who did, and the SHA-256 of each file.

    Example: citywatch report --month 2026-11 --out reports/
    """
    from citywatch.report import ReportError, ReportWriter
    from citywatch.services.report import generate_report, parse_month

    c = ctx_of(ctx)
    try:
        first = parse_month(month)
    except ServiceError as err:
        c.fail(str(err))
    config = c.config()
    folder = out if out is not None else config.store.state_dir / "reports"
    writer = ReportWriter(folder, pdf="require" if require_pdf else ("auto" if pdf else "never"))
    try:
        with c.sessions()() as session:
            done = generate_report(session, config, c.actor(), first, writer)
    except (ServiceError, ReportError) as err:
        c.fail(str(err), code=1)
    except OSError as err:
        c.fail(f"report: cannot write to {folder}: {err.strerror}", code=1)
    for path in done.files:
        c.out.print(f"wrote {path}  sha256 {done.digests[path.name]}", highlight=False)
    if writer.note and pdf:
        c.err.print(f"[yellow]{writer.note}[/]", highlight=False)
    c.out.print(f"recorded in the audit log as entry {done.audit_seq} (report.generate)")
