"""Fixtures for the tests that try to get around each accountability control.

The API fixtures (``client``, ``login``, ``bearer``, ``api_sessions``, ...) and the CLI
fixtures (``run_cli``, ``cli_config``) are the ones of ``tests/api`` and ``tests/cli``, so each
entry point is attacked exactly as its own tests drive it.  ``store`` is a fresh, migrated
SQLite database with a media folder, for workers built directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from citywatch.audit.chain import Actor
from citywatch.store.db import make_engine, make_session_factory, upgrade_database
from citywatch.store.media import MediaStore
from tests.api.conftest import (  # noqa: F401 (fixtures)
    _cheap_argon2,
    api_app,
    api_config,
    api_sessions,
    api_settings,
    bearer,
    client,
    login,
    make_user,
)
from tests.cli.conftest import cli_config, run_cli  # noqa: F401 (fixtures)

ADMIN = Actor("test-admin", "admin")


@dataclass
class Store:
    sessions: sessionmaker[Session]
    media: MediaStore
    root: Path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'acc.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    yield Store(make_session_factory(engine), MediaStore(tmp_path / "media"), tmp_path)
    engine.dispose()


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)
