"""Publishing the audit chain's head, so that a later rewrite of the history is detectable.

The hash chain shows any edit, deletion or reordering *inside* the log, but someone with write
access to the database could cut entries off the end, or rebuild the whole chain.  Publishing
the head now and then (to the oversight body, a public page, a write-once store) pins the
history up to it: ``citywatch audit verify --expected-head head.json`` then fails when the log
no longer holds that entry with that hash.

A head document is small signed JSON::

    {"format": "citywatch-audit-head/1", "seq": 1234, "hash": "...", "entry_at": "...",
     "published_at": "...", "signature": {"alg": ..., "key_id": ..., "value": ...}}
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import GENESIS_HASH, canonical_json, head, iso_utc
from citywatch.audit.keys import AuditKey, check_document, sign_document
from citywatch.files import atomic_write_bytes
from citywatch.store.models import AuditLogRow
from citywatch.store.types import utcnow

HEAD_FORMAT = "citywatch-audit-head/1"
MAX_HEAD_FILE_BYTES = 65_536


class HeadError(ValueError):
    """A head document is unreadable, malformed or not signed by the key given."""


@dataclass(frozen=True, slots=True)
class PublishedHead:
    seq: int
    hash: str
    published_at: str
    alg: str
    key_id: str

    @property
    def expected(self) -> tuple[int, str]:
        """What :func:`citywatch.audit.chain.verify` takes as ``expected_head``."""
        return self.seq, self.hash


def head_document(
    session: Session, key: AuditKey, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The signed head of the chain as it stands."""
    seq, digest = head(session)
    entry_at = None
    if seq:
        at = session.scalar(select(AuditLogRow.at).where(AuditLogRow.seq == seq))
        entry_at = iso_utc(at) if at is not None else None
    return sign_document(
        {
            "format": HEAD_FORMAT,
            "seq": seq,
            "hash": digest,
            "entry_at": entry_at,
            "published_at": iso_utc(now or utcnow()),
        },
        key,
    )


def head_json(doc: dict[str, Any]) -> str:
    return canonical_json(doc) + "\n"


def write_head(doc: dict[str, Any], path: Path) -> None:
    atomic_write_bytes(Path(path), head_json(doc).encode("utf-8"))


def _is_hash(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == len(GENESIS_HASH)
        and all(c in "0123456789abcdef" for c in value)
    )


def parse_head(text: str, key: AuditKey, source: str = "head") -> PublishedHead:
    """A verified head; :class:`HeadError` naming what is wrong otherwise."""
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise HeadError(f"{source}: not JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
        raise HeadError(f"{source}: not a {HEAD_FORMAT} document")
    seq, digest = doc.get("seq"), doc.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not _is_hash(digest):
        raise HeadError(f"{source}: seq must be a whole number and hash 64 hex digits")
    problem = check_document(doc, key)
    if problem is not None:
        raise HeadError(f"{source}: {problem}")
    return PublishedHead(
        seq=seq,
        hash=str(digest),
        published_at=str(doc.get("published_at", "")),
        alg=key.alg,
        key_id=key.key_id,
    )


def read_head(path: Path, key: AuditKey) -> PublishedHead:
    p = Path(path)
    source = f"head file {str(p)!r}"
    try:
        if p.stat().st_size > MAX_HEAD_FILE_BYTES:
            raise HeadError(f"{source} is too large to be a head document")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8"
        raise HeadError(f"{source} cannot be read: {why}") from None
    return parse_head(text, key, source)
