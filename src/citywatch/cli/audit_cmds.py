"""`citywatch audit verify | export | verify-bundle | head`: the tamper-evident audit log.

Signing keys: ``--key-file`` or ``$CITYWATCH_AUDIT_KEY_FILE`` (an HMAC secret, or a PEM
Ed25519 key when the 'cryptography' package is installed), else the secret in
``$CITYWATCH_AUDIT_KEY``.  Exit codes: 0 verified, 1 verification failed, 2 usage error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citywatch.cli.context import CliContext, ctx_of

if TYPE_CHECKING:
    from citywatch.audit.keys import AuditKey

KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="HMAC secret file, or PEM Ed25519 key (default: $CITYWATCH_AUDIT_KEY_FILE, "
        "then the secret in $CITYWATCH_AUDIT_KEY)",
    ),
]
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def register(audit_app: typer.Typer) -> None:
    audit_app.command("verify")(audit_verify)
    audit_app.command("export")(audit_export)
    audit_app.command("verify-bundle")(audit_verify_bundle)
    audit_app.command("head")(audit_head)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _key(c: CliContext, key_file: Path | None) -> AuditKey:
    from citywatch.audit.keys import AuditKeyError, load_key

    try:
        return load_key(key_file)
    except AuditKeyError as err:
        c.fail(str(err))


def audit_verify(
    ctx: typer.Context,
    expected_head: Annotated[
        Path | None,
        typer.Option(
            help="A head published earlier (`citywatch audit head --out`): catches "
            "entries cut off the end or a rebuilt chain"
        ),
    ] = None,
    key_file: KeyFile = None,
) -> None:
    """Check the hash chain; exits 1 naming the first broken entry.

    With --expected-head the log must still hold the published head entry with its hash.

    Example: citywatch audit verify --expected-head heads/2026-11-30.json
    """
    from citywatch.audit.chain import verify
    from citywatch.audit.head import HeadError, read_head

    c = ctx_of(ctx)
    expected = None
    if expected_head is not None:
        try:
            expected = read_head(expected_head, _key(c, key_file)).expected
        except HeadError as err:
            c.fail(str(err))
    with c.sessions()() as session:
        result = verify(session, expected_head=expected)
    if result.ok:
        against = f", matches the head published at seq {expected[0]}" if expected else ""
        c.out.print(f"[green]audit chain intact[/]: {result.entries} entries{against}")
        return
    c.err.print(
        f"[bold red]audit chain broken[/] at entry {result.first_broken_seq}: {result.problem}"
    )
    raise typer.Exit(1)


def audit_export(
    ctx: typer.Context,
    since: Annotated[
        dt.datetime, typer.Option("--from", formats=DATE_FORMATS, help="From (UTC, inclusive)")
    ],
    until: Annotated[
        dt.datetime, typer.Option("--to", formats=DATE_FORMATS, help="To (UTC, exclusive)")
    ],
    out: Annotated[Path, typer.Option("--out", help="Bundle file to write")],
    key_file: KeyFile = None,
) -> None:
    """Write a signed bundle of the audit entries in a period, for an outside auditor.

    The export is itself audited.  The auditor checks it with `citywatch audit verify-bundle`.

    Example: CITYWATCH_AUDIT_KEY=... citywatch audit export --from 2026-11-01 --to 2026-12-01
    --out audit-2026-11.jsonl
    """
    from citywatch.audit.export import ExportError, export_bundle

    c = ctx_of(ctx)
    key = _key(c, key_file)
    try:
        with c.sessions()() as session:
            r = export_bundle(session, c.actor(), key, out, since=_utc(since), until=_utc(until))
    except (ExportError, OSError) as err:
        c.fail(f"audit export: {err}")
    span = f"seq {r.first_seq}..{r.last_seq}" if r.count else "none in that period"
    c.out.print(
        f"exported {r.count} entries ({span}) to {r.path}, signed {r.alg} key {r.key_id}; "
        f"chain head seq {r.chain_head[0]} {r.chain_head[1]}",
        highlight=False,
    )


def audit_verify_bundle(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="A bundle from `citywatch audit export`")],
    key_file: KeyFile = None,
) -> None:
    """Check an export bundle: every entry's hash and link, and the manifest's signature.

    Needs no database: this is what the outside auditor runs.  Exits 1 naming the first
    entry that does not verify.

    Example: CITYWATCH_AUDIT_KEY=... citywatch audit verify-bundle audit-2026-11.jsonl
    """
    from citywatch.audit.export import verify_bundle

    c = ctx_of(ctx)
    check = verify_bundle(bundle, _key(c, key_file))
    m = check.manifest
    if check.ok:
        sig = m.get("signature", {})
        c.out.print(
            f"[green]bundle verified[/]: {check.entries} entries "
            f"(seq {m.get('first_seq')}..{m.get('last_seq')}, {m.get('from')} to {m.get('to')}), "
            f"signed {sig.get('alg')} key {sig.get('key_id')}; chain head at export: "
            f"seq {m.get('chain_head', {}).get('seq')}",
            highlight=False,
        )
        return
    c.err.print(f"[bold red]bundle does not verify[/]: {check.problem}", highlight=False)
    raise typer.Exit(1)


def audit_head(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="Also write the head to this file")] = None,
    key_file: KeyFile = None,
) -> None:
    """Print (and write) the signed head of the audit chain, for publication.

    Keep the published heads where the database's administrators cannot change them; a later
    `citywatch audit verify --expected-head FILE` detects a history rewritten since.

    Example: CITYWATCH_AUDIT_KEY=... citywatch audit head --out heads/$(date +%F).json
    """
    from citywatch.audit.head import head_document, head_json, write_head

    c = ctx_of(ctx)
    key = _key(c, key_file)
    with c.sessions()() as session:
        doc = head_document(session, key)
    if out is not None:
        try:
            write_head(doc, out)
        except OSError as err:
            c.fail(f"audit head: cannot write {out}: {err.strerror}")
    c.out.print(head_json(doc).rstrip("\n"), highlight=False, soft_wrap=True)
