"""Signed export bundles of the audit log, for an outside auditor.

A bundle is a UTF-8 text file of JSON lines.  Line 1 is the signed manifest::

    {"format": "citywatch-audit-bundle/1", "from": ..., "to": ..., "first_seq": 41,
     "last_seq": 90, "count": 50, "prev_hash": <hash of seq 40>, "last_hash": <hash of seq 90>,
     "chain_head": {"seq": 97, "hash": ...}, "exported_at": ..., "exported_by": ...,
     "entries_sha256": <SHA-256 of lines 2..>, "signature": {"alg", "key_id", "value"}}

then one line per entry, in chain order, with every hashed field plus ``prev_hash`` and
``hash``.  The entries are the contiguous run of the chain from the first entry at or after
``from`` to the last entry before ``to``, so the auditor can recompute every link:
:func:`verify_bundle` names the first entry whose contents or link do not match, then checks
that the run starts at ``prev_hash`` and ends at ``last_hash``, the digest of the entry lines,
and the manifest's signature.  ``chain_head`` is the head when the bundle was made: a later
``audit verify --expected-head`` against it detects a rewritten or cut-off history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import (
    GENESIS_HASH,
    Actor,
    AuditEntry,
    append,
    canonical_json,
    entries,
    entry_hash,
    head,
    iso_utc,
)
from citywatch.audit.keys import AuditKey, check_document, sign_document
from citywatch.store.models import AuditLogRow
from citywatch.store.types import utcnow

BUNDLE_FORMAT = "citywatch-audit-bundle/1"
ENTRY_FIELDS = ("seq", "at", "actor", "role", "action", "target", "details", "reason")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class ExportError(ValueError):
    """The export could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    count: int
    first_seq: int | None
    last_seq: int | None
    prev_hash: str
    last_hash: str
    chain_head: tuple[int, str]
    alg: str
    key_id: str


@dataclass(frozen=True, slots=True)
class BundleCheck:
    ok: bool
    entries: int  # entry lines checked
    problem: str | None = None
    broken_seq: int | None = None  # the entry named by the problem, when one is
    line: int | None = None  # its line in the file (1 = the manifest)
    manifest: dict[str, Any] = field(default_factory=dict)


def _entry_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": iso_utc(e.at),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "target": e.target,
        "details": e.details,
        "reason": e.reason,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _hash_before(session: Session, seq: int) -> str:
    if seq <= 1:
        return GENESIS_HASH
    value = session.scalar(select(AuditLogRow.hash).where(AuditLogRow.seq == seq - 1))
    if value is None:
        raise ExportError(f"audit log: entry {seq - 1} is missing; run `citywatch audit verify`")
    return str(value)


def _write_entries(
    session: Session, out: IO[bytes], first: int, last: int
) -> tuple[int, str, str, str]:
    """Write entries ``first..last``; returns ``(count, prev_hash, last_hash, sha256)``."""
    digest = hashlib.sha256()
    prev = _hash_before(session, first)
    start, expect = prev, first
    for e in entries(session, after_seq=first - 1, limit=last - first + 1):
        if e.seq != expect or e.prev_hash != prev:
            raise ExportError(
                f"audit log is broken at entry {expect}; run `citywatch audit verify` "
                "before exporting"
            )
        line = (canonical_json(_entry_json(e)) + "\n").encode("utf-8")
        digest.update(line)
        out.write(line)
        prev, expect = e.hash, expect + 1
    if expect != last + 1:
        raise ExportError(f"audit log: entry {expect} is missing; run `citywatch audit verify`")
    return last - first + 1, start, prev, digest.hexdigest()


