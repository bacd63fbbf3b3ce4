from __future__ import annotations

import datetime as dt

import pytest

from citywatch.policy.retention import (
    AccessGrant,
    DataClass,
    RecordFacts,
    RetentionRules,
    Verdict,
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
D = dt.timedelta(days=1)
RULES = RetentionRules()  # reads 365 d; alerts pending/confirmed 365 d, rejected 30 d; stats kept
PR, AL, AU, ST = DataClass.PLATE_READ, DataClass.ALERT, DataClass.AUDIT, DataClass.STATISTICS
KEEP, DELETE = Verdict.KEEP, Verdict.DELETE


@pytest.mark.parametrize(
    ("facts", "rules", "expected", "why"),
    [
        (RecordFacts(PR, NOW - 364 * D), RULES, KEEP, "kept until"),
        (RecordFacts(PR, NOW - 365 * D), RULES, DELETE, "deleted 365 days after"),
        (RecordFacts(PR, NOW - 3000 * D, evidence_hold=True), RULES, KEEP, "evidence hold"),
        (RecordFacts(PR, NOW - 31 * D), RetentionRules(plate_reads=30 * D), DELETE, "30 days"),
        (RecordFacts(AL, NOW - 400 * D, status="pending"), RULES, DELETE, "unreviewed"),
        (RecordFacts(AL, NOW - 300 * D, status="pending"), RULES, KEEP, "unreviewed"),
        (RecordFacts(AL, NOW - 365 * D, status="confirmed"), RULES, DELETE, "confirmed"),
        (RecordFacts(AL, NOW - 364 * D, status="confirmed"), RULES, KEEP, "confirmed"),
        # a false alert counts from its review, not from the sighting
        (
            RecordFacts(AL, NOW - 100 * D, status="rejected", reviewed_at=NOW - 29 * D),
            RULES,
            KEEP,
            "false alerts",
        ),
        (
            RecordFacts(AL, NOW - 100 * D, status="rejected", reviewed_at=NOW - 30 * D),
            RULES,
            DELETE,
            "false alerts",
        ),
        (RecordFacts(AL, NOW - 31 * D, status="rejected"), RULES, DELETE, "false alerts"),
        (
            RecordFacts(AL, NOW - 999 * D, evidence_hold=True, status="confirmed"),
            RULES,
            KEEP,
            "evidence hold",
        ),
        (RecordFacts(AL, NOW - 999 * D, status="weird"), RULES, KEEP, "unknown alert status"),
        (RecordFacts(AU, NOW - 99_999 * D), RULES, KEEP, "hash chain"),
        (RecordFacts(ST, NOW - 99_999 * D), RULES, KEEP, "no retention period"),
        (RecordFacts(ST, NOW - 11 * D), RetentionRules(statistics=10 * D), DELETE, "statistics"),
        (RecordFacts(ST, NOW - 9 * D), RetentionRules(statistics=10 * D), KEEP, "statistics"),
    ],
)
def test_retention_table(
    facts: RecordFacts, rules: RetentionRules, expected: Verdict, why: str
) -> None:
    decision = retention_decision(facts, rules, NOW)
    assert decision.verdict is expected
    assert decision.delete is (expected is DELETE)
    assert why in decision.reason


def test_retention_refuses_naive_times_and_short_periods() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        retention_decision(RecordFacts(PR, NOW.replace(tzinfo=None)), RULES, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        retention_decision(RecordFacts(PR, NOW), RULES, NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="at least one day"):
        RetentionRules(plate_reads=dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="statistics"):
        RetentionRules(statistics=dt.timedelta(0))


def test_delete_before_is_the_policy_boundary() -> None:
    cutoff = delete_before(RULES.plate_reads, NOW)
    assert cutoff == NOW - 365 * D
    assert retention_decision(RecordFacts(PR, cutoff), RULES, NOW).delete
    assert not retention_decision(
        RecordFacts(PR, cutoff + dt.timedelta(seconds=1)), RULES, NOW
    ).delete
    assert delete_before(None, NOW) is None


# ------------------------------------------------------------------ access window and grants

W = dt.timedelta(days=90)
OLD = NOW - 200 * D


def grant(**kw: object) -> AccessGrant:
    base: dict[str, object] = {
        "request_id": 7,
        "requested_by": "carol",
        "case_ref": "CASE-1",
        "reads_from": NOW - 300 * D,
        "reads_until": NOW - 100 * D,
        "status": "approved",
        "decided_by": "sam",
        "expires_at": NOW + 10 * D,
    }
    base.update(kw)
    return AccessGrant(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seen", "expected"),
    [(NOW - 89 * D, False), (NOW - 90 * D + dt.timedelta(seconds=1), False), (NOW - 91 * D, True)],
)
def test_needs_grant_past_the_window(seen: dt.datetime, expected: bool) -> None:
    assert needs_grant(seen, NOW, W) is expected
    assert access_cutoff(NOW, W) == NOW - W


@pytest.mark.parametrize(
    ("g", "live", "why"),
    [
        (grant(), True, "approved until"),
        (grant(status="pending"), False, "is pending"),
        (grant(status="denied"), False, "is denied"),
        (grant(decided_by="carol"), False, "second person"),
        (grant(decided_by=None), False, "second person"),
        (grant(expires_at=NOW), False, "expired"),
        (grant(expires_at=None), False, "expired"),
    ],
)
def test_grant_is_live_table(g: AccessGrant, live: bool, why: str) -> None:
    d = grant_is_live(g, NOW)
    assert bool(d) is live and why in d.reason


@pytest.mark.parametrize(
    ("actor", "case", "seen", "covered", "why"),
    [
        ("carol", "CASE-1", OLD, True, "covered"),
        ("dave", "CASE-1", OLD, False, "someone else"),
        ("carol", "CASE-2", OLD, False, "another case"),
        ("carol", "CASE-1", NOW - 301 * D, False, "does not cover"),
        ("carol", "CASE-1", NOW - 100 * D, False, "does not cover"),  # the end is exclusive
        ("carol", "CASE-1", NOW - 300 * D, True, "covered"),
    ],
)
def test_grant_covers_table(
    actor: str, case: str, seen: dt.datetime, covered: bool, why: str
) -> None:
    d = grant_covers(grant(), actor, case, seen, NOW)
    assert bool(d) is covered and why in d.reason


@pytest.mark.parametrize(
    ("seen", "grants", "allowed"),
    [
        (NOW - 10 * D, [], True),  # within the window: the case reference is enough
        (OLD, [], False),
        (OLD, [grant()], True),
        (OLD, [grant(status="pending")], False),
        (OLD, [grant(decided_by="carol")], False),  # self-approved: worthless
        (OLD, [grant(expires_at=NOW - D)], False),
        (OLD, [grant(case_ref="OTHER"), grant(request_id=8)], True),
        (NOW - 400 * D, [grant()], False),  # outside the approved period
    ],
)
def test_may_view_read_table(seen: dt.datetime, grants: list[AccessGrant], allowed: bool) -> None:
    d = may_view_read(seen, "carol", "CASE-1", grants, NOW, W)
    assert bool(d) is allowed
    if not allowed:
        assert "approved access request" in d.reason and "CASE-1" in d.reason


@pytest.mark.parametrize(
    ("start", "end", "ok", "why"),
    [
        (NOW - 300 * D, NOW - 200 * D, True, "may be made"),
        (NOW - 300 * D, NOW, True, "may be made"),  # may run into the window
        (NOW - 10 * D, NOW, False, "no request needed"),
        (NOW - 200 * D, NOW - 300 * D, False, "end after it starts"),
        (NOW - 200 * D, NOW - 200 * D, False, "end after it starts"),
    ],
)
def test_may_request_access_table(start: dt.datetime, end: dt.datetime, ok: bool, why: str) -> None:
    d = may_request_access(start, end, NOW, W)
    assert bool(d) is ok and why in d.reason


@pytest.mark.parametrize(
    ("g", "decider", "role", "ok", "why"),
    [
        (grant(status="pending", decided_by=None), "sam", "supervisor", True, "may be decided"),
        (grant(status="pending", decided_by=None), "carol", "supervisor", False, "second person"),
        (grant(status="pending", decided_by=None), "sam", "investigator", False, "may not"),
        (grant(status="pending", decided_by=None), "sam", "admin", False, "may not"),
        (grant(status="pending", decided_by=None), "sam", "auditor", False, "may not"),
        (grant(status="approved"), "sue", "supervisor", False, "already approved"),
        (grant(status="denied"), "sue", "supervisor", False, "already denied"),
    ],
)
def test_may_decide_request_table(
    g: AccessGrant, decider: str, role: str, ok: bool, why: str
) -> None:
    d = may_decide_request(g, decider, role, NOW)
    assert bool(d) is ok and why in d.reason
