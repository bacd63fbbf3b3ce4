"""`append`'s refusals in words (issue 21, mutation testing of ``audit/chain.py``): an entry
without an action, and a database for which the log has no way to serialise its writers."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import create_mock_engine
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, AuditError, append, entries, head

ALICE = Actor("alice", "operator")


@pytest.mark.parametrize("action", ["", " ", "\t\n"])
def test_an_entry_without_an_action_is_refused_and_nothing_is_written(
    session: Session, action: str
) -> None:
    with pytest.raises(AuditError) as err:
        append(session, ALICE, action, "alert:1")
    assert str(err.value) == "audit entry without an action"
    assert head(session)[0] == 0


def test_a_database_without_a_locking_strategy_is_refused_in_words() -> None:
    """make_engine refuses such a database first; ``append`` says so itself as well, naming
    it, instead of writing entries two writers could number alike."""
    sent: list[object] = []
    mysql = create_mock_engine("mysql://", lambda sql, *a, **kw: sent.append(sql))
    with Session(bind=mysql) as session, pytest.raises(AuditError) as err:  # type: ignore[arg-type]
        append(session, ALICE, "alert.view", "alert:1")
    assert str(err.value) == "audit log: no locking strategy for the mysql database"
    assert sent == []  # nothing reached the database


def test_the_entry_returned_is_the_one_stored(session: Session) -> None:
    append(session, ALICE, "alert.view", "alert:1")
    entry = append(
        session, ALICE, "alert.review", "alert:1", details={"b": [1, 2], "a": "é"}, reason="why"
    )
    session.commit()
    stored = list(entries(session))[-1]
    assert entry == stored
    assert (entry.seq, entry.details) == (2, {"a": "é", "b": [1, 2]})
    assert entry.at.tzinfo is not None and entry.at == stored.at


def test_a_naive_time_in_the_details_is_refused_in_words(session: Session) -> None:
    with pytest.raises(ValueError) as err:
        append(session, ALICE, "alert.view", "alert:1", details={"at": dt.datetime(2024, 5, 1)})
    assert str(err.value) == "naive datetime 2024-05-01T00:00:00 in an audit entry"
    assert head(session)[0] == 0


def test_times_in_the_details_are_written_in_utc_whatever_the_servers_zone(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a UTC+14 server clock a time given at UTC+2 is still written as UTC (the tests
    otherwise run in UTC, where the server's zone and UTC cannot be told apart)."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        assert time.timezone == -14 * 3600  # the zone is known here (not silently UTC)
        at = dt.datetime(2024, 5, 1, 14, 0, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        entry = append(session, ALICE, "alert.view", "alert:1", details={"at": at})
        session.commit()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert entry.details == {"at": "2024-05-01T12:00:00.000250Z"}
    assert list(entries(session))[-1].details == {"at": "2024-05-01T12:00:00.000250Z"}