def export_bundle(
    session: Session,
    actor: Actor,
    key: AuditKey,
    out: Path,
    *,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime | None = None,
) -> ExportResult:
    """Write the signed bundle of the entries made in ``[since, until)`` to ``out``.

    The export itself is audited (``audit.export``); the file appears only once that entry is
    committed, and atomically.
    """
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None:
            raise ExportError(f"audit export: {name} must be a timezone-aware time")
    if until <= since:
        raise ExportError("audit export: --to must be after --from")
    if not key.can_sign:
        raise ExportError(f"audit export: the {key.alg} key {key.key_id} cannot sign")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as final, tempfile.TemporaryFile(dir=out.parent) as body:
            try:
                first = session.scalar(
                    select(func.min(AuditLogRow.seq)).where(AuditLogRow.at >= since)
                )
                last = session.scalar(
                    select(func.max(AuditLogRow.seq)).where(AuditLogRow.at < until)
                )
                chain_head = head(session)
                if first is None or last is None or last < first:
                    before = session.scalar(
                        select(func.max(AuditLogRow.seq)).where(AuditLogRow.at < since)
                    )
                    prev = GENESIS_HASH if before is None else _hash_before(session, before + 1)
                    count, last_hash, sha = 0, prev, hashlib.sha256().hexdigest()
                    first = last = None
                else:
                    count, prev, last_hash, sha = _write_entries(session, body, first, last)
            finally:
                session.rollback()  # end the read transaction before the audit write
            manifest = sign_document(
                {
                    "format": BUNDLE_FORMAT,
                    "from": iso_utc(since),
                    "to": iso_utc(until),
                    "first_seq": first,
                    "last_seq": last,
                    "count": count,
                    "prev_hash": prev,
                    "last_hash": last_hash,
                    "chain_head": {"seq": chain_head[0], "hash": chain_head[1]},
                    "exported_at": iso_utc(now or utcnow()),
                    "exported_by": actor.name,
                    "entries_sha256": sha,
                },
                key,
            )
            final.write((canonical_json(manifest) + "\n").encode("utf-8"))
            body.seek(0)
            while chunk := body.read(1 << 20):
                final.write(chunk)
            final.flush()
            os.fsync(final.fileno())
        try:
            append(
                session,
                actor,
                "audit.export",
                f"audit:{first or 0}-{last or 0}",
                details={
                    "from": since,
                    "to": until,
                    "count": count,
                    "alg": key.alg,
                    "key_id": key.key_id,
                    "file": out.name,
                },
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportResult(out, count, first, last, prev, last_hash, chain_head, key.alg, key.key_id)


def _parse_at(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("'at' is not a string")
    return dt.datetime.strptime(value, ISO_FORMAT).replace(tzinfo=dt.UTC)


def _check_entry(raw: bytes, n: int, expect_seq: int, prev: str) -> tuple[str | None, str]:
    """``(problem, hash)`` of one entry line."""
    try:
        e = json.loads(raw.decode("utf-8"))
        if not isinstance(e, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in (*ENTRY_FIELDS, "prev_hash", "hash") if k not in e]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        digest = entry_hash(
            prev,
            seq=e["seq"],
            at=_parse_at(e["at"]),
            actor=e["actor"],
            role=e["role"],
            action=e["action"],
            target=e["target"],
            details=e["details"],
            reason=e["reason"],
        )
    except (ValueError, TypeError, UnicodeDecodeError) as err:
        return f"entry {expect_seq} (line {n}) is not a valid entry: {err}", ""
    if e["seq"] != expect_seq:
        return (
            f"entry {expect_seq} (line {n}): found seq {e['seq']!r} instead "
            "(entries deleted, inserted or reordered)",
            "",
        )
    if e["prev_hash"] != prev:
        return (
            f"entry {expect_seq} (line {n}): prev_hash does not match the entry before it "
            "(entries deleted, inserted or reordered)",
            "",
        )
    if digest != e["hash"]:
        return f"entry {expect_seq} (line {n}): contents do not match its hash (edited)", ""
    return None, digest


def verify_bundle(path: Path, key: AuditKey) -> BundleCheck:
    """Check a bundle as an outside auditor would: every entry, the run, the signature."""
    try:
        lines = Path(path).read_bytes().split(b"\n")
    except OSError as err:
        return BundleCheck(False, 0, f"bundle {str(path)!r} cannot be read: {err.strerror}")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        manifest = json.loads(lines[0].decode("utf-8")) if lines else None
    except (ValueError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        return BundleCheck(False, 0, f"line 1 is not a {BUNDLE_FORMAT} manifest", line=1)
    body = lines[1:]

    def fail(problem: str, seq: int | None = None, line: int | None = None) -> BundleCheck:
        return BundleCheck(False, len(body), problem, seq, line, manifest)

    first, prev = manifest.get("first_seq"), manifest.get("prev_hash")
    if not isinstance(prev, str) or (body and not isinstance(first, int)):
        return fail("the manifest lacks first_seq or prev_hash", line=1)
    start = first if isinstance(first, int) else 0
    digest = hashlib.sha256()
    for i, raw in enumerate(body):
        seq = start + i
        problem, got = _check_entry(raw, i + 2, seq, prev)
        if problem is not None and i == 0 and "prev_hash" in problem:
            problem = f"entry {seq} (line 2): prev_hash differs from the manifest's prev_hash"
        prev = got
        if problem is not None:
            return fail(problem, seq, i + 2)
        digest.update(raw + b"\n")
    if manifest.get("count") != len(body):
        return fail(f"the manifest lists {manifest.get('count')} entries, the file has {len(body)}")
    if body and manifest.get("last_seq") != start + len(body) - 1:
        return fail("the manifest's last_seq does not match the entries", line=1)
    if prev != manifest.get("last_hash"):
        return fail("the entries do not end at the manifest's last_hash (entries rewritten)")
    if digest.hexdigest() != manifest.get("entries_sha256"):
        return fail("the entry lines do not match the manifest's entries_sha256")
    bad_sig = check_document(manifest, key)
    if bad_sig is not None:
        return fail(f"manifest: {bad_sig}", line=1)
    return BundleCheck(True, len(body), manifest=manifest)
