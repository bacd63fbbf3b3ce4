"""A published head pins the history: cutting entries off or rebuilding the chain is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from citywatch.audit.chain import Actor, append, head, verify
from citywatch.audit.head import HeadError, head_document, read_head, write_head
from citywatch.audit.keys import HmacKey

KEY = HmacKey(b"h" * 32, "test")


def fill(session: Session, n: int, who: str = "bob") -> None:
    for i in range(n):
        append(session, Actor(who, "operator"), "alert.view", f"alert:{i}")
    session.commit()


def publish(session: Session, path: Path) -> Path:
    write_head(head_document(session, KEY), path)
    return path


def test_head_round_trip(session: Session, tmp_path: Path) -> None:
    empty = read_head(publish(session, tmp_path / "h0.json"), KEY)
    assert empty.expected == (0, "0" * 64)
    fill(session, 3)
    published = read_head(publish(session, tmp_path / "h.json"), KEY)
    assert published.expected == head(session)
    doc = json.loads((tmp_path / "h.json").read_text())
    assert doc["format"] == "citywatch-audit-head/1" and doc["entry_at"].endswith("Z")
    assert verify(session, expected_head=published.expected).ok
    fill(session, 2)  # the log grows past the published head: still fine
    assert verify(session, expected_head=published.expected).ok


def test_truncation_is_caught_against_a_published_head(
    session: Session, engine: Engine, tmp_path: Path
) -> None:
    fill(session, 5)
    published = read_head(publish(session, tmp_path / "h.json"), KEY)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 4"))
    assert verify(session).ok  # the chain alone cannot tell
    result = verify(session, expected_head=published.expected)
    assert not result.ok and result.first_broken_seq == 4
    assert "cut off" in (result.problem or "")


def test_a_rebuilt_chain_is_caught(session: Session, engine: Engine, tmp_path: Path) -> None:
    fill(session, 3)
    published = read_head(publish(session, tmp_path / "h.json"), KEY)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    fill(session, 4, who="mallory")  # a new, internally valid chain, longer than before
    assert verify(session).ok
    result = verify(session, expected_head=published.expected)
    assert not result.ok and result.first_broken_seq == 3
    assert "differs from the recorded head" in (result.problem or "")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"seq": 1}, "signature does not verify"),
        ({"hash": "a" * 64}, "signature does not verify"),
        ({"hash": "nothex"}, "64 hex digits"),
        ({"seq": True}, "whole number"),
        ({"format": "x"}, "not a citywatch-audit-head/1"),
        ({"signature": None}, "no signature"),
    ],
)
def test_a_changed_head_is_refused(
    session: Session, tmp_path: Path, change: dict[str, object], says: str
) -> None:
    fill(session, 2)
    path = publish(session, tmp_path / "h.json")
    doc = json.loads(path.read_text())
    doc.update(change)
    path.write_text(json.dumps(doc))
    with pytest.raises(HeadError, match=says):
        read_head(path, KEY)


def test_unreadable_heads_and_wrong_keys(session: Session, tmp_path: Path) -> None:
    with pytest.raises(HeadError, match="cannot be read"):
        read_head(tmp_path / "missing.json", KEY)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(HeadError, match="not JSON"):
        read_head(tmp_path / "junk.json", KEY)
    path = publish(session, tmp_path / "h.json")
    with pytest.raises(HeadError, match="signed by key"):
        read_head(path, HmacKey(b"x" * 32, "t"))
