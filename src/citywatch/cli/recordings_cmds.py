"""`citywatch recordings verify | export`: signed evidence exports of recorded footage.

``verify`` needs no database and no config: it is what the court's expert runs, with the
published Ed25519 public key (or the HMAC secret).  Exit codes: 0 verified, 1 the export does
not verify, 2 usage error (no key, a bad argument).
"""

from __future__ import annotations

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
