"""Separation of duties between the people who manage accounts and those who use them.

Pure functions over roles and names (table tests in ``tests/policy/test_duties.py``):

* nobody issues an API token whose role may do more than their own (an administrator may mint
  administrator and metrics-scraper tokens; a token that searches, reviews or approves comes
  from the server's CLI);
* an account whose role searches history or approves access (investigator, supervisor) made by
  an administrator through the API starts inactive, and a second administrator activates it,
  never the one who made it (the server's CLI may create and activate such accounts at once);
* two parties are "the same person" when one's name, or the person who issued one's token (and
  so on up the chain), is among the other's.
"""

from __future__ import annotations

from collections.abc import Iterable

from citywatch.policy.access import GRANTS, Permission, Role
from citywatch.policy.decision import Decision

#: Permissions an account may get only with a second administrator's consent.
SECOND_PERSON_PERMISSIONS = frozenset(
    {Permission.ALERTS_SEARCH, Permission.PLATES_SEARCH, Permission.ACCESS_APPROVE}
)


def _role(value: Role | str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def _a(word: str) -> str:
    """``word`` with its indefinite article ("an admin", "a scraper")."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def may_issue_token(issuer_role: Role | str, token_role: Role | str) -> Decision:
    """A token may carry only permissions its issuer holds."""
    issuer, token = _role(issuer_role), _role(token_role)
    if issuer is None or token is None:
        return Decision.deny(f"unknown role {issuer_role!r} or {token_role!r}")
    extra = GRANTS[token] - GRANTS[issuer]
    if extra:
        names = ", ".join(sorted(p.value for p in extra))
        return Decision.deny(
            f"{_a(issuer.value)} may not issue {_a(token.value)} token: it could do what "
            f"{_a(issuer.value)} may not ({names}); create it with the CLI on the server"
        )
    return Decision.allow(f"{_a(issuer.value)} may issue {_a(token.value)} token")


def needs_second_admin(role: Role | str) -> bool:
    """Whether an account of ``role`` made through the API waits for a second administrator."""
    r = _role(role)
    return r is None or bool(GRANTS[r] & SECOND_PERSON_PERMISSIONS)


def may_activate(creators: Iterable[str], activators: Iterable[str], pending: bool) -> Decision:
    """A second person activates a waiting account: nobody among ``creators`` (the account's
    maker and whoever issued the maker's token) may be among ``activators``."""
    if not pending:
        return Decision.deny("the account is not waiting for activation")
    shared = set(creators) & set(activators)
    if shared:
        return Decision.deny(
            f"the account was created by {sorted(shared)[0]}: a second administrator must "
            "activate it"
        )
    return Decision.allow("a second administrator activates the account")


def same_person(first: Iterable[str], second: Iterable[str]) -> bool:
    """Whether two sets of identities (a name and its token issuers) share anyone."""
    return bool(set(first) & set(second))
