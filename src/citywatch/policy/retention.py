"""How long personal data is kept, and who may see old plate reads.  Pure.

Retention, per data class (:class:`DataClass`):

* **plate reads** are deleted ``plate_reads`` after they were last seen (default 12 months),
  unless they are on evidence hold (a hotlist hit not yet rejected, or a read held for a case);
* **alerts** (with their snapshots): pending and confirmed ones are deleted their period after
  the sighting; rejected ones (false alerts) their period after the review.  A plate alert whose
  read is on evidence hold is kept with it;
* **audit** entries are kept: the hash chain is the proof that nothing else was changed, and
  cutting its start off would leave nothing to verify from;
* **statistics** (counts per camera and day, nothing personal) are kept unless a period is set.

Access window: a plate read last seen before ``now - window`` (default 90 days) may be viewed
only under an *access grant*: a request by the investigator, for one case, for a period of
reads, approved by a second person who holds :attr:`Permission.ACCESS_APPROVE` (never the
requester), and not yet expired.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from citywatch.policy.access import Permission, allowed
from citywatch.policy.decision import Decision

DAY = dt.timedelta(days=1)
DEFAULT_PLATE_READS = dt.timedelta(days=365)
DEFAULT_ACCESS_WINDOW = dt.timedelta(days=90)
DEFAULT_GRANT_VALIDITY = dt.timedelta(days=30)
ACCESS_STATUSES = ("pending", "approved", "denied")


class DataClass(enum.StrEnum):
    PLATE_READ = "plate_read"
    ALERT = "alert"
    AUDIT = "audit"
    STATISTICS = "statistics"


class Verdict(enum.StrEnum):
    KEEP = "keep"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    verdict: Verdict
    reason: str

    @property
    def delete(self) -> bool:
        return self.verdict is Verdict.DELETE


@dataclass(frozen=True, slots=True)
class RetentionRules:
    """Periods per data class; ``None``: kept (audit is always kept)."""

    plate_reads: dt.timedelta = DEFAULT_PLATE_READS
    alerts_pending: dt.timedelta = dt.timedelta(days=365)
    alerts_confirmed: dt.timedelta = dt.timedelta(days=365)
    alerts_rejected: dt.timedelta = dt.timedelta(days=30)
    statistics: dt.timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("plate_reads", "alerts_pending", "alerts_confirmed", "alerts_rejected"):
            if getattr(self, name) < DAY:
                raise ValueError(f"retention of {name} must be at least one day")
        if self.statistics is not None and self.statistics < DAY:
            raise ValueError("retention of statistics must be at least one day (or None: kept)")


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What retention needs to know about one stored record."""

    data_class: DataClass
    at: dt.datetime  # a read's last sighting, an alert's sighting, a count's day, an entry's time
    evidence_hold: bool = False  # plate reads; for a plate alert: its read's hold
    status: str | None = None  # alerts: pending, confirmed or rejected
    reviewed_at: dt.datetime | None = None  # alerts


def _aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def _days(period: dt.timedelta) -> str:
    return f"{period.days} days" if period.days != 1 else "1 day"


def _by_age(
    what: str, since: dt.datetime, period: dt.timedelta, now: dt.datetime
) -> RetentionDecision:
    due = since + period
    if now >= due:
        return RetentionDecision(
            Verdict.DELETE, f"{what}: deleted {_days(period)} after {since.isoformat()}"
        )
    return RetentionDecision(Verdict.KEEP, f"{what}: kept until {due.isoformat()}")


def retention_decision(
    facts: RecordFacts, rules: RetentionRules, now: dt.datetime
) -> RetentionDecision:
    """Keep or delete ``facts``'s record at ``now``, with the reason."""
    _aware("now", now)
    _aware("record time", facts.at)
    keep = Verdict.KEEP
    kind = facts.data_class
    if kind is DataClass.AUDIT:
        return RetentionDecision(keep, "audit entries are kept: the hash chain must stay whole")
    if kind is DataClass.STATISTICS:
        if rules.statistics is None:
            return RetentionDecision(keep, "statistics are kept (no retention period set)")
        return _by_age("statistics", facts.at, rules.statistics, now)
    if kind is DataClass.PLATE_READ:
        if facts.evidence_hold:
            return RetentionDecision(keep, "the plate read is on evidence hold")
        return _by_age("plate reads", facts.at, rules.plate_reads, now)
    if kind is DataClass.ALERT:
        if facts.evidence_hold:
            return RetentionDecision(keep, "the alert's plate read is on evidence hold")
        if facts.status == "rejected":
            since = facts.reviewed_at or facts.at
            _aware("reviewed_at", since)
            return _by_age("false alerts", since, rules.alerts_rejected, now)
        if facts.status == "confirmed":
            return _by_age("confirmed alerts", facts.at, rules.alerts_confirmed, now)
        if facts.status == "pending":
            return _by_age("unreviewed alerts", facts.at, rules.alerts_pending, now)
        return RetentionDecision(keep, f"unknown alert status {facts.status!r}: kept")
    raise ValueError(f"unknown data class {kind!r}")  # pragma: no cover


