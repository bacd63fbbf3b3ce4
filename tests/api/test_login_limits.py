"""Sign-in limits against the real app served by uvicorn, with parallel requests from threads,
on SQLite and on PostgreSQL (issue 16 items 1 and 4).

Every password check is counted (a counting Argon2 hasher): fifty parallel guesses for one
name from one address must get exactly ``max_failed_logins`` checks, not fifty.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.app import create_app
from citywatch.api.settings import ApiSettings
from citywatch.audit import chain
from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.policy.access import Role
from citywatch.services import login_limits, users
from citywatch.services.common import NotFoundError, ServiceError
from citywatch.services.login_limits import LoginLimits
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.models import LoginAttemptRow
from tests.api.conftest import PASSWORD, TEST_ACTOR
from tests.api.live_server import serve
from tests.store.db_fixtures import _truncate_pg, pg_database_url

__all__ = ["pg_database_url"]

LOGIN = "/api/v1/auth/login"
PARALLEL = 50
SETTINGS = ApiSettings(max_failed_logins=5, client_max_failures=20)


class CountingHasher(PasswordHasher):
    """Argon2 made cheap, counting every password check (thread-safe)."""

    checks = 0
    _lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with CountingHasher._lock:
            CountingHasher.checks += 1
        return super().verify(hash, password)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingHasher]:
    CountingHasher.checks = 0
    monkeypatch.setattr(
        users, "_hasher", lambda: CountingHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    # The dummy hash of unknown names is checked with its own (costly) parameters: use one
    # made by the cheap hasher, so fifty checks stay fast.
    monkeypatch.setattr(users, "_DUMMY_HASH", PasswordHasher(1, 64, 1).hash("nobody's"))
    return CountingHasher


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'limits.db'}"
        upgrade_database(url)
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    engine = make_engine(url, pool_size=10, max_overflow=50)
    if request.param == "postgresql":
        _truncate_pg(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def base_url(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[str]:
    url = str(sessions.kw["bind"].url.render_as_string(hide_password=False))
    store = StoreConfig(database_url=url, media_dir=tmp_path / "media", state_dir=tmp_path)
    app = create_app(CitywatchConfig(store=store), sessions, settings=SETTINGS)
    with serve(app) as base:
        yield base


def _parallel(base: str, bodies: list[dict[str, str]], address: str) -> list[int]:
    """POST every body at once (a barrier releases all threads together); the status codes."""
    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, str]) -> int:
        with httpx.Client(base_url=base, timeout=60) as c:
            barrier.wait()
            return c.post(LOGIN, json=body, headers={"X-Forwarded-For": address}).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def _post(base: str, body: dict[str, str], address: str) -> httpx.Response:
    return httpx.post(base + LOGIN, json=body, headers={"X-Forwarded-For": address}, timeout=30)


def test_parallel_guesses_for_one_account_get_only_the_allowed_checks(
    sessions: sessionmaker[Session], base_url: str, counting: type[CountingHasher]
) -> None:
    with sessions() as s:
        users.create_user(s, TEST_ACTOR, "olga", "operator", PASSWORD, on_server=True)
    guess = {"username": "olga", "password": "not her password"}
    codes = _parallel(base_url, [guess] * PARALLEL, "10.0.0.1")
    n = SETTINGS.max_failed_logins
    assert counting.checks == n  # before the fix: all fifty were checked
    assert codes.count(401) == n - 1 and codes.count(429) == PARALLEL - n + 1
    # The right password from that address waits for the window ...
    right = {"username": "olga", "password": PASSWORD}
    assert _post(base_url, right, "10.0.0.1").status_code == 429
    assert counting.checks == n  # ... and is not even checked
    # ... but the guesses locked nobody out elsewhere.
    assert _post(base_url, right, "10.0.0.2").status_code == 200
    with sessions() as s:
        actions = [e.action for e in chain.entries(s)]
        assert actions.count("auth.lockout") == 1
        assert actions.count("auth.login_failed") == PARALLEL + 1
        assert chain.verify(s).ok


def test_parallel_guesses_across_names_from_one_address_are_capped(
    sessions: sessionmaker[Session], base_url: str, counting: type[CountingHasher]
) -> None:
    bodies = [{"username": f"name{i}", "password": "Summer2025!!"} for i in range(PARALLEL)]
    codes = _parallel(base_url, bodies, "10.0.0.9")
    assert counting.checks == SETTINGS.client_max_failures
    assert codes.count(401) == SETTINGS.client_max_failures
    assert codes.count(429) == PARALLEL - SETTINGS.client_max_failures
    # Another address is not affected.
    assert _post(base_url, bodies[0], "10.0.0.10").status_code == 401


def test_known_and_unknown_names_answer_alike(
    make_user: Callable[..., users.UserInfo], client: TestClient, api_settings: ApiSettings
) -> None:
    make_user(Role.OPERATOR, "olga")
    answers: dict[str, list[tuple[int, str]]] = {}
    for name in ("olga", "nobody"):
        answers[name] = []
        for _ in range(api_settings.max_failed_logins + 2):
            r = client.post(LOGIN, json={"username": name, "password": "wrong wrong wrong"})
            answers[name].append((r.status_code, r.json()["detail"]))
    assert answers["olga"] == answers["nobody"]
    assert [code for code, _ in answers["olga"]][-3:] == [429, 429, 429]


def test_a_name_differing_in_case_counts_as_the_same_name(
    make_user: Callable[..., users.UserInfo], client: TestClient, api_settings: ApiSettings
) -> None:
    make_user(Role.OPERATOR, "olga")
    for i in range(api_settings.max_failed_logins):
        name = "OLGA" if i % 2 else "olga"
        client.post(LOGIN, json={"username": name, "password": "wrong wrong wrong"})
    r = client.post(LOGIN, json={"username": "Olga", "password": PASSWORD})
    assert r.status_code == 429


def test_admin_unlocks_a_user_through_the_api_audited(
    client: TestClient,
    make_user: Callable[..., users.UserInfo],
    login,
    api_settings: ApiSettings,
    api_sessions: sessionmaker[Session],
) -> None:
    olga = make_user(Role.OPERATOR, "olga")
    for _ in range(api_settings.max_failed_logins):
        client.post(LOGIN, json={"username": "olga", "password": "wrong wrong wrong"})
    assert client.post(LOGIN, json={"username": "olga", "password": PASSWORD}).status_code == 429
    admin = login(client, Role.ADMIN)
    listed = client.get("/api/v1/users", params={"role": "operator"}).json()
    assert listed[0]["locked_until"] is not None
    blocks = client.get("/api/v1/login-blocks").json()
    assert [(b["scope"], b["user_id"]) for b in blocks] == [("account", olga.id)]
    r = client.post(f"/api/v1/users/{olga.id}/unlock", json={"reason": "called in"})
    assert r.status_code == 403  # CSRF
    r = client.post(
        f"/api/v1/users/{olga.id}/unlock", json={"reason": "called in"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["cleared"] == 1
    assert client.get("/api/v1/login-blocks").json() == []
    client.post("/api/v1/auth/logout", headers=admin.headers)
    assert client.post(LOGIN, json={"username": "olga", "password": PASSWORD}).status_code == 200
    with api_sessions() as s:
        entry = [e for e in chain.entries(s) if e.action == "auth.unlock"][-1]
    assert entry.actor == admin.user.name and entry.reason == "called in"
    assert entry.details["name"] == "olga"


def test_admin_unlocks_an_address(
    client: TestClient, login, api_sessions: sessionmaker[Session]
) -> None:
    limits = LoginLimits(per_address=2)
    with api_sessions() as s:
        for name in ("a", "b"):
            ticket = login_limits.take(s, limits, name, "10.1.1.1")
            with s.begin():
                login_limits.failed(s, limits, ticket)
        with pytest.raises(login_limits.Throttled):
            login_limits.take(s, limits, "c", "10.1.1.1")
    admin = login(client, Role.ADMIN)
    body = {"address": "10.1.1.1", "reason": "office NAT"}
    assert client.post("/api/v1/login-blocks/unlock", json=body).status_code == 403
    r = client.post("/api/v1/login-blocks/unlock", json=body, headers=admin.headers)
    assert r.status_code == 200 and r.json()["cleared"] == 3  # the address and two names
    bad = {"address": "10.1.1.1; drop", "reason": ""}
    assert (
        client.post("/api/v1/login-blocks/unlock", json=bad, headers=admin.headers).status_code
        == 422
    )
    with api_sessions() as s:
        login_limits.take(s, limits, "c", "10.1.1.1")  # counted again from zero


T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def test_limits_window_refund_and_sweep(api_sessions: sessionmaker[Session]) -> None:
    limits = LoginLimits(per_account=2, account_window=dt.timedelta(minutes=10), per_address=3)
    with api_sessions() as s:
        t1 = login_limits.take(s, limits, "olga", "10.0.0.1", now=T0)
        with s.begin():
            assert login_limits.failed(s, limits, t1, now=T0) is None
        t2 = login_limits.take(s, limits, "olga", "10.0.0.1", now=T0)
        with s.begin():
            until = login_limits.failed(s, limits, t2, now=T0)
        assert until == T0 + dt.timedelta(minutes=10)
        with pytest.raises(login_limits.Throttled) as err:
            login_limits.take(s, limits, "Olga", "10.0.0.1", now=T0 + dt.timedelta(minutes=9))
        assert err.value.scope == "account" and err.value.until == until
        # The refused attempt took nothing from the address.
        t3 = login_limits.take(s, limits, "ivan", "10.0.0.1", now=T0)
        assert t3.address_attempts == 3
        with s.begin():
            login_limits.succeeded(s, t3)  # a success gives the address its attempt back
        login_limits.take(s, limits, "anna", "10.0.0.1", now=T0)
        # The window ends: counted from one again.
        later = T0 + dt.timedelta(minutes=10)
        assert login_limits.take(s, limits, "olga", "10.0.0.1", now=later).attempts == 1
        with s.begin():
            assert login_limits.sweep(s, limits, now=later + dt.timedelta(minutes=11)) == 3
        assert s.scalars(select(LoginAttemptRow)).all() == []


def test_unlock_needs_a_target_and_an_existing_user(api_sessions: sessionmaker[Session]) -> None:
    with api_sessions() as s:
        with pytest.raises(ServiceError, match="name a user or an address"):
            login_limits.unlock(s, Actor("root", "admin"))
        with pytest.raises(NotFoundError):
            login_limits.unlock(s, Actor("root", "admin"), user_id=99)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        LoginLimits(per_account=0)
    with pytest.raises(ValueError, match="windows must be positive"):
        LoginLimits(address_window=dt.timedelta(0))
