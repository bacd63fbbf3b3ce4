"""Export refusals word for word (found by mutation testing, docs/mutation.md): a log with a
hole before the exported run, a broken chain inside it, a bundle that cannot be read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from citywatch.audit.chain import entries
from citywatch.audit.export import BundleCheck, ExportError, export_bundle, verify_bundle
from citywatch.store.models import AuditLogRow
from tests.audit.test_export import ALICE, EPOCH, KEY, LATER, fill


def _refused(session: Session, tmp_path: Path, message: str, **period: object) -> None:
    out = tmp_path / "bundle.jsonl"
    with pytest.raises(ExportError, match=f"^{re.escape(message)}$"):
        export_bundle(session, ALICE, KEY, out, **period)  # type: ignore[arg-type]
    assert not out.exists()


def test_an_entry_missing_before_the_exported_run_is_named(
    session: Session, tmp_path: Path
) -> None:
    fill(session)
    es = list(entries(session))
    session.execute(delete(AuditLogRow).where(AuditLogRow.seq == 3))
    session.commit()
    _refused(
        session, tmp_path,
        "audit log: entry 3 is missing; run `citywatch audit verify`",
        since=es[3].at, until=LATER,
    )  # fmt: skip


def test_a_broken_chain_inside_the_run_is_named(session: Session, tmp_path: Path) -> None:
    fill(session)
    session.execute(update(AuditLogRow).where(AuditLogRow.seq == 4).values(prev_hash="f" * 64))
    session.commit()
    _refused(
        session, tmp_path,
        "audit log is broken at entry 4; run `citywatch audit verify` before exporting",
        since=EPOCH, until=LATER,
    )  # fmt: skip


def test_an_unreadable_bundle_fails_with_nothing_checked(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert verify_bundle(missing, KEY) == BundleCheck(
        False, 0, f"bundle {str(missing)!r} cannot be read: No such file or directory"
    )
