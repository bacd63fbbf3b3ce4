from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor, entries
from citywatch.services.search import (
    SearchError,
    get_plate_read,
    like_pattern,
    normalise_pattern,
    search_plate_reads,
)
from citywatch.store.media import MediaStore
from citywatch.store.models import PlateReadRow
from tests.services.helpers import NOW, audit_count, seed_alerts

INVESTIGATOR = Actor("carol", "investigator")


@pytest.mark.parametrize(
    ("pattern", "norm", "like"),
    [
        ("ab-1*", "AB1*", "AB1%"),
        ("?b 12*cd", "?B12*CD", "_B12%CD"),
        ("a%b_c", "ABC", "ABC"),  # LIKE wildcards typed by a user are not wildcards
    ],
)
def test_pattern_normalisation(pattern: str, norm: str, like: str) -> None:
    assert normalise_pattern(pattern) == norm
    assert like_pattern(norm) == like


def test_like_pattern_escapes_metacharacters() -> None:
    assert like_pattern("A%B_C\\") == "A\\%B\\_C\\\\"


@pytest.fixture
def ids(
    session: Session, session_factory: sessionmaker[Session], media: MediaStore
) -> dict[str, int]:
    return seed_alerts(session, session_factory, media)


@pytest.mark.parametrize("case_ref", ["", "   "])
def test_search_requires_a_case_reference(
    session: Session, ids: dict[str, int], case_ref: str
) -> None:
    before = audit_count(session)
    with pytest.raises(SearchError, match="case reference is required"):
        search_plate_reads(session, INVESTIGATOR, "AB*", case_ref=case_ref)
    assert audit_count(session) == before


def test_search_is_audited_with_pattern_and_case(session: Session, ids: dict[str, int]) -> None:
    rows = search_plate_reads(session, INVESTIGATOR, "ab-12*", case_ref="CASE-2025-001", now=NOW)
    assert [r.id for r in rows] == [ids["hit_read"]]
    last = list(entries(session))[-1]
    assert (last.action, last.actor, last.reason) == (
        "plate_read.search",
        "carol",
        "CASE-2025-001",
    )
    assert last.details["pattern"] == "ab-12*" and last.details["results"] == 1


def test_search_wildcards_and_filters(session: Session, ids: dict[str, int]) -> None:
    def found(pattern: str, **kw: object) -> list[int]:
        rows = search_plate_reads(session, INVESTIGATOR, pattern, case_ref="C-1", now=NOW, **kw)  # type: ignore[arg-type]
        return [r.id for r in rows]

    both = [ids["other_read"], ids["hit_read"]]  # newest first
    assert found("*XY") == [ids["other_read"]]
    assert found("?B123CD") == [ids["hit_read"]]
    assert found("?B12?CD") == [ids["hit_read"]]
    assert found("B123CD") == []  # no implicit wildcards
    assert found("*123*") == both
    assert found("*123*", camera_id="cam-1") == [ids["other_read"]]
    assert found("*123*", zone="south") == [ids["hit_read"]]
    assert found("*123*", since=NOW + dt.timedelta(hours=1)) == [ids["other_read"]]
    assert found("*123*", until=NOW + dt.timedelta(hours=1)) == [ids["hit_read"]]
    assert found("*123*", limit=1) == [ids["other_read"]]


def test_search_refuses_patterns_that_match_everything(session: Session) -> None:
    for pattern in ["*", "?*", "A*", "-*-"]:
        with pytest.raises(SearchError, match="at least 2 letters or digits"):
            search_plate_reads(session, INVESTIGATOR, pattern, case_ref="C-1")


def test_get_plate_read_is_audited(session: Session, ids: dict[str, int]) -> None:
    with pytest.raises(SearchError):
        get_plate_read(session, INVESTIGATOR, ids["hit_read"], case_ref="")
    # the seeded reads are dated NOW (2025-06-01): searched "at" NOW they are within the window
    row = get_plate_read(session, INVESTIGATOR, ids["hit_read"], case_ref="C-7", now=NOW)
    assert isinstance(row, PlateReadRow) and row.plate == "AB123CD"
    last = list(entries(session))[-1]
    assert (last.action, last.reason) == ("plate_read.view", "C-7")
