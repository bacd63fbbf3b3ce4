"""Searching plate reads: only with a case reference, always audited.

Patterns use ``*`` (any run of characters) and ``?`` (one character); everything else is
matched literally after the same normalisation as the reads (upper case, no separators).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.config.plates import DEFAULT_CONFUSIONS
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.services.alerts import subject_filter
from citywatch.services.common import NotFoundError, ServiceError, aware, unit_of_work
from citywatch.store.models import ALERT_KINDS, AlertRow, CameraRow, PlateReadRow
from citywatch.vision.plates.formats import plate_key

MIN_LITERAL_CHARS = 2
MAX_RESULTS = 10_000
MAX_FUZZY_DISTANCE = 2
MAX_FUZZY_CANDIDATES = 50_000  # rows scored in Python after the SQL pre-filter
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


def _read_filters(
    stmt: Select[PlateReadRow],
    camera_id: str | None,
    zone: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Select[PlateReadRow]:
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
    return stmt


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
    stmt = _read_filters(
        select(PlateReadRow).where(PlateReadRow.plate.like(like, escape=LIKE_ESCAPE)),
        camera_id,
        zone,
        since,
        until,
    )
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


def _fuzzy_likes(key: str, edits: int, confusable: set[str]) -> list[str]:
    """LIKE patterns one of which every read within ``edits`` true edits of ``key`` matches.

    Pigeonhole: split ``key`` into ``edits + 1`` pieces; a read with at most ``edits`` edits
    keeps one piece (up to confusable swaps, which become ``_``) as its prefix, its suffix or
    somewhere inside."""
    k = edits + 1
    bounds = [round(i * len(key) / k) for i in range(k + 1)]
    out: list[str] = []
    for i in range(k):
        piece = "".join(
            "_" if ch in confusable else like_pattern(ch) for ch in key[bounds[i] : bounds[i + 1]]
        )
        head = "" if i == 0 else "%"
        tail = "" if i == k - 1 else "%"
        out.append(f"{head}{piece}{tail}")
    return out


def search_plate_reads_fuzzy(
    session: Session,
    actor: Actor,
    plate: str,
    *,
    case_ref: str,
    max_distance: int = 1,
    confusions: Iterable[str] = DEFAULT_CONFUSIONS,
    confusion_cost: float = 0.0,
    camera_id: str | None = None,
    zone: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 1000,
) -> list[tuple[PlateReadRow, int]]:
    """Reads within ``max_distance`` edits of ``plate`` (OCR confusions such as ``O``/``0`` are
    free, as in hotlist matching): ``(read, edits)``, newest first, audited with the case."""
    ref = _case_ref(case_ref)
    key = plate_key(plate)
    if not 0 <= max_distance <= MAX_FUZZY_DISTANCE:
        raise SearchError(f"max_distance must be 0..{MAX_FUZZY_DISTANCE}, got {max_distance}")
    if len(key) < max_distance + MIN_LITERAL_CHARS:
        raise SearchError(
            f"fuzzy plate {plate!r} needs at least {max_distance + MIN_LITERAL_CHARS} letters or "
            f"digits for a distance of {max_distance} (wildcards are not used in fuzzy search)"
        )
    if not 1 <= limit <= MAX_RESULTS:
        raise SearchError(f"limit must be 1..{MAX_RESULTS}, got {limit}")
    pairs: Sequence[str] = list(confusions)
    matcher = HotlistMatcher(
        [(0, 0, key)], max_distance=max_distance, confusions=pairs, confusion_cost=confusion_cost
    )
    confusable = {ch.upper() for pair in pairs for ch in pair}
    likes = [
        PlateReadRow.plate.like(p, escape=LIKE_ESCAPE)
        for p in _fuzzy_likes(key, max_distance, confusable)
    ]
    length = func.length(PlateReadRow.plate)
    stmt = _read_filters(
        select(PlateReadRow)
        .where(or_(*likes))
        .where(length >= len(key) - max_distance, length <= len(key) + max_distance),
        camera_id,
        zone,
        since,
        until,
    )
    stmt = stmt.order_by(PlateReadRow.last_seen_at.desc(), PlateReadRow.id.desc())
    with unit_of_work(session):
        out: list[tuple[PlateReadRow, int]] = []
        for row in session.scalars(stmt.limit(MAX_FUZZY_CANDIDATES)):
            hit = matcher.match(row.plate)
            if hit is not None:
                out.append((row, hit.distance))
                if len(out) >= limit:
                    break
        append(
            session,
            actor,
            "plate_read.search",
            f"plates:{key}",
            details={
                "pattern": plate,
                "normalised": key,
                "fuzzy": True,
                "max_distance": max_distance,
                "camera_id": camera_id,
                "zone": zone,
                "since": since,
                "until": until,
                "limit": limit,
                "results": len(out),
            },
            reason=ref,
        )
    return out


def search_alerts(
    session: Session,
    actor: Actor,
    *,
    case_ref: str,
    subject: str | None = None,
    camera_id: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AlertRow]:
    """History search of alerts (newest first; ``before_id`` pages back), only with a case
    reference, audited with its filters and the ids returned."""
    ref = _case_ref(case_ref)
    if kind is not None and kind not in ALERT_KINDS:
        raise SearchError(f"alert kind {kind!r}: expected one of {', '.join(ALERT_KINDS)}")
    if not 1 <= limit <= MAX_RESULTS:
        raise SearchError(f"limit must be 1..{MAX_RESULTS}, got {limit}")
    stmt = select(AlertRow)
    if subject is not None:
        stmt = stmt.where(subject_filter(subject))
    if camera_id is not None:
        stmt = stmt.where(AlertRow.camera_id == camera_id)
    if kind is not None:
        stmt = stmt.where(AlertRow.kind == kind)
    if since is not None:
        stmt = stmt.where(AlertRow.seen_at >= aware(since, "since"))
    if until is not None:
        stmt = stmt.where(AlertRow.seen_at < aware(until, "until"))
    if before_id is not None:
        stmt = stmt.where(AlertRow.id < before_id)
    with unit_of_work(session):
        rows = list(session.scalars(stmt.order_by(AlertRow.id.desc()).limit(limit)))
        append(
            session,
            actor,
            "alert.search",
            "alerts",
            details={
                "subject": subject,
                "camera_id": camera_id,
                "kind": kind,
                "since": since,
                "until": until,
                "before_id": before_id,
                "limit": limit,
                "returned": [r.id for r in rows],
            },
            reason=ref,
        )
    return rows
