"""The oversight report's data: the month's numbers, review, authorisations, retention actions,
the audit summary; who may produce one; the audit entry with the files' SHA-256."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig
from citywatch.services.common import PermissionDenied, ServiceError
from citywatch.services.report import (
    AUDIT_ACTION,
    build_oversight_report,
    generate_report,
    month_end,
    parse_month,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import AuditLogRow
from tests.services.helpers import NOW
from tests.services.register_seed import EXPECTED, seed_register

AUDITOR = Actor("audrey", "auditor")
WEEK = dt.timedelta(days=7)


@pytest.fixture
def seeded(session_factory: sessionmaker[Session], media: MediaStore) -> sessionmaker[Session]:
    with session_factory() as session:
        seed_register(session, session_factory, media)
    return session_factory


@pytest.mark.parametrize(
    ("text", "first"),
    [("2026-11", dt.date(2026, 11, 1)), (" 2024-02 ", dt.date(2024, 2, 1))],
)
def test_parse_month(text: str, first: dt.date) -> None:
    assert parse_month(text) == first


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-11", "2026/11", "november", ""])
def test_parse_month_refuses_and_names_the_value(text: str) -> None:
    with pytest.raises(ServiceError, match="expected YYYY-MM"):
        parse_month(text)


def test_month_end_knows_leap_years() -> None:
    assert month_end(dt.date(2024, 2, 1)) == dt.date(2024, 2, 29)
    assert month_end(dt.date(2026, 11, 1)) == dt.date(2026, 11, 30)


def test_the_month_in_numbers(seeded: sessionmaker[Session]) -> None:
    with seeded() as session:
        report = build_oversight_report(
            session, CitywatchConfig(), AUDITOR, dt.date(2025, 5, 1), now=NOW
        )
    assert report.totals.model_dump() == EXPECTED["2025-05"]
    assert [d.day.day for d in report.days] == list(range(1, 32))
    by_day = {d.day: d.counts for d in report.days}
    assert by_day[dt.date(2025, 5, 10)].faces_analysed == 42
    assert by_day[dt.date(2025, 5, 13)].plate_reads == 1
    cams = {c.camera_id: c.counts for c in report.cameras}
    assert set(cams) == {"cam-1", "cam-2", "cam-hidden"}
    assert cams["cam-hidden"].rejected == 1
    assert [m.month for m in report.trend] == ["2025-05"]  # nothing after the month
    assert report.review.reviewed == 3
    assert report.review.false_alert_rate == pytest.approx(2 / 3)
    assert report.review.median_minutes_to_review == pytest.approx(4.0)
    # W-1 starts on 31 May (in force in May); W-2 on 1 June
    assert [(a.reference, a.state) for a in report.authorisations] == [("W-1", "live")]


def test_authorisations_in_force_and_their_state_at_month_end(
    seeded: sessionmaker[Session],
) -> None:
    with seeded() as session:
        report = build_oversight_report(
            session,
            CitywatchConfig(),
            AUDITOR,
            dt.date(2025, 6, 1),
            now=NOW + dt.timedelta(days=90),
        )
    assert [(a.reference, a.state) for a in report.authorisations] == [
        ("W-1", "live"),  # at the end of June (it ends at noon on 1 July), not "now"
        ("W-2", "lapsed"),  # urgent, never confirmed
    ]
    assert [m.month for m in report.trend] == ["2025-05", "2025-06"]
    assert report.totals.model_dump() == EXPECTED["2025-06"]


@pytest.fixture
def audit_clock(monkeypatch: pytest.MonkeyPatch) -> dt.datetime:
    """The audit log's clock pinned to a second in mid-March 2026 (each entry a second later):
    the report's month holds every entry whatever the real date (a run at the turn of a month
    split them before)."""
    start = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(chain, "utcnow", lambda: start + dt.timedelta(seconds=next(ticks)))
    return start


def test_retention_actions_and_audit_summary(
    audit_clock: dt.datetime, seeded: sessionmaker[Session]
) -> None:
    with seeded() as session:
        chain.append(
            session,
            Actor.system("retention"),
            "retention.sweep",
            "plate_reads",
            details={
                "dry_run": False,
                "classes": {"plate_reads": {"due": 13, "held": 1, "deleted": 12}},
                "plates": ["AB123CD"],
                "note": "AB123CD was on hold",
            },
        )
        chain.append(session, AUDITOR, "alert.view", "alert:1")
        session.commit()
        report = build_oversight_report(
            session, CitywatchConfig(), AUDITOR, parse_month("2026-03"), now=audit_clock + WEEK
        )
    [sweep] = report.retention
    assert sweep.action == "retention.sweep" and sweep.role == "system"
    assert sweep.figures == {  # numbers and flags only: no plates, no text
        "classes.plate_reads.deleted": 12,
        "classes.plate_reads.due": 13,
        "classes.plate_reads.held": 1,
        "dry_run": False,
    }
    audit = report.audit
    assert audit.chain_ok and audit.entries_checked == audit.total_entries == audit.head_seq
    actions = dict(audit.by_action)
    assert actions["retention.sweep"] == 1 and actions["alert.view"] == 1
    assert actions["camera.register"] == 3
    assert dict(audit.by_role)["system"] >= 1
    assert audit.month_entries == sum(actions.values())


def test_a_broken_chain_is_reported_not_hidden(seeded: sessionmaker[Session]) -> None:
    with seeded() as session:
        row = session.scalar(select(AuditLogRow).where(AuditLogRow.seq == 2))
        assert row is not None
        row.target = "camera:someone-else"
        session.commit()
        report = build_oversight_report(session, CitywatchConfig(), AUDITOR, parse_month("2025-06"))
    assert not report.audit.chain_ok
    assert report.audit.first_broken_seq == 2


@pytest.mark.parametrize("role", ["operator", "investigator", "system", "scraper", "nobody"])
def test_only_roles_with_stats_read_may_produce_a_report(
    seeded: sessionmaker[Session], role: str
) -> None:
    with seeded() as session, pytest.raises(PermissionDenied, match=role):
        build_oversight_report(session, CitywatchConfig(), Actor("x", role), dt.date(2025, 6, 1))


def test_generating_is_audited_with_the_files_digests(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    def write(report: object) -> list[Path]:
        path = tmp_path / "r.html"
        path.write_text("<p>report</p>")
        return [path]

    with seeded() as session:
        before = chain.head(session)[0]
        done = generate_report(session, CitywatchConfig(), AUDITOR, dt.date(2025, 6, 1), write)
        entry = session.scalar(select(AuditLogRow).where(AuditLogRow.seq == done.audit_seq))
    assert done.audit_seq == before + 1
    assert entry is not None
    assert (entry.action, entry.target, entry.actor) == (AUDIT_ACTION, "report:2025-06", "audrey")
    digest = hashlib.sha256(b"<p>report</p>").hexdigest()
    assert json.loads(entry.details) == {"month": "2025-06", "files": {"r.html": digest}}


def test_a_failed_write_is_not_recorded(seeded: sessionmaker[Session]) -> None:
    def write(report: object) -> list[Path]:
        raise OSError("disk full")

    with seeded() as session:
        before = chain.head(session)
        with pytest.raises(OSError):
            generate_report(session, CitywatchConfig(), AUDITOR, dt.date(2025, 6, 1), write)
        assert chain.head(session) == before
