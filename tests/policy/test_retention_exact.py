"""Retention and access-window policy, word for word and to the second: every reason in full,
every boundary on both sides, the windows a caller passes honoured, and naive times refused by
name.  (The tables in test_retention.py check reasons by a word; mutation testing showed what
that lets through: see docs/mutation.md.)"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest

from citywatch.policy.decision import Decision
from citywatch.policy.retention import (
    DAY,
    AccessGrant,
    DataClass,
    RecordFacts,
    RetentionRules,
    access_cutoff,
    delete_before,
    grant_covers,
    grant_is_live,
    may_decide_request,
    may_request_access,
    may_view_read,
    needs_grant,
    retention_decision,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NAIVE = NOW.replace(tzinfo=None)
S = dt.timedelta(seconds=1)
PR, AL, AU, ST = DataClass.PLATE_READ, DataClass.ALERT, DataClass.AUDIT, DataClass.STATISTICS


def iso(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).isoformat()


def grant(**kw: object) -> AccessGrant:
    base: dict[str, object] = {
        "request_id": 7,
        "requested_by": "carol",
        "case_ref": "CASE-1",
        "reads_from": NOW - 300 * DAY,
        "reads_until": NOW - 100 * DAY,
        "status": "approved",
        "decided_by": "sam",
        "expires_at": NOW + 10 * DAY,
    }
    base.update(kw)
    return AccessGrant(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "rules", "reason"),
    [
        (RecordFacts(AU, NOW), {}, "audit entries are kept: the hash chain must stay whole"),
        (RecordFacts(ST, NOW), {}, "statistics are kept (no retention period set)"),
        (RecordFacts(ST, NOW - 2 * DAY), {"statistics": 2 * DAY},
         f"statistics: deleted 2 days after {iso(2)}"),
        (RecordFacts(PR, NOW, evidence_hold=True), {}, "the plate read is on evidence hold"),
        (RecordFacts(PR, NOW - DAY), {"plate_reads": DAY},
         f"plate reads: deleted 1 day after {iso(1)}"),
        (RecordFacts(PR, NOW - DAY + S), {"plate_reads": DAY},
         f"plate reads: kept until {(NOW + S).isoformat()}"),
        (RecordFacts(AL, NOW, evidence_hold=True, status="pending"), {},
         "the alert's plate read is on evidence hold"),
        (RecordFacts(AL, NOW - 9 * DAY, status="rejected", reviewed_at=NOW - 5 * DAY),
         {"alerts_rejected": 5 * DAY}, f"false alerts: deleted 5 days after {iso(5)}"),
        (RecordFacts(AL, NOW - 3 * DAY, status="confirmed"), {"alerts_confirmed": 3 * DAY},
         f"confirmed alerts: deleted 3 days after {iso(3)}"),
        (RecordFacts(AL, NOW - 4 * DAY, status="pending"), {"alerts_pending": 4 * DAY},
         f"unreviewed alerts: deleted 4 days after {iso(4)}"),
        (RecordFacts(AL, NOW, status="weird"), {}, "unknown alert status 'weird': kept"),
    ],
)  # fmt: skip
def test_retention_reasons_in_full(facts: RecordFacts, rules: dict, reason: str) -> None:
    assert retention_decision(facts, RetentionRules(**rules), NOW).reason == reason


def test_an_unknown_data_class_is_named() -> None:
    with pytest.raises(ValueError, match=r"^unknown data class 'bogus'$"):
        retention_decision(RecordFacts("bogus", NOW), RetentionRules(), NOW)  # type: ignore[arg-type]


def test_one_day_is_the_shortest_period_and_statistics_may_be_kept() -> None:
    day = RetentionRules(
        plate_reads=DAY, alerts_pending=DAY, alerts_confirmed=DAY, alerts_rejected=DAY,
        statistics=DAY,
    )  # fmt: skip
    assert day.plate_reads == day.statistics == DAY
    assert RetentionRules(statistics=None).statistics is None
    for name in ("plate_reads", "alerts_pending", "alerts_confirmed", "alerts_rejected"):
        with pytest.raises(ValueError, match=f"^retention of {name} must be at least one day$"):
            RetentionRules(**{name: DAY - S})  # type: ignore[arg-type]
    message = "^retention of statistics must be at least one day \\(or None: kept\\)$"
    with pytest.raises(ValueError, match=message):
        RetentionRules(statistics=DAY - S)


NAIVE_CALLS: list[tuple[Callable[[], object], str]] = [
    (lambda: retention_decision(RecordFacts(PR, NOW), RetentionRules(), NAIVE), "now"),
    (lambda: retention_decision(RecordFacts(PR, NAIVE), RetentionRules(), NOW), "record time"),
    (
        lambda: retention_decision(
            RecordFacts(AL, NOW, status="rejected", reviewed_at=NAIVE), RetentionRules(), NOW
        ),
        "reviewed_at",
    ),
    (lambda: delete_before(DAY, NAIVE), "now"),
    (lambda: access_cutoff(NAIVE), "now"),
    (lambda: needs_grant(NAIVE, NOW), "last_seen_at"),
    (lambda: grant_is_live(grant(), NAIVE), "now"),
    (lambda: grant_covers(grant(), "carol", "CASE-1", NAIVE, NOW), "last_seen_at"),
    (lambda: may_request_access(NAIVE, NOW, NOW), "reads_from"),
    (lambda: may_request_access(NOW - 300 * DAY, NAIVE, NOW), "reads_until"),
    (lambda: may_decide_request(grant(), "sam", "supervisor", NAIVE), "now"),
]


@pytest.mark.parametrize(("call", "name"), NAIVE_CALLS)
def test_a_naive_time_is_refused_by_name(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(name)} must be timezone-aware$"):
        call()


# ------------------------------------------------------------------------- the access window


def test_the_access_window_edge_and_a_callers_window() -> None:
    w = 30 * DAY
    assert access_cutoff(NOW, DAY) == NOW - DAY  # one day is allowed
    with pytest.raises(ValueError, match=r"^the access window must be at least one day$"):
        access_cutoff(NOW, DAY - S)
    assert needs_grant(NOW - 90 * DAY, NOW) is False  # exactly at the cutoff: still inside
    assert needs_grant(NOW - 90 * DAY - S, NOW) is True
    assert needs_grant(NOW - 31 * DAY, NOW, w) is True  # the caller's window, not the default
    assert needs_grant(NOW - 31 * DAY, NOW) is False


@pytest.mark.parametrize(
    ("seen", "grants", "window", "reason"),
    [
        (NOW - 10 * DAY, [], 90 * DAY, "within the access window"),
        (NOW - 200 * DAY, [grant()], 90 * DAY, "covered by access request 7"),
        (NOW - 31 * DAY, [], 30 * DAY,
         "plate reads older than 30 days need an approved access request for case 'CASE-1' "
         "(an investigator asks, a second person approves)"),
        (NOW - 2 * DAY, [], DAY,
         "plate reads older than 1 day need an approved access request for case 'CASE-1' "
         "(an investigator asks, a second person approves)"),
    ],
)  # fmt: skip
def test_may_view_read_reasons_in_full(
    seen: dt.datetime, grants: list[AccessGrant], window: dt.timedelta, reason: str
) -> None:
    assert may_view_read(seen, "carol", "CASE-1", grants, NOW, window).reason == reason


@pytest.mark.parametrize(
    ("g", "reason"),
    [
        (grant(), f"access request 7 is approved until {(NOW + 10 * DAY).isoformat()}"),
        (grant(status="pending"), "access request 7 is pending"),
        (grant(decided_by="carol"), "access request 7 was not approved by a second person"),
        (grant(expires_at=NOW), f"access request 7 expired {NOW.isoformat()}"),
        (grant(expires_at=None), "access request 7 expired at once"),
    ],
)
def test_grant_is_live_reasons_in_full(g: AccessGrant, reason: str) -> None:
    assert grant_is_live(g, NOW).reason == reason


@pytest.mark.parametrize(
    ("actor", "case", "seen", "reason"),
    [
        ("carol", "CASE-1", NOW - 200 * DAY, "covered by access request 7"),
        ("dave", "CASE-1", NOW - 200 * DAY, "access request 7 was made by someone else"),
        ("carol", "CASE-2", NOW - 200 * DAY, "access request 7 is for another case"),
        ("carol", "CASE-1", NOW - 100 * DAY,
         f"access request 7 does not cover reads seen at {iso(100)}"),
    ],
)  # fmt: skip
def test_grant_covers_reasons_in_full(
    actor: str, case: str, seen: dt.datetime, reason: str
) -> None:
    assert grant_covers(grant(), actor, case, seen, NOW).reason == reason
    assert grant_covers(grant(status="denied"), actor, case, seen, NOW).reason == (
        "access request 7 is denied"
    )


@pytest.mark.parametrize(
    ("start", "end", "window", "ok", "reason"),
    [
        (NOW - 300 * DAY, NOW - 200 * DAY, 90 * DAY, True, "a request may be made"),
        (NOW - 60 * DAY, NOW, 30 * DAY, True, "a request may be made"),  # the caller's window
        (NOW - 90 * DAY, NOW, 90 * DAY, False,  # starting exactly at the cutoff: none needed
         f"reads since {iso(90)} are within the access window: no request needed"),
        (NOW - 90 * DAY - S, NOW, 90 * DAY, True, "a request may be made"),
        (NOW - 200 * DAY, NOW - 200 * DAY, 90 * DAY, False,
         "the period of reads must end after it starts"),
    ],
)  # fmt: skip
def test_may_request_access_reasons_and_edges(
    start: dt.datetime, end: dt.datetime, window: dt.timedelta, ok: bool, reason: str
) -> None:
    assert may_request_access(start, end, NOW, window) == Decision(ok, reason)


@pytest.mark.parametrize(
    ("g", "decider", "role", "reason"),
    [
        (grant(status="pending", decided_by=None), "sam", "supervisor",
         "access request 7 may be decided"),
        (grant(status="pending", decided_by=None), "carol", "supervisor",
         "access request 7: a request must be decided by a second person, not its maker"),
        (grant(status="pending"), "sam", "investigator",
         "role 'investigator' may not approve access requests"),
        (grant(), "sue", "supervisor", "access request 7 was already approved by sam"),
    ],
)  # fmt: skip
def test_may_decide_request_reasons_in_full(
    g: AccessGrant, decider: str, role: str, reason: str
) -> None:
    assert may_decide_request(g, decider, role, NOW).reason == reason


def test_a_bare_allow_says_allowed() -> None:
    assert Decision.allow() == Decision(True, "allowed")
