"""The hash-chained, append-only audit log.

Each entry's hash is ``SHA-256(prev_hash || canonical JSON of the entry)``, where the entry holds
its sequence number, time (ISO 8601 UTC), actor, role, action, target, details and reason.  The
first entry's ``prev_hash`` is 64 zeros.  Editing, deleting or reordering rows breaks the chain,
which :func:`verify` reports; cutting rows off the end is caught by comparing with a head
recorded elsewhere (``verify(..., expected_head=...)``).

Entries are written by the service layer in the same transaction as the change they describe.
Writers are serialised: PostgreSQL takes a transaction-scoped advisory lock; SQLite takes its
database write lock before the head is read.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from citywatch.store.models import AuditLogRow
from citywatch.store.types import utcnow

GENESIS_HASH = "0" * 64
# pg_advisory_xact_lock key: "cwaudit" as a big-endian integer (fits in a signed bigint).
AUDIT_LOCK_KEY = int.from_bytes(b"cwaudit", "big")


class AuditError(RuntimeError):
    """An audit entry could not be written; the change it describes must not be committed."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: a person (operator, reviewer, ...) or a system component."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if not self.name.strip() or not self.role.strip():
            raise ValueError("an audit actor needs a name and a role")

    @classmethod
    def system(cls, component: str) -> Actor:
        """A process acting on its own (a camera worker, a retention job)."""
        return cls(name=f"system:{component}", role="system")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    target: str
    details: dict[str, Any]
    reason: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries: int  # rows checked
    first_broken_seq: int | None = None
    problem: str | None = None


def iso_utc(value: dt.datetime) -> str:
    """``2024-05-01T12:00:00.000000Z``: the one time format inside hashed entries."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} in an audit entry")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=canonical_json)  # elements are converted by json.dumps
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"audit details: {type(value).__name__} is not JSON-serialisable")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept, NaN refused."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_jsonable,
    )


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    role: str,
    action: str,
    target: str,
    details: Mapping[str, Any],
    reason: str | None,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": iso_utc(at),
            "actor": actor,
            "role": role,
            "action": action,
            "target": target,
            "details": details,
            "reason": reason,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode("utf-8")).hexdigest()


def _lock(session: Session) -> None:
    """Serialise appenders until this transaction ends."""
    session.flush()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif dialect == "sqlite":
        # A write that touches no row still takes SQLite's write lock (waiting up to
        # busy_timeout), so the head read below cannot be overtaken by another writer.
        session.execute(text("UPDATE audit_log SET seq = seq WHERE 1 = 0"))
    else:
        raise AuditError(f"audit log: no locking strategy for the {dialect} database")


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the newest entry; ``(0, 64 zeros)`` when the log is empty."""
    row = session.execute(
        select(AuditLogRow.seq, AuditLogRow.hash).order_by(AuditLogRow.seq.desc()).limit(1)
    ).first()
    if row is None:
        return 0, GENESIS_HASH
    return int(row.seq), str(row.hash)


def append(
    session: Session,
    actor: Actor,
    action: str,
    target: str,
    *,
    details: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Add one entry in the caller's transaction (the caller commits with its change)."""
    if not action.strip():
        raise AuditError("audit entry without an action")
    clean: dict[str, Any] = json.loads(canonical_json(dict(details or {})))
    _lock(session)
    seq, prev = head(session)
    seq += 1
    at = utcnow()
    digest = entry_hash(
        prev,
        seq=seq,
        at=at,
        actor=actor.name,
        role=actor.role,
        action=action,
        target=target,
        details=clean,
        reason=reason,
    )
    row = AuditLogRow(
        seq=seq,
        at=at,
        actor=actor.name,
        role=actor.role,
        action=action,
        target=target,
        details=canonical_json(clean),
        reason=reason,
        prev_hash=prev,
        hash=digest,
    )
    session.add(row)
    session.flush()
    return _entry(row.seq, row.at, row, clean)


def _entry(seq: int, at: dt.datetime, row: Any, details: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        at=at,
        actor=row.actor,
        role=row.role,
        action=row.action,
        target=row.target,
        details=details,
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries(
    session: Session, *, after_seq: int = 0, limit: int | None = None
) -> Iterator[AuditEntry]:
    """Entries in order, from ``after_seq + 1`` (for listing and export)."""
    stmt = select(AuditLogRow.__table__).where(AuditLogRow.seq > after_seq)
    stmt = stmt.order_by(AuditLogRow.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    for row in session.execute(stmt.execution_options(yield_per=1000)):
        yield _entry(row.seq, row.at, row, json.loads(row.details))


def verify(session: Session, *, expected_head: tuple[int, str] | None = None) -> VerifyResult:
    """Recompute the whole chain.  ``expected_head``: a ``(seq, hash)`` recorded elsewhere."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    stmt = select(AuditLogRow.__table__).order_by(AuditLogRow.seq)
    for row in session.execute(stmt.execution_options(yield_per=1000)):
        count += 1
        seq = int(row.seq)
        if seq != expected_seq:
            return VerifyResult(
                False,
                count,
                expected_seq,
                f"seq {expected_seq} is missing (next row is seq {seq}): "
                "rows deleted or renumbered",
            )
        if row.prev_hash != prev_hash:
            return VerifyResult(
                False,
                count,
                seq,
                f"seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
                "(a row before it was deleted, inserted or reordered)",
            )
        try:
            details = json.loads(row.details)
            canonical = canonical_json(details)
        except (ValueError, TypeError):
            return VerifyResult(False, count, seq, f"seq {seq}: details are not valid JSON")
        if canonical != row.details:
            return VerifyResult(False, count, seq, f"seq {seq}: details are not canonical JSON")
        digest = entry_hash(
            prev_hash,
            seq=seq,
            at=row.at,
            actor=row.actor,
            role=row.role,
            action=row.action,
            target=row.target,
            details=details,
            reason=row.reason,
        )
        if digest != row.hash:
            return VerifyResult(
                False, count, seq, f"seq {seq}: contents do not match its hash (row edited)"
            )
        prev_hash = row.hash
        expected_seq += 1
    if expected_head is not None:
        want_seq, want_hash = expected_head
        last_seq = expected_seq - 1
        if last_seq < want_seq:
            return VerifyResult(
                False,
                count,
                last_seq + 1,
                f"log ends at seq {last_seq} but seq {want_seq} was recorded: rows cut off",
            )
        if want_seq > 0 and _hash_at(session, want_seq) != want_hash:
            return VerifyResult(
                False, count, want_seq, f"seq {want_seq}: hash differs from the recorded head"
            )
    return VerifyResult(True, count)


def _hash_at(session: Session, seq: int) -> str | None:
    value = session.execute(select(AuditLogRow.hash).where(AuditLogRow.seq == seq)).scalar()
    return None if value is None else str(value)
