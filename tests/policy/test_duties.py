"""Separation of duties as table tests (issue 16 item 2)."""

from __future__ import annotations

import pytest

from citywatch.policy.access import Role
from citywatch.policy.duties import may_activate, may_issue_token, needs_second_admin, same_person

R = Role


@pytest.mark.parametrize(
    ("issuer", "token", "ok"),
    [
        (R.ADMIN, R.ADMIN, True),
        (R.ADMIN, R.SCRAPER, True),  # /metrics: an admin may read it
        (R.ADMIN, R.INVESTIGATOR, False),  # searches plate history: not an admin's duty
        (R.ADMIN, R.SUPERVISOR, False),  # approves access
        (R.ADMIN, R.OPERATOR, False),  # reviews alerts, sees faces
        (R.ADMIN, R.AUDITOR, False),  # reads the audit log
        (R.OPERATOR, R.OPERATOR, True),
        (R.SCRAPER, R.ADMIN, False),
        ("admin", "root", False),
    ],
)
def test_a_token_may_do_no_more_than_its_issuer(issuer: str, token: str, ok: bool) -> None:
    assert bool(may_issue_token(issuer, token)) is ok


def test_a_refusal_names_what_the_token_could_do() -> None:
    why = may_issue_token(R.ADMIN, R.INVESTIGATOR).reason
    assert "plates.search" in why and "CLI" in why


@pytest.mark.parametrize(
    ("role", "second"),
    [
        (R.INVESTIGATOR, True),
        (R.SUPERVISOR, True),
        (R.ADMIN, False),
        (R.OPERATOR, False),
        (R.AUDITOR, False),
        ("nonsense", True),  # deny by default
    ],
)
def test_searching_and_approving_accounts_need_a_second_admin(role: str, second: bool) -> None:
    assert needs_second_admin(role) is second


@pytest.mark.parametrize(
    ("creators", "activators", "pending", "ok"),
    [
        ({"anna"}, {"bert"}, True, True),
        ({"anna"}, {"anna"}, True, False),
        ({"token:bridge", "anna"}, {"anna"}, True, False),  # made with a token anna issued
        ({"anna"}, {"token:t2", "anna"}, True, False),  # activated with anna's token
        ({"anna"}, set(), True, True),  # the server's CLI
        ({"anna"}, {"bert"}, False, False),  # nothing to activate
    ],
)
def test_activation_is_by_a_second_person(
    creators: set[str], activators: set[str], pending: bool, ok: bool
) -> None:
    assert bool(may_activate(creators, activators, pending)) is ok


def test_same_person() -> None:
    assert same_person({"token:t", "sam"}, {"sam"})
    assert not same_person({"ivan"}, {"sam"})
