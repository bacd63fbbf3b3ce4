"""`verify` reports every kind of tampering in full: whether the chain holds, how many rows it
checked, the first broken seq and why (found by mutation testing, docs/mutation.md: a row
whose details are not JSON at all was reported as a whole chain)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from citywatch.audit.chain import GENESIS_HASH, Actor, VerifyResult, append, entries, head, verify
from citywatch.store.models import AuditLogRow


def fill(session: Session, n: int = 5) -> None:
    for i in range(n):
        append(session, Actor("bob", "operator"), "alert.view", f"alert:{i}", details={"i": i})
        session.commit()


def _set(seq: int, **values: object) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        session.execute(update(AuditLogRow).where(AuditLogRow.seq == seq).values(**values))

    return change


def _delete(seq: int) -> Callable[[Session], None]:
    def change(session: Session) -> None:
        session.execute(delete(AuditLogRow).where(AuditLogRow.seq == seq))

    return change


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_delete(3), VerifyResult(False, 3, 3,
            "seq 3 is missing (next row is seq 4): rows deleted or renumbered")),
        (_set(3, prev_hash="e" * 64), VerifyResult(False, 3, 3,
            "seq 3: prev_hash does not match the hash of seq 2 "
            "(a row before it was deleted, inserted or reordered)")),
        (_set(2, details="{not json"), VerifyResult(False, 2, 2,
            "seq 2: details are not valid JSON")),
        (_set(2, details='{"i": 1}'), VerifyResult(False, 2, 2,
            "seq 2: details are not canonical JSON")),
        (_set(4, target="alert:99"), VerifyResult(False, 4, 4,
            "seq 4: contents do not match its hash (row edited)")),
    ],
)  # fmt: skip
def test_each_kind_of_tampering_is_reported_in_full(
    session: Session, tamper: Callable[[Session], None], expected: VerifyResult
) -> None:
    fill(session)
    assert verify(session) == VerifyResult(True, 5)
    tamper(session)
    session.commit()
    assert verify(session) == expected


def test_a_recorded_head_catches_a_cut_or_a_rewrite(session: Session) -> None:
    fill(session)
    seq, digest = head(session)
    assert verify(session, expected_head=(seq, digest)) == VerifyResult(True, 5)
    assert verify(session, expected_head=(7, digest)) == VerifyResult(
        False, 5, 6, "log ends at seq 5 but seq 7 was recorded: rows cut off"
    )
    assert verify(session, expected_head=(3, "f" * 64)) == VerifyResult(
        False, 5, 3, "seq 3: hash differs from the recorded head"
    )


def test_an_actor_needs_a_name_and_a_role() -> None:
    for name, role in (("", "admin"), ("bob", " ")):
        with pytest.raises(ValueError, match=r"^an audit actor needs a name and a role$"):
            Actor(name, role)


def test_a_head_recorded_before_any_entry_or_at_the_first(session: Session) -> None:
    """A head published while the log was empty (seq 0) holds for any log that grew from it;
    a head at seq 1 is compared like any other (found by mutation testing: `> 0` planted as
    `>= 0` or `> 1` passed)."""
    assert verify(session, expected_head=head(session)) == VerifyResult(True, 0)
    assert head(session) == (0, GENESIS_HASH)
    fill(session, 2)
    assert verify(session, expected_head=(0, GENESIS_HASH)) == VerifyResult(True, 2)
    first = next(entries(session)).hash
    assert verify(session, expected_head=(1, first)) == VerifyResult(True, 2)
    assert verify(session, expected_head=(1, "f" * 64)) == VerifyResult(
        False, 2, 1, "seq 1: hash differs from the recorded head"
    )
