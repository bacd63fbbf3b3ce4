from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import (
    GENESIS_HASH,
    Actor,
    AuditError,
    append,
    canonical_json,
    entries,
    entry_hash,
    head,
    iso_utc,
    verify,
)

ALICE = Actor("alice", "operator")


def fill(session: Session, n: int = 5) -> None:
    for i in range(n):
        append(
            session,
            ALICE,
            "alert.view",
            f"alert:{i}",
            details={"i": i, "when": dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "tags": {"b", "a"}},
            reason=f"case-{i}" if i % 2 else None,
        )
    session.commit()


def test_chain_links_and_hashes(session: Session) -> None:
    assert head(session) == (0, GENESIS_HASH)
    assert verify(session).ok and verify(session).entries == 0
    fill(session, 3)
    rows = list(entries(session))
    assert [e.seq for e in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert rows[0].details == {"i": 0, "when": "2025-01-01T00:00:00.000000Z", "tags": ["a", "b"]}
    assert head(session) == (3, rows[2].hash)
    # The hash is SHA-256 over prev_hash and the canonical JSON of the entry.
    first = rows[0]
    body = canonical_json(
        {
            "seq": 1,
            "at": iso_utc(first.at),
            "actor": "alice",
            "role": "operator",
            "action": "alert.view",
            "target": "alert:0",
            "details": first.details,
            "reason": None,
        }
    )
    assert " " not in body and body.index('"action"') < body.index('"actor"')
    assert first.hash == hashlib.sha256((GENESIS_HASH + body).encode()).hexdigest()
    assert first.hash == entry_hash(
        GENESIS_HASH,
        seq=1,
        at=first.at,
        actor="alice",
        role="operator",
        action="alert.view",
        target="alert:0",
        details=first.details,
        reason=None,
    )
    result = verify(session)
    assert result.ok and result.entries == 3 and result.first_broken_seq is None


def test_canonical_json_refuses_nan_and_unknown_types() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        canonical_json({"x": object()})


def test_append_refuses_empty_action_and_actor(session: Session) -> None:
    with pytest.raises(AuditError):
        append(session, ALICE, " ", "t")
    with pytest.raises(ValueError, match="name and a role"):
        Actor("", "operator")
    assert Actor.system("worker") == Actor("system:worker", "system")


def test_uncommitted_entry_is_rolled_back_with_its_change(session: Session) -> None:
    fill(session, 2)
    append(session, ALICE, "x", "y")
    session.rollback()
    assert head(session)[0] == 2
    assert verify(session).ok


@pytest.mark.parametrize(
    ("sql", "broken", "says"),
    [
        ("UPDATE audit_log SET target = 'alert:99' WHERE seq = 3", 3, "row edited"),
        ("UPDATE audit_log SET reason = 'other' WHERE seq = 2", 2, "row edited"),
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5", 5, "row edited"),
        ("""UPDATE audit_log SET details = '{"i":0}' WHERE seq = 1""", 1, "row edited"),
        ("""UPDATE audit_log SET details = '{"i": 1}' WHERE seq = 2""", 2, "not canonical"),
        ("DELETE FROM audit_log WHERE seq = 3", 3, "seq 3 is missing"),
        ("DELETE FROM audit_log WHERE seq = 1", 1, "seq 1 is missing"),
    ],
)
def test_verify_catches_tampering(
    session: Session, engine: Engine, sql: str, broken: int, says: str
) -> None:
    fill(session)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    result = verify(session)
    assert not result.ok
    assert result.first_broken_seq == broken
    assert result.problem is not None and says in result.problem


def test_verify_catches_a_deleted_row_renumbered_to_hide_the_gap(
    session: Session, engine: Engine
) -> None:
    fill(session)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
        conn.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = 5"))
    result = verify(session)
    assert not result.ok and result.first_broken_seq == 3
    assert result.problem is not None and "prev_hash" in result.problem


def test_verify_catches_a_swapped_pair(session: Session, engine: Engine) -> None:
    fill(session)
    with engine.begin() as conn:  # reorder: rows 2 and 3 trade places
        conn.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = -1"))
    result = verify(session)
    assert not result.ok and result.first_broken_seq == 2
    assert result.problem is not None and "prev_hash" in result.problem


def test_verify_catches_swapped_contents(session: Session, engine: Engine) -> None:
    fill(session)
    with engine.begin() as conn:  # rows 2 and 4 swap what they say, hashes left in place
        conn.execute(
            text(
                "UPDATE audit_log SET target = CASE seq WHEN 2 THEN 'alert:3' "
                "ELSE 'alert:1' END WHERE seq IN (2, 4)"
            )
        )
    result = verify(session)
    assert not result.ok and result.first_broken_seq == 2


def test_truncation_needs_a_recorded_head(session: Session, engine: Engine) -> None:
    fill(session)
    recorded = head(session)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    assert verify(session).ok  # a cut-off tail looks like a shorter log ...
    result = verify(session, expected_head=recorded)  # ... unless the head was recorded
    assert not result.ok and result.first_broken_seq == 4
    assert result.problem is not None and "cut off" in result.problem


def test_recorded_head_must_match(session: Session) -> None:
    fill(session, 3)
    assert verify(session, expected_head=(2, head(session)[1])).ok is False
    assert verify(session, expected_head=head(session)).ok


def test_concurrent_writers_keep_one_chain(session_factory: sessionmaker[Session]) -> None:
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(10):
                with session_factory() as s:
                    append(s, Actor(f"w{k}", "system"), "write", f"t{k}-{i}")
                    s.commit()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_factory() as s:
        result = verify(s)
        assert result.ok, result.problem
        assert result.entries == 40
        assert head(s)[0] == 40
