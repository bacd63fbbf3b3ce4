"""Searching plate reads: only with a case reference, always audited.

Reads last seen within the access window (default 90 days) are searched with the case
reference alone; older ones only under an approved access request of the same investigator for
the same case (:mod:`citywatch.services.access_requests`).  A search that asks for a period
before the window without one, or a view of an old read, is refused (403) and the refusal is
audited; a search without ``since`` stays within the window.

Patterns use ``*`` (any run of characters) and ``?`` (one character); everything else is
matched literally after the same normalisation as the reads (upper case, no separators).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append
from citywatch.config.plates import DEFAULT_CONFUSIONS
from citywatch.decisions.hotlist import HotlistMatcher
from citywatch.policy.retention import (
    DEFAULT_ACCESS_WINDOW,
    AccessGrant,
    access_cutoff,
    may_view_read,
)
from citywatch.services.access_requests import grant_clause, live_grants, refuse
from citywatch.services.alerts import subject_filter
from citywatch.services.common import NotFoundError, ServiceError, aware, now_or, unit_of_work
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


@dataclass(frozen=True, slots=True)
class _Scope:
    """Which reads a search may return: the window, widened by the actor's grants for the case."""

    actor: Actor
    case_ref: str
    now: dt.datetime
    window: dt.timedelta
    cutoff: dt.datetime
    grants: list[AccessGrant]

    @property
    def clause(self) -> ColumnElement[bool]:
        return grant_clause(self.cutoff, self.grants)

    def allows(self, row: PlateReadRow) -> bool:
        """The pure policy's word on one row (a second guard behind the SQL clause)."""
        return bool(
            may_view_read(
                row.last_seen_at, self.actor.name, self.case_ref, self.grants, self.now, self.window
            )
        )

    def details(self) -> dict[str, Any]:
        return {"window_from": self.cutoff, "access_requests": [g.request_id for g in self.grants]}


def _scope(
    session: Session,
    actor: Actor,
    case_ref: str,
    window: dt.timedelta,
    now: dt.datetime | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    details: dict[str, Any],
) -> _Scope:
    """The reads this search may see; refused (and audited) when it asks for a period before
    the window without an approved access request for the case."""
    at = now_or(now)
    cutoff = access_cutoff(at, window)
    grants = live_grants(session, actor, case_ref, at)
    old_since = since is not None and aware(since, "since") < cutoff
    old_until = until is not None and aware(until, "until") <= cutoff
    if (old_since or old_until) and not grants:
        message = (
            f"plate reads before {cutoff:%Y-%m-%d %H:%M} UTC are older than the "
            f"{window.days}-day access window: they need an access request for case "
            f"{case_ref!r} approved by a second person"
        )
        raise refuse(
            session,
            actor,
            "plate_read.access_denied",
            "plate_reads",
            message,
            details={**details, "window_from": cutoff},
            reason=case_ref,
        )
    return _Scope(actor, case_ref, at, window, cutoff, grants)


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


