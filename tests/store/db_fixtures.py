"""Database fixtures shared by the store, audit and services tests.

``db_url`` runs a test on a fresh SQLite file and, when PostgreSQL answers on 127.0.0.1:5432,
on a throw-away database created for this test session (emptied between tests, dropped at the
end).  Import the fixtures into a conftest to use them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from citywatch.store.models import Base
from tests.conftest import require

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


def _pg_reachable() -> tuple[bool, str]:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as err:
        return False, f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(err).__name__})"
    return True, ""


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; dropped afterwards."""
    ok, why = _pg_reachable()
    require(ok, why)
    name = f"citywatch_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_pg(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'citywatch.db'}"
        upgrade_database(url)
        return url
    url = str(request.getfixturevalue("pg_database_url"))
    eng = make_engine(url)
    try:
        _truncate_pg(eng)
    finally:
        eng.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    return MediaStore(tmp_path / "media")


@pytest.fixture
def actor() -> Actor:
    return Actor("alice", "operator")
