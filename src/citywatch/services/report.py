"""The monthly oversight report's data: what a data-protection authority or a council asks for.

Statistics of the month (per day and per camera) and of the twelve months up to it, the human
review (false alerts, time to review), the cameras as the public register shows them, the
authorisations in force during the month, retention actions, and a summary of the audit log
(entries per action and role, whether the hash chain verifies, its head).

No personal data: counts, cameras, authorisations, roles.  Producing a report is itself
recorded in the audit log, with the SHA-256 of every file written (:func:`generate_report`),
so a report can later be checked against the log.  Only roles with ``stats.read`` may produce
one (deny by default).
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig
from citywatch.policy.access import Permission, allowed
from citywatch.services.authorisations import list_authorisations
from citywatch.services.cameras import list_cameras
from citywatch.services.common import PermissionDenied, ServiceError, unit_of_work
from citywatch.services.register import (
    Counts,
    MonthStatistics,
    PersonalTerms,
    RegisterCamera,
    Tally,
    activity,
    free_texts,
    month_key,
    monthly,
    public_state,
    register_cameras,
)
from citywatch.services.register_card import ModelCardPublic, public_model_card
from citywatch.store.models import AlertRow, AuditLogRow
from citywatch.store.types import utcnow

AUDIT_ACTION = "report.generate"
RETENTION_PREFIX = "retention."
TREND_MONTHS = 12
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> dt.date:
    """``"2026-11"`` -> the first day of that month; ServiceError naming the value otherwise."""
    found = _MONTH.match(text.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
        raise ServiceError(f"month {text!r}: expected YYYY-MM, e.g. 2026-11")
    return dt.date(int(found.group(1)), int(found.group(2)), 1)


def month_end(first: dt.date) -> dt.date:
    """The last day of the month that starts on ``first``."""
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _months_back(first: dt.date, n: int) -> dt.date:
    index = first.year * 12 + first.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class DayStatistics:
    day: dt.date
    counts: Counts


@dataclass(frozen=True, slots=True)
class CameraStatistics:
    camera_id: str
    counts: Counts


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    reviewed: int
    confirmed: int
    rejected: int
    pending: int  # alerts of the month still waiting for review when the report was made
    false_alert_rate: float | None  # rejected / reviewed
    median_minutes_to_review: float | None


@dataclass(frozen=True, slots=True)
class ReportAuthorisation:
    number: int
    reference: str  # for the oversight body to match with the warrant (not a person)
    purpose: str
    authority: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    urgent: bool
    confirmed_at: dt.datetime | None
    state: str  # at the end of the month (or now, for the running month)
    cameras: list[str]
    zones: list[str]


@dataclass(frozen=True, slots=True)
class RetentionAction:
    seq: int
    at: dt.datetime
    action: str
    role: str
    target: str
    figures: dict[str, int | float | bool]  # only the numbers and flags of the entry's details


@dataclass(frozen=True, slots=True)
class AuditSummary:
    total_entries: int
    month_entries: int
    by_action: list[tuple[str, int]]
    by_role: list[tuple[str, int]]
    chain_ok: bool
    entries_checked: int
    first_broken_seq: int | None
    problem: str | None
    head_seq: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class OversightReport:
    month: dt.date  # the first day
    generated_at: dt.datetime
    generated_by: str  # the role that produced it
    totals: Counts
    days: list[DayStatistics]
    cameras: list[CameraStatistics]
    trend: list[MonthStatistics]
    review: ReviewSummary
    register: list[RegisterCamera]
    authorisations: list[ReportAuthorisation]
    retention: list[RetentionAction]
    audit: AuditSummary
    model_card: ModelCardPublic
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return month_key(self.month)

    @property
    def title(self) -> str:
        return f"Oversight report {self.month.strftime('%B %Y')}"


def _counts(t: Tally) -> Counts:
    return Counts(**t.counts())


def _review(session: Session, start: dt.datetime, end: dt.datetime) -> ReviewSummary:
    rows = session.execute(
        select(AlertRow.status, AlertRow.created_at, AlertRow.reviewed_at)
        .where(AlertRow.seen_at >= start)
        .where(AlertRow.seen_at < end)
    ).all()
    status = Counter(r.status for r in rows)
    waits = [  # from the alert being stored to its review (clock skew: never negative)
        max(0.0, (r.reviewed_at - r.created_at).total_seconds() / 60)
        for r in rows
        if r.reviewed_at is not None and r.status in ("confirmed", "rejected")
    ]
    reviewed = status["confirmed"] + status["rejected"]
    return ReviewSummary(
        reviewed=reviewed,
        confirmed=status["confirmed"],
        rejected=status["rejected"],
        pending=status["pending"],
        false_alert_rate=status["rejected"] / reviewed if reviewed else None,
        median_minutes_to_review=statistics.median(waits) if waits else None,
    )


def _audit(session: Session, start: dt.datetime, end: dt.datetime) -> AuditSummary:
    in_month = (AuditLogRow.at >= start, AuditLogRow.at < end)
    by_action = session.execute(
        select(AuditLogRow.action, func.count()).where(*in_month).group_by(AuditLogRow.action)
    ).all()
    by_role = session.execute(
        select(AuditLogRow.role, func.count()).where(*in_month).group_by(AuditLogRow.role)
    ).all()
    total = int(session.scalar(select(func.count()).select_from(AuditLogRow)) or 0)
    try:
        verdict = chain.verify(session)
    except (ServiceError, ValueError) as err:  # a broken row: report it, do not crash
        verdict = chain.VerifyResult(False, 0, None, str(err))
    head_seq, head_hash = chain.head(session)
    actions = sorted(((str(a), int(n)) for a, n in by_action), key=lambda x: (-x[1], x[0]))
    roles = sorted(((str(r), int(n)) for r, n in by_role), key=lambda x: (-x[1], x[0]))
    return AuditSummary(
        total_entries=total,
        month_entries=sum(n for _a, n in actions),
        by_action=actions,
        by_role=roles,
        chain_ok=verdict.ok,
        entries_checked=verdict.entries,
        first_broken_seq=verdict.first_broken_seq,
        problem=verdict.problem,
        head_seq=head_seq,
        head_hash=head_hash,
    )


def _retention(session: Session, start: dt.datetime, end: dt.datetime) -> list[RetentionAction]:
    rows = session.scalars(
        select(AuditLogRow)
        .where(AuditLogRow.action.startswith(RETENTION_PREFIX, autoescape=True))
        .where(AuditLogRow.at >= start, AuditLogRow.at < end)
        .order_by(AuditLogRow.seq)
    )
    out: list[RetentionAction] = []
    for row in rows:
        try:
            details = json.loads(row.details)
        except ValueError:
            details = {}
        figures = _figures(details if isinstance(details, dict) else {})
        out.append(RetentionAction(row.seq, row.at, row.action, row.role, row.target, figures))
    return out


def _figures(details: dict[str, Any], prefix: str = "") -> dict[str, int | float | bool]:
    """The numbers and flags of an entry's details, nested keys joined with dots (text, which
    may name a plate or a person, is left out)."""
    out: dict[str, int | float | bool] = {}
    for key, value in sorted(details.items()):
        name = f"{prefix}{key}"
        if isinstance(value, dict) and prefix.count(".") < 3:
            out.update(_figures(value, f"{name}."))
        elif isinstance(value, (int, float, bool)):
            out[name] = value
    return out


def build_oversight_report(
    session: Session,
    config: CitywatchConfig,
    actor: Actor,
    month: dt.date,
    *,
    now: dt.datetime | None = None,
) -> OversightReport:
    """The report's data for the month starting on ``month`` (not audited by itself: use
    :func:`generate_report`).  PermissionDenied for a role without ``stats.read``."""
    if not allowed(actor.role, Permission.STATS_READ):
        raise PermissionDenied(f"role {actor.role!r} may not produce an oversight report")
    at = utcnow() if now is None else now.astimezone(dt.UTC)
    first, last = month.replace(day=1), month_end(month)
    start, end = _midnight(first), _midnight(last + dt.timedelta(days=1))
    as_of = min(at, end)  # states at the end of the month (or now, while it runs)

    days = activity(session, since=first, until=last)
    per_day: dict[dt.date, Tally] = {}
    per_cam: dict[str, Tally] = {}
    total = Tally()
    for d in days:
        per_day.setdefault(d.day, Tally()).add(d.tally)
        per_cam.setdefault(d.camera_id, Tally()).add(d.tally)
        total.add(d.tally)
    cameras = list_cameras(session)
    for cam in cameras:
        per_cam.setdefault(cam.id, Tally())
    trend, _ = monthly(activity(session, since=_months_back(first, TREND_MONTHS - 1), until=last))

    auths = [a for a in list_authorisations(session) if a.starts_at < end and a.ends_at > start]
    terms = PersonalTerms.load(session, free_texts(cameras, auths))
    return OversightReport(
        month=first,
        generated_at=at,
        generated_by=actor.role,
        totals=_counts(total),
        days=[
            DayStatistics(
                first + dt.timedelta(days=i),
                _counts(per_day.get(first + dt.timedelta(days=i), Tally())),
            )
            for i in range(last.day)
        ],
        cameras=[CameraStatistics(c, _counts(t)) for c, t in sorted(per_cam.items())],
        trend=trend,
        review=_review(session, start, end),
        register=register_cameras(cameras, list_authorisations(session), terms, as_of),
        authorisations=[
            ReportAuthorisation(
                number=a.id,
                reference=terms.clean(a.reference),
                purpose=terms.clean(a.purpose),
                authority=terms.clean(a.authority),
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                urgent=a.urgent,
                confirmed_at=a.confirmed_at,
                state=public_state(a, as_of),
                cameras=list(a.scope_cameras),
                zones=[terms.clean(z) for z in a.scope_zones],
            )
            for a in auths
        ],
        retention=_retention(session, start, end),
        audit=_audit(session, start, end),
        model_card=public_model_card(config, clean=terms.clean),
        notes=[
            "All times and months are UTC.  An alert counts in the month it was seen.",
            "Faces analysed = face tracks that matched nobody (counted, then discarded) "
            "+ possible matches.",
            "Rejected alerts are false alerts: a person compared them and found no match.",
        ],
    )


@dataclass(frozen=True, slots=True)
class GeneratedReport:
    report: OversightReport
    files: list[Path]
    digests: dict[str, str]  # file name -> SHA-256
    audit_seq: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def generate_report(
    session: Session,
    config: CitywatchConfig,
    actor: Actor,
    month: dt.date,
    write: Callable[[OversightReport], Sequence[Path]],
    *,
    now: dt.datetime | None = None,
) -> GeneratedReport:
    """Build the report, hand it to ``write`` (which renders it and returns the files it
    wrote), and record the access in the audit log with each file's SHA-256."""
    report = build_oversight_report(session, config, actor, month, now=now)
    files = list(write(report))
    digests = {p.name: sha256_file(p) for p in files}
    with unit_of_work(session):
        entry = chain.append(
            session,
            actor,
            AUDIT_ACTION,
            f"report:{report.label}",
            details={"month": report.label, "files": digests},
        )
    return GeneratedReport(report, files, digests, entry.seq)