def delete_before(period: dt.timedelta | None, now: dt.datetime) -> dt.datetime | None:
    """Records of a class with ``period`` whose time is before this are due (None: kept)."""
    _aware("now", now)
    return None if period is None else now - period


# --------------------------------------------------------------- access to old plate reads


def access_cutoff(now: dt.datetime, window: dt.timedelta = DEFAULT_ACCESS_WINDOW) -> dt.datetime:
    """Reads last seen before this need an access grant."""
    _aware("now", now)
    if window < DAY:
        raise ValueError("the access window must be at least one day")
    return now - window


def needs_grant(
    last_seen_at: dt.datetime, now: dt.datetime, window: dt.timedelta = DEFAULT_ACCESS_WINDOW
) -> bool:
    _aware("last_seen_at", last_seen_at)
    return last_seen_at < access_cutoff(now, window)


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """An access request as the policy sees it."""

    request_id: int
    requested_by: str
    case_ref: str
    reads_from: dt.datetime
    reads_until: dt.datetime
    status: str  # pending, approved, denied
    decided_by: str | None = None
    expires_at: dt.datetime | None = None


def grant_is_live(grant: AccessGrant, now: dt.datetime) -> Decision:
    """Approved by someone other than the requester, and not expired."""
    _aware("now", now)
    ref = f"access request {grant.request_id}"
    if grant.status != "approved":
        return Decision.deny(f"{ref} is {grant.status}")
    if grant.decided_by is None or grant.decided_by == grant.requested_by:
        return Decision.deny(f"{ref} was not approved by a second person")
    if grant.expires_at is None or now >= grant.expires_at:
        when = grant.expires_at.isoformat() if grant.expires_at else "at once"
        return Decision.deny(f"{ref} expired {when}")
    return Decision.allow(f"{ref} is approved until {grant.expires_at.isoformat()}")


def grant_covers(
    grant: AccessGrant, actor: str, case_ref: str, last_seen_at: dt.datetime, now: dt.datetime
) -> Decision:
    """Does ``grant`` let ``actor`` view a read last seen at ``last_seen_at`` for ``case_ref``?"""
    _aware("last_seen_at", last_seen_at)
    live = grant_is_live(grant, now)
    if not live:
        return live
    ref = f"access request {grant.request_id}"
    if grant.requested_by != actor:
        return Decision.deny(f"{ref} was made by someone else")
    if grant.case_ref != case_ref:
        return Decision.deny(f"{ref} is for another case")
    if not grant.reads_from <= last_seen_at < grant.reads_until:
        return Decision.deny(f"{ref} does not cover reads seen at {last_seen_at.isoformat()}")
    return Decision.allow(f"covered by {ref}")


def may_view_read(
    last_seen_at: dt.datetime,
    actor: str,
    case_ref: str,
    grants: Iterable[AccessGrant],
    now: dt.datetime,
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
) -> Decision:
    """A read inside the window: yes (the search itself needs a case); an older one: only under
    a live grant of ``actor`` for ``case_ref`` that covers its time."""
    if not needs_grant(last_seen_at, now, window):
        return Decision.allow("within the access window")
    for grant in grants:
        if grant_covers(grant, actor, case_ref, last_seen_at, now):
            return Decision.allow(f"covered by access request {grant.request_id}")
    return Decision.deny(
        f"plate reads older than {_days(window)} need an approved access request for case "
        f"{case_ref!r} (an investigator asks, a second person approves)"
    )


def may_request_access(
    reads_from: dt.datetime,
    reads_until: dt.datetime,
    now: dt.datetime,
    window: dt.timedelta = DEFAULT_ACCESS_WINDOW,
) -> Decision:
    """A request names a period of reads that starts before the window (else none is needed)."""
    _aware("reads_from", reads_from)
    _aware("reads_until", reads_until)
    if reads_until <= reads_from:
        return Decision.deny("the period of reads must end after it starts")
    cutoff = access_cutoff(now, window)
    if reads_from >= cutoff:
        return Decision.deny(
            f"reads since {cutoff.isoformat()} are within the access window: no request needed"
        )
    return Decision.allow("a request may be made")


def may_decide_request(
    grant: AccessGrant, decider: str, decider_role: str, now: dt.datetime
) -> Decision:
    """A second person with ACCESS_APPROVE decides a pending request, never their own."""
    _aware("now", now)
    ref = f"access request {grant.request_id}"
    if not allowed(decider_role, Permission.ACCESS_APPROVE):
        return Decision.deny(f"role {decider_role!r} may not approve access requests")
    if decider == grant.requested_by:
        return Decision.deny(f"{ref}: a request must be decided by a second person, not its maker")
    if grant.status != "pending":
        return Decision.deny(f"{ref} was already {grant.status} by {grant.decided_by}")
    return Decision.allow(f"{ref} may be decided")
