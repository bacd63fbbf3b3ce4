"""The real app on a fresh, migrated SQLite database in a temporary folder.

Fixtures for every API test:

* ``api_app``: ``create_app`` on that database (media under tmp), ``api_sessions`` its sessions;
* ``client``: a ``TestClient`` (lifespan run; no cookies kept between tests);
* ``make_user(role, name=None, password=PASSWORD) -> UserInfo`` (made as the server's CLI
  would: active at once, whatever the role);
* ``login(client, role) -> Login``: signs a fresh user of ``role`` in on ``client`` (the
  session cookie stays on the client); ``Login.headers`` carries the CSRF token for unsafe
  requests;
* ``bearer(role) -> dict``: ``Authorization`` headers of a fresh API token with ``role``
  (``scraper`` too; issued as the server's CLI would, each by its own issuer).

Argon2 is made cheap here (tiny memory/time cost) so tests stay fast; the production
parameters are tested in ``tests/services/test_users.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.app import create_app
from citywatch.api.security import CSRF_HEADER, Role
from citywatch.api.settings import ApiSettings
from citywatch.audit.chain import Actor
from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.services import tokens, users
from citywatch.store.db import make_engine, make_session_factory, upgrade_database

PASSWORD = "correct horse battery staple"
ROLES = tuple(Role)
USER_ROLES = tuple(r for r in Role if r is not Role.SCRAPER)
TEST_ACTOR = Actor("test-setup", "admin")


@dataclass(frozen=True)
class Login:
    user: users.UserInfo
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {CSRF_HEADER: self.csrf}


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        users, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def api_config(tmp_path: Path) -> CitywatchConfig:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    upgrade_database(url)
    store = StoreConfig(database_url=url, media_dir=tmp_path / "media", state_dir=tmp_path)
    return CitywatchConfig(store=store)


@pytest.fixture
def api_sessions(api_config: CitywatchConfig) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(api_config.store.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def api_settings() -> ApiSettings:
    return ApiSettings(max_failed_logins=3)


@pytest.fixture
def api_app(
    api_config: CitywatchConfig, api_sessions: sessionmaker[Session], api_settings: ApiSettings
) -> FastAPI:
    return create_app(api_config, api_sessions, settings=api_settings)


@pytest.fixture
def client(api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app) as c:
        yield c


@pytest.fixture
def make_user(api_sessions: sessionmaker[Session]) -> Callable[..., users.UserInfo]:
    counter = itertools.count(1)

    def make(role: Role | str, name: str | None = None, password: str = PASSWORD) -> users.UserInfo:
        name = name or f"{Role(role).value}-{next(counter)}"
        with api_sessions() as s:
            return users.create_user(s, TEST_ACTOR, name, role, password, on_server=True)

    return make


@pytest.fixture
def login(make_user: Callable[..., users.UserInfo]) -> Callable[[TestClient, Role | str], Login]:
    def sign_in(client: TestClient, role: Role | str) -> Login:
        user = make_user(role)
        r = client.post("/api/v1/auth/login", json={"username": user.name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return Login(user, r.json()["csrf"])

    return sign_in


@pytest.fixture
def bearer(api_sessions: sessionmaker[Session]) -> Callable[[Role | str], dict[str, str]]:
    counter = itertools.count(1)

    def make(role: Role | str) -> dict[str, str]:
        n = next(counter)
        # Each token has its own issuer: two tokens of one issuer count as one person
        # (nobody decides a request that a token they issued filed).
        issuer = Actor(f"{TEST_ACTOR.name}-{n}", TEST_ACTOR.role)
        with api_sessions() as s:
            new = tokens.create_token(
                s,
                issuer,
                f"{Role(role).value}-token-{n}",
                role,
                expires_days=1,
                on_server=True,
            )
        return {"Authorization": f"Bearer {new.secret}"}

    return make
