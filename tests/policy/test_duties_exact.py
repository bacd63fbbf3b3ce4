"""Separation-of-duties answers word for word (the table in test_duties.py checks them by a
word; mutation testing showed the rest could change unnoticed: docs/mutation.md)."""

from __future__ import annotations

import pytest

from citywatch.policy.decision import Decision
from citywatch.policy.duties import may_activate, may_issue_token


@pytest.mark.parametrize(
    ("issuer", "token", "expected"),
    [
        ("admin", "admin", Decision(True, "an admin may issue an admin token")),
        ("auditor", "auditor", Decision(True, "an auditor may issue an auditor token")),
        ("admin", "scraper", Decision(True, "an admin may issue a scraper token")),
        ("nobody", "admin", Decision(False, "unknown role 'nobody' or 'admin'")),
        ("admin", "operator", Decision(False,
         "an admin may not issue an operator token: it could do what an admin may not "
         "(alerts.read, alerts.review, live.view); create it with the CLI on the server")),
    ],
)  # fmt: skip
def test_may_issue_token_in_full(issuer: str, token: str, expected: Decision) -> None:
    assert may_issue_token(issuer, token) == expected


@pytest.mark.parametrize(
    ("creators", "activators", "pending", "expected"),
    [
        (["ann"], ["bob"], True, Decision(True, "a second administrator activates the account")),
        (["ann"], ["bob"], False, Decision(False, "the account is not waiting for activation")),
        (["zed", "ann"], ["ann", "zed"], True,
         Decision(False,
                  "the account was created by ann: a second administrator must activate it")),
    ],
)  # fmt: skip
def test_may_activate_in_full(
    creators: list[str], activators: list[str], pending: bool, expected: Decision
) -> None:
    assert may_activate(creators, activators, pending) == expected