def checked_pattern(pattern: str) -> str:
    """``pattern`` normalised; :class:`SearchError` unless it holds enough literal characters
    (a bare ``*`` would sweep every read)."""
    norm = normalise_pattern(pattern)
    if sum(1 for ch in norm if ch not in "*?") < MIN_LITERAL_CHARS:
        raise SearchError(
            f"pattern {pattern!r} needs at least {MIN_LITERAL_CHARS} letters or digits "
            "besides wildcards"
        )
    return norm


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_RESULTS:
        raise SearchError(f"limit must be 1..{MAX_RESULTS}, got {limit}")


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
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
    now: dt.datetime | None = None,
) -> list[PlateReadRow]:
    """Reads whose plate matches ``pattern`` (newest first), audited with pattern and case.

    Reads older than ``window`` only under an approved access request (see the module)."""
    ref = _case_ref(case_ref)
    norm = checked_pattern(pattern)
    check_limit(limit)
    like = like_pattern(norm)
    asked: dict[str, Any] = {
        "pattern": pattern,
        "normalised": norm,
        "camera_id": camera_id,
        "zone": zone,
        "since": since,
        "until": until,
        "limit": limit,
    }
    scope = _scope(session, actor, ref, window, now, since, until, asked)
    stmt = _read_filters(
        select(PlateReadRow)
        .where(PlateReadRow.plate.like(like, escape=LIKE_ESCAPE))
        .where(scope.clause),
        camera_id,
        zone,
        since,
        until,
    )
    stmt = stmt.order_by(PlateReadRow.last_seen_at.desc(), PlateReadRow.id.desc()).limit(limit)
    with unit_of_work(session):
        rows = [r for r in session.scalars(stmt) if scope.allows(r)]
        append(
            session,
            actor,
            "plate_read.search",
            f"plates:{norm}",
            details={**asked, **scope.details(), "results": len(rows)},
            reason=ref,
        )
    return rows


def get_plate_read(
    session: Session,
    actor: Actor,
    read_id: int,
    *,
    case_ref: str,
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
    now: dt.datetime | None = None,
) -> PlateReadRow:
    """One plate read, audited with the case reference; an old one only under an approved
    access request for the case (a refusal is audited)."""
    ref = _case_ref(case_ref)
    at = now_or(now)
    with unit_of_work(session):
        row = session.get(PlateReadRow, read_id)
        if row is None:
            raise NotFoundError(f"plate read {read_id} does not exist")
        grants = live_grants(session, actor, ref, at)
        verdict = may_view_read(row.last_seen_at, actor.name, ref, grants, at, window)
        if verdict:
            append(
                session,
                actor,
                "plate_read.view",
                f"plate_read:{read_id}",
                details={"access_requests": [g.request_id for g in grants]} if grants else None,
                reason=ref,
            )
    if not verdict:
        raise refuse(
            session,
            actor,
            "plate_read.access_denied",
            f"plate_read:{read_id}",
            f"plate read {read_id}: {verdict.reason}",
            details={"window_from": access_cutoff(at, window)},
            reason=ref,
        )
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
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
    now: dt.datetime | None = None,
) -> list[tuple[PlateReadRow, int]]:
    """Reads within ``max_distance`` edits of ``plate`` (OCR confusions such as ``O``/``0`` are
    free, as in hotlist matching): ``(read, edits)``, newest first, audited with the case.
    Reads older than ``window`` only under an approved access request."""
    ref = _case_ref(case_ref)
    key = plate_key(plate)
    if not 0 <= max_distance <= MAX_FUZZY_DISTANCE:
        raise SearchError(f"max_distance must be 0..{MAX_FUZZY_DISTANCE}, got {max_distance}")
    if len(key) < max_distance + MIN_LITERAL_CHARS:
        raise SearchError(
            f"fuzzy plate {plate!r} needs at least {max_distance + MIN_LITERAL_CHARS} letters or "
            f"digits for a distance of {max_distance} (wildcards are not used in fuzzy search)"
        )
    check_limit(limit)
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
    asked: dict[str, Any] = {
        "pattern": plate,
        "normalised": key,
        "fuzzy": True,
        "max_distance": max_distance,
        "camera_id": camera_id,
        "zone": zone,
        "since": since,
        "until": until,
        "limit": limit,
    }
    scope = _scope(session, actor, ref, window, now, since, until, asked)
    stmt = _read_filters(
        select(PlateReadRow)
        .where(or_(*likes))
        .where(length >= len(key) - max_distance, length <= len(key) + max_distance)
        .where(scope.clause),
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
            if hit is not None and scope.allows(row):
                out.append((row, hit.distance))
                if len(out) >= limit:
                    break
        append(
            session,
            actor,
            "plate_read.search",
            f"plates:{key}",
            details={**asked, **scope.details(), "results": len(out)},
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
    check_limit(limit)
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
