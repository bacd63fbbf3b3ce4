"""Searching plate reads: only with a case reference, always audited.

Patterns use ``*`` (any run of characters) and ``?`` (one character); everything else is
matched literally after the same normalisation as the reads (upper case, no separators).
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.services.common import NotFoundError, ServiceError, aware, unit_of_work
from citywatch.store.models import CameraRow, PlateReadRow

MIN_LITERAL_CHARS = 2
MAX_RESULTS = 10_000
LIKE_ESCAPE = "\\"


class SearchError(ServiceError):
    """A search was refused (no case reference, a pattern that matches everything, ...)."""


def normalise_pattern(pattern: str) -> str:
    """Upper case; separators and spaces removed; ``*`` and ``?`` kept."""
    text = unicodedata.normalize("NFKC", pattern).upper()
    return "".join(ch for ch in text if ch.isalnum() or ch in "*?")


def like_pattern(pattern: str) -> str:
    """The SQL LIKE pattern (escape character ``\\``) for a normalised wildcard pattern."""
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in ("%", "_", LIKE_ESCAPE):
            out.append(LIKE_ESCAPE + ch)
        else:
            out.append(ch)
    return "".join(out)


def _case_ref(case_ref: str | None) -> str:
    ref = (case_ref or "").strip()
    if not ref:
        raise SearchError("a case reference is required to search plate reads")
    if len(ref) > 200:
        raise SearchError("the case reference is longer than 200 characters")
    return ref


def search_plate_reads(
    session: Session,
    actor: Actor,
    pattern: str,
    *,
    case_ref: str,
    camera_id: str | None = None,
    zone: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
) -> list[PlateReadRow]:
    """Reads whose plate matches ``pattern`` (newest first), audited with pattern and case."""
    ref = _case_ref(case_ref)
    norm = normalise_pattern(pattern)
    literal = sum(1 for ch in norm if ch not in "*?")
    if literal < MIN_LITERAL_CHARS:
        raise SearchError(
            f"pattern {pattern!r} needs at least {MIN_LITERAL_CHARS} letters or digits "
            "besides wildcards"
        )
    if not 1 <= limit <= MAX_RESULTS:
        raise SearchError(f"limit must be 1..{MAX_RESULTS}, got {limit}")
    like = like_pattern(norm)
    stmt = select(PlateReadRow).where(PlateReadRow.plate.like(like, escape=LIKE_ESCAPE))
    if camera_id is not None:
        stmt = stmt.where(PlateReadRow.camera_id == camera_id)
    if zone is not None:
        stmt = stmt.join(CameraRow, CameraRow.id == PlateReadRow.camera_id).where(
            CameraRow.zone == zone
        )
    if since is not None:
        stmt = stmt.where(PlateReadRow.last_seen_at >= aware(since, "since"))
    if until is not None:
        stmt = stmt.where(PlateReadRow.first_seen_at < aware(until, "until"))
    stmt = stmt.order_by(PlateReadRow.last_seen_at.desc(), PlateReadRow.id.desc()).limit(limit)
    with unit_of_work(session):
        rows = list(session.scalars(stmt))
        append(
            session,
            actor,
            "plate_read.search",
            f"plates:{norm}",
            details={
                "pattern": pattern,
                "normalised": norm,
                "camera_id": camera_id,
                "zone": zone,
                "since": since,
                "until": until,
                "limit": limit,
                "results": len(rows),
            },
            reason=ref,
        )
    return rows


def get_plate_read(session: Session, actor: Actor, read_id: int, *, case_ref: str) -> PlateReadRow:
    """One plate read, audited with the case reference."""
    ref = _case_ref(case_ref)
    with unit_of_work(session):
        row = session.get(PlateReadRow, read_id)
        if row is None:
            raise NotFoundError(f"plate read {read_id} does not exist")
        append(session, actor, "plate_read.view", f"plate_read:{read_id}", reason=ref)
    return row
