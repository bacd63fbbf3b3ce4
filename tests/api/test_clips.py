"""Issue 17: an alert's evidence clip is served with range requests to the roles that may see
the alert, the playback is audited once per start, and the review page plays it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.services.clips import starts_playback
from citywatch.store.models import AuditLogRow
from tests.api.conftest import Login
from tests.api.routes_support import Headers, headers
from tests.api.test_console_pages import HTML, _alert, _camera

__all__ = ["headers"]

CLIP = bytes(range(256)) * 40  # stands in for an MP4: the route serves bytes as stored
REL = "clip/ee/" + "e" * 64 + ".mp4"


def _alert_with_clip(api_app: FastAPI, sessions: sessionmaker[Session]) -> int:
    path = api_app.state.media.path(REL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CLIP)
    with sessions() as s:
        _camera(s)
        return _alert(s, clip_path=REL)


def _views(sessions: sessionmaker[Session], alert_id: int) -> list[str]:
    with sessions() as s:
        rows = s.scalars(
            select(AuditLogRow).where(
                AuditLogRow.action == "alert.clip.view", AuditLogRow.target == f"alert:{alert_id}"
            )
        )
        return [r.actor for r in rows]


def test_the_clip_is_served_whole_and_in_ranges_and_each_playback_is_audited_once(
    client: TestClient, headers: Headers, api_app: FastAPI, api_sessions
) -> None:
    alert_id = _alert_with_clip(api_app, api_sessions)
    h = headers(Role.OPERATOR)
    whole = client.get(f"/api/v1/alerts/{alert_id}/clip.mp4", headers=h)
    assert whole.status_code == 200 and whole.content == CLIP
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    first = client.get(f"/api/v1/alerts/{alert_id}/clip.mp4", headers={**h, "Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == CLIP[:100]
    seek = client.get(
        f"/api/v1/alerts/{alert_id}/clip.mp4", headers={**h, "Range": "bytes=5000-5099"}
    )
    assert seek.status_code == 206 and seek.content == CLIP[5000:5100]
    assert seek.headers["content-range"] == f"bytes 5000-5099/{len(CLIP)}"
    assert len(_views(api_sessions, alert_id)) == 2  # the whole file and the start; no seek
    api = client.get(f"/api/v1/alerts/{alert_id}", headers=h).json()
    assert api["clip_url"] == f"/api/v1/alerts/{alert_id}/clip.mp4"


@pytest.mark.parametrize("role", [Role.SCRAPER])
def test_a_role_that_may_not_see_alerts_gets_no_clip(
    client: TestClient, headers: Headers, api_app: FastAPI, api_sessions, role: Role
) -> None:
    alert_id = _alert_with_clip(api_app, api_sessions)
    got = client.get(f"/api/v1/alerts/{alert_id}/clip.mp4", headers=headers(role))
    assert got.status_code == 403
    assert _views(api_sessions, alert_id) == []


def test_an_alert_without_a_clip_says_why(
    client: TestClient, headers: Headers, api_sessions
) -> None:
    why = "clip could not be made: No space left on device (ENOSPC)"
    with api_sessions() as s:
        _camera(s)
        alert_id = _alert(s, clip_error=why)
    got = client.get(f"/api/v1/alerts/{alert_id}/clip.mp4", headers=headers(Role.OPERATOR))
    assert got.status_code == 404 and why in got.text


def test_the_review_page_plays_the_clip(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    api_app: FastAPI,
    api_sessions,
) -> None:
    alert_id = _alert_with_clip(api_app, api_sessions)
    login(client, Role.OPERATOR)
    html = client.get(f"/alerts/{alert_id}", headers=HTML).text
    assert f'<video id="evidence-clip" src="/api/v1/alerts/{alert_id}/clip.mp4"' in html


@pytest.mark.parametrize(
    ("header", "starts"),
    [(None, True), ("bytes=0-", True), ("bytes=0-1023", True), ("bytes=100-", False),
     ("bytes=-500", False), ("items=5-9", True)],
)  # fmt: skip
def test_which_requests_start_a_playback(header: str | None, starts: bool) -> None:
    assert starts_playback(header) is starts
