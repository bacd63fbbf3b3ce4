"""Users, tokens and sessions on SQLite and PostgreSQL: hashing, lockout, expiry, audit."""

from __future__ import annotations

import datetime as dt

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.services import tokens, users
from citywatch.services.common import NotFoundError, ServiceError
from citywatch.services.login_limits import LoginLimits
from citywatch.store.models import ApiTokenRow, LoginAttemptRow, UserRow, WebSessionRow

PW = "a perfectly long password"
T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
ADMIN = Actor("root", "admin")
IDLE = dt.timedelta(minutes=30)
MAX_AGE = dt.timedelta(hours=8)


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


def _actions(session: Session) -> list[str]:
    return [e.action for e in chain.entries(session)]


def test_production_hash_is_argon2id_with_library_defaults(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # the real parameters, not the cheap ones of the other tests
    users.create_user(session, ADMIN, "olga", "operator", PW)
    stored = session.scalars(select(UserRow.password_hash)).one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PW not in stored
    assert users.authenticate(session, "olga", PW).name == "olga"


def test_create_user_checks_policy_and_audits(session: Session) -> None:
    with pytest.raises(ServiceError, match="at least 12"):
        users.create_user(session, ADMIN, "olga", "operator", "short")
    with pytest.raises(ServiceError, match="at most"):
        users.create_user(session, ADMIN, "olga", "operator", "x" * 2000)
    with pytest.raises(ServiceError, match="user role 'scraper'"):
        users.create_user(session, ADMIN, "olga", "scraper", PW)
    with pytest.raises(ServiceError, match="letters, digits"):
        users.create_user(session, ADMIN, "../etc", "operator", PW)
    u = users.create_user(session, ADMIN, " olga ", "operator", PW)
    assert (u.name, u.role, u.disabled) == ("olga", "operator", False)
    with pytest.raises(ServiceError, match="already exists"):
        users.create_user(session, ADMIN, "olga", "auditor", PW)
    entries = list(chain.entries(session))
    assert [e.action for e in entries] == ["user.create"]
    assert entries[0].details == {"name": "olga", "role": "operator", "pending_activation": False}
    assert entries[0].actor == "root"


def test_authenticate_right_and_wrong(session: Session) -> None:
    users.create_user(session, ADMIN, "olga", "operator", PW)
    assert users.authenticate(session, "olga", PW, client="10.0.0.7").role == "operator"
    with pytest.raises(users.AuthError) as wrong:
        users.authenticate(session, "olga", PW + "x")
    with pytest.raises(users.AuthError) as unknown:
        users.authenticate(session, "nobody", PW)
    assert str(wrong.value) == str(unknown.value)
    assert _actions(session)[-3:] == ["auth.login", "auth.login_failed", "auth.login_failed"]
    last = list(chain.entries(session))[-1]
    assert last.details["name"] is None  # an unknown name may be a mistyped password
    assert chain.verify(session).ok


def test_lockout_after_failures_then_release(session: Session) -> None:
    u = users.create_user(session, ADMIN, "ivan", "investigator", PW, on_server=True)
    limits = LoginLimits(per_account=3, account_window=dt.timedelta(minutes=10))
    for _ in range(2):
        with pytest.raises(users.AuthError) as err:
            users.authenticate(session, "ivan", "nope nope nope", limits=limits, client="a", now=T0)
        assert not isinstance(err.value, users.LockedOut)
    with pytest.raises(users.LockedOut) as locked:
        users.authenticate(session, "ivan", "nope nope nope", limits=limits, client="a", now=T0)
    assert locked.value.until == T0 + dt.timedelta(minutes=10)
    nine = T0 + dt.timedelta(minutes=9)
    with pytest.raises(users.LockedOut):  # right password, still locked from that address
        users.authenticate(session, "ivan", PW, limits=limits, client="a", now=nine)
    # From another address the right password works: nobody can lock someone else out.
    assert users.authenticate(session, "ivan", PW, limits=limits, client="b", now=nine)
    lockouts = [e for e in chain.entries(session) if e.action == "auth.lockout"]
    assert len(lockouts) == 1 and lockouts[0].target == f"user:{u.id}"
    later = T0 + dt.timedelta(minutes=11)
    assert users.authenticate(session, "ivan", PW, limits=limits, client="a", now=later)
    assert (
        session.scalars(select(LoginAttemptRow).where(LoginAttemptRow.scope == "account")).all()
        == []
    )


def test_success_resets_the_failure_count(session: Session) -> None:
    users.create_user(session, ADMIN, "ivan", "investigator", PW, on_server=True)
    limits = LoginLimits(per_account=2)
    for _ in range(3):
        with pytest.raises(users.AuthError):
            users.authenticate(session, "ivan", "wrong wrong wrong", limits=limits, now=T0)
        users.authenticate(session, "ivan", PW, limits=limits, now=T0)
    assert "auth.lockout" not in _actions(session)


def test_sessions_slide_and_expire(session: Session) -> None:
    u = users.create_user(session, ADMIN, "olga", "operator", PW)
    new = users.create_session(session, u, idle=IDLE, max_age=MAX_AGE, now=T0)
    assert "cookie" not in repr(new) and new.cookie not in repr(new)
    stored = session.scalars(select(WebSessionRow.id)).one()
    assert stored != new.cookie and len(stored) == 64
    t = T0
    for _ in range(10):  # used every 20 minutes: alive past the idle limit...
        t += dt.timedelta(minutes=20)
        live = users.resolve_session(session, new.cookie, idle=IDLE, max_age=MAX_AGE, now=t)
        assert live is not None and live.csrf == new.live.csrf
    # ... but never past the absolute limit
    t = T0 + MAX_AGE + dt.timedelta(seconds=1)
    assert users.resolve_session(session, new.cookie, idle=IDLE, max_age=MAX_AGE, now=t) is None
    # An idle session ends after `idle`.
    other = users.create_session(session, u, idle=IDLE, max_age=MAX_AGE, now=T0)
    t = T0 + IDLE + dt.timedelta(seconds=1)
    assert users.resolve_session(session, other.cookie, idle=IDLE, max_age=MAX_AGE, now=t) is None
    assert users.resolve_session(session, "forged", idle=IDLE, max_age=MAX_AGE) is None


def test_end_session_audits_logout(session: Session) -> None:
    u = users.create_user(session, ADMIN, "olga", "operator", PW)
    new = users.create_session(session, u, idle=IDLE, max_age=MAX_AGE)
    assert users.end_session(session, new.cookie) is True
    assert users.end_session(session, new.cookie) is False
    assert users.resolve_session(session, new.cookie, idle=IDLE, max_age=MAX_AGE) is None
    assert _actions(session)[-1] == "auth.logout"


def test_disable_user_ends_sessions_but_not_the_last_admin(session: Session) -> None:
    root = users.create_user(session, ADMIN, "root", "admin", PW)
    olga = users.create_user(session, ADMIN, "olga", "operator", PW)
    new = users.create_session(session, olga, idle=IDLE, max_age=MAX_AGE)
    assert users.disable_user(session, ADMIN, olga.id, reason="left").disabled
    assert users.resolve_session(session, new.cookie, idle=IDLE, max_age=MAX_AGE) is None
    with pytest.raises(users.AuthError):
        users.authenticate(session, "olga", PW)
    with pytest.raises(ServiceError, match="last enabled administrator"):
        users.disable_user(session, ADMIN, root.id)
    with pytest.raises(NotFoundError):
        users.disable_user(session, ADMIN, 999)
    disable = [e for e in chain.entries(session) if e.action == "user.disable"]
    assert len(disable) == 1 and disable[0].reason == "left"


def test_list_users_filters_pages_and_audits(session: Session) -> None:
    for name, role in [("a", "admin"), ("b", "operator"), ("c", "operator"), ("d", "auditor")]:
        users.create_user(session, ADMIN, name, role, PW)
    assert [u.name for u in users.list_users(session, ADMIN, role="operator")] == ["b", "c"]
    assert [u.name for u in users.list_users(session, ADMIN, limit=2, offset=1)] == ["b", "c"]
    with pytest.raises(ServiceError, match="limit"):
        users.list_users(session, ADMIN, limit=0)
    assert _actions(session).count("user.list") == 2


def test_tokens_secret_once_hashed_expiring_revocable(session: Session) -> None:
    with pytest.raises(ServiceError, match=r"1\.\.365 days"):
        tokens.create_token(session, ADMIN, "t", "scraper", expires_days=366)
    with pytest.raises(ServiceError, match=r"1\.\.365 days"):
        tokens.create_token(session, ADMIN, "t", "scraper", expires_days=0)
    with pytest.raises(ServiceError, match="token role"):
        tokens.create_token(session, ADMIN, "t", "root", expires_days=1)
    new = tokens.create_token(session, ADMIN, "prom", "scraper", expires_days=30, now=T0)
    assert new.secret.startswith(tokens.TOKEN_PREFIX) and new.secret not in repr(new)
    stored = session.scalars(select(ApiTokenRow.token_hash)).one()
    assert new.secret not in stored
    assert new.info.created_by == "root"
    assert new.info.expires_at == T0 + dt.timedelta(days=30)
    assert tokens.resolve_token(session, new.secret, now=T0) == new.info
    assert tokens.resolve_token(session, new.secret + "x", now=T0) is None
    late = T0 + dt.timedelta(days=30)
    assert tokens.resolve_token(session, new.secret, now=late) is None
    assert [t.name for t in tokens.list_tokens(session, ADMIN, active=True, now=T0)] == ["prom"]
    assert tokens.list_tokens(session, ADMIN, active=True, now=late) == []
    revoked = tokens.revoke_token(session, ADMIN, new.info.id, reason="rotated", now=T0)
    assert revoked.revoked_at == T0
    assert tokens.resolve_token(session, new.secret, now=T0) is None
    with pytest.raises(ServiceError, match="already revoked"):
        tokens.revoke_token(session, ADMIN, new.info.id)
    with pytest.raises(NotFoundError):
        tokens.revoke_token(session, ADMIN, 999)
    with pytest.raises(ServiceError, match="already exists"):
        tokens.create_token(session, ADMIN, "prom", "scraper", expires_days=1)
    audit = " ".join(f"{e.details} {e.reason}" for e in chain.entries(session))
    assert new.secret not in audit and stored not in audit
    assert [a for a in _actions(session) if a.startswith("token.")] == [
        "token.create",
        "token.list",
        "token.list",
        "token.revoke",
    ]
    assert chain.verify(session).ok
