"""`append`'s refusals in words (issue 21, mutation testing of ``audit/chain.py``): an entry
without an action, and a database for which the log has no way to serialise its writers."""

from __future__ import annotations

import pytest
from sqlalchemy import create_mock_engine
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, AuditError, append, head

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
