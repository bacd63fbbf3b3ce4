"""Shared by the routes tests: seeded data on the app's own database and media, audit reads.

Fixtures (import them into a test module): ``seeded`` (two cameras, an authorisation, a
watchlist with one subject, a hotlist, one face alert, one plate hit and two plate reads, via
the real services), ``headers`` (``headers(role)`` -> bearer headers of a fresh API token).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.store.models import AuditLogRow
from tests.services.helpers import seed_alerts

SECRET = "hunter2"  # the camera password in tests.services.helpers.camera_cfg's URL

Headers = Callable[[Role | str], dict[str, str]]


@pytest.fixture
def seeded(api_app: FastAPI, api_sessions: sessionmaker[Session]) -> dict[str, int]:
    with api_sessions() as session:
        return seed_alerts(session, api_sessions, api_app.state.media)


@pytest.fixture
def headers(bearer: Headers) -> Headers:
    cache: dict[str, dict[str, str]] = {}

    def get(role: Role | str) -> dict[str, str]:
        key = Role(role).value
        if key not in cache:
            cache[key] = bearer(role)
        return cache[key]

    return get


def audit_rows(sessions: sessionmaker[Session], action: str | None = None) -> list[AuditLogRow]:
    with sessions() as session:
        stmt = select(AuditLogRow).order_by(AuditLogRow.seq)
        if action is not None:
            stmt = stmt.where(AuditLogRow.action == action)
        rows = list(session.scalars(stmt))
        session.expunge_all()
    return rows
