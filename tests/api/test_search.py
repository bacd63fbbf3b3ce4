from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.app import create_app
from citywatch.api.security import Role
from citywatch.audit.chain import Actor
from citywatch.config.retention import RetentionConfig
from citywatch.config.root import CitywatchConfig, StoreConfig
from citywatch.services import tokens
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.models import PlateReadRow
from citywatch.store.types import utcnow
from tests.api.routes_support import Headers, audit_rows, headers, seeded
from tests.services.helpers import NOW, seed_alerts
from tests.store.db_fixtures import _truncate_pg, pg_database_url

__all__ = ["headers", "pg_database_url", "seeded"]

SETUP = Actor("test-setup", "admin")

CASE = "CASE-2025-0042"


def _wide_window() -> RetentionConfig:
    """The seeded reads are dated 2025-06-01: widen the access window so that the searches
    here reach them (the window itself is tested in tests/api/test_access.py)."""
    days = (utcnow() - NOW).days + 30
    return RetentionConfig(access_window_days=days, plate_read_days=days + 1)


@pytest.fixture
def api_config(api_config: CitywatchConfig) -> CitywatchConfig:
    api_config.retention = _wide_window()
    return api_config


def _plates(client: TestClient, headers: Headers, **body: Any) -> Any:
    return client.post(
        "/api/v1/search/plates", json={"case_ref": CASE, **body}, headers=headers(Role.INVESTIGATOR)
    )


def test_plate_search_by_pattern_and_filters(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    def plates(**body: Any) -> list[str]:
        r = _plates(client, headers, **body)
        assert r.status_code == 200, r.text
        return [p["plate"] for p in r.json()["items"]]

    assert plates(pattern="*123*") == ["ZG123XY", "AB123CD"]  # newest first
    assert plates(pattern="ab-123 ??") == ["AB123CD"]
    assert plates(pattern="*123*", zone="south") == ["AB123CD"]
    assert plates(pattern="*123*", camera_id="cam-1") == ["ZG123XY"]
    assert plates(pattern="*123*", since="2025-06-02T00:00:00Z") == ["ZG123XY"]
    assert plates(pattern="*123*", limit=1) == ["ZG123XY"]
    assert plates(pattern="*123*", limit=1, offset=1) == ["AB123CD"]
    searches = audit_rows(api_sessions, "plate_read.search")
    assert len(searches) == 7
    assert all(e.reason == CASE for e in searches)
    assert '"pattern":"ab-123 ??"' in searches[1].details


def test_plate_search_shows_the_vehicle_that_held_the_plate(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    with api_sessions() as s, s.begin():
        s.execute(
            update(PlateReadRow)
            .where(PlateReadRow.plate == "ZG123XY")
            .values(vehicle_kind="car", vehicle_colour="white", vehicle_score=0.8)
        )
    r = _plates(client, headers, pattern="*123*")
    assert r.status_code == 200, r.text
    seen = {p["plate"]: (p["vehicle_kind"], p["vehicle_colour"]) for p in r.json()["items"]}
    assert seen == {"ZG123XY": ("car", "white"), "AB123CD": (None, None)}


def test_fuzzy_plate_search_tolerates_ocr_confusions_and_one_edit(
    client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    def fuzzy(pattern: str, **kw: Any) -> list[tuple[str, int]]:
        r = _plates(client, headers, pattern=pattern, fuzzy=True, **kw)
        assert r.status_code == 200, r.text
        return [(p["plate"], p["distance"]) for p in r.json()["items"]]

    assert fuzzy("AB123C0") == [("AB123CD", 0)]  # D/0 is an OCR confusion: free
    assert fuzzy("AB128CD") == [("AB123CD", 1)]
    assert fuzzy("AB12CD") == [("AB123CD", 1)]  # one character missing
    assert fuzzy("XB128CD") == []  # two edits
    assert fuzzy("XB128CD", max_distance=2) == [("AB123CD", 2)]
    assert fuzzy("AB123CD", max_distance=0) == [("AB123CD", 0)]
    refused = _plates(client, headers, pattern="AB*", fuzzy=True)
    assert refused.status_code == 422 and "wildcard" in refused.text


def test_plate_search_needs_a_case_reference_and_a_real_pattern(
    client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    inv = headers(Role.INVESTIGATOR)
    url = "/api/v1/search/plates"
    assert client.post(url, json={"pattern": "AB*"}, headers=inv).status_code == 422
    blank = client.post(url, json={"pattern": "AB*", "case_ref": "  "}, headers=inv)
    assert blank.status_code == 422
    everything = client.post(url, json={"pattern": "*?*", "case_ref": CASE}, headers=inv)
    assert everything.status_code == 400 and "at least 2" in everything.json()["detail"]
    for role in (Role.OPERATOR, Role.ADMIN, Role.AUDITOR):
        r = client.post(url, json={"pattern": "AB*", "case_ref": CASE}, headers=headers(role))
        assert r.status_code == 403


def test_plate_read_snapshot_needs_the_case(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
) -> None:
    [hit] = [p for p in _plates(client, headers, pattern="AB123CD").json()["items"]]
    assert hit["snapshot_url"] == f"/api/v1/search/plates/{hit['id']}/snapshot.jpg"
    inv = headers(Role.INVESTIGATOR)
    assert client.get(hit["snapshot_url"], headers=inv).status_code == 422
    r = client.get(hit["snapshot_url"], params={"case_ref": CASE}, headers=inv)
    assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
    [view] = audit_rows(api_sessions, "plate_read.view")
    assert view.reason == CASE
    missing = client.get(
        "/api/v1/search/plates/999/snapshot.jpg", params={"case_ref": CASE}, headers=inv
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"subject": "Jane Roe"}, ["face"]),
        ({"subject": "ab 123-cd"}, ["plate"]),
        ({"camera_id": "cam-2"}, ["plate"]),
        ({"kind": "face"}, ["face"]),
        ({}, ["plate", "face"]),
        ({"since": "2025-06-02T00:00:00Z"}, []),
    ],
)
def test_alert_search(
    client: TestClient,
    headers: Headers,
    seeded: dict[str, int],
    api_sessions: sessionmaker[Session],
    body: dict[str, Any],
    expected: list[str],
) -> None:
    r = client.post(
        "/api/v1/search/alerts", json={"case_ref": CASE, **body}, headers=headers(Role.INVESTIGATOR)
    )
    assert r.status_code == 200, r.text
    assert [a["kind"] for a in r.json()["items"]] == expected
    [entry] = audit_rows(api_sessions, "alert.search")
    assert entry.reason == CASE


def test_alert_search_needs_case_and_permission(
    client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    url = "/api/v1/search/alerts"
    inv = headers(Role.INVESTIGATOR)
    assert client.post(url, json={"subject": "Jane Roe"}, headers=inv).status_code == 422
    op = client.post(url, json={"case_ref": CASE}, headers=headers(Role.OPERATOR))
    assert op.status_code == 403
    page = client.post(url, json={"case_ref": CASE, "limit": 1}, headers=inv).json()
    assert page["next_before_id"] == seeded["plate"]
    older = client.post(
        url, json={"case_ref": CASE, "before_id": page["next_before_id"]}, headers=inv
    ).json()
    assert [a["id"] for a in older["items"]] == [seeded["face"]]


@pytest.mark.integration
def test_searches_on_postgresql(pg_database_url: str, tmp_path: Path) -> None:
    """The same searches (LIKE patterns, fuzzy pre-filter, alert subjects) on PostgreSQL."""
    engine = make_engine(pg_database_url)
    try:
        _truncate_pg(engine)
        sessions = make_session_factory(engine)
        config = CitywatchConfig(
            store=StoreConfig(database_url=pg_database_url, media_dir=tmp_path / "media"),
            retention=_wide_window(),
        )
        app = create_app(config, sessions)
        with sessions() as s:
            seed_alerts(s, sessions, app.state.media)
            token = tokens.create_token(
                s, SETUP, "pg-inv", Role.INVESTIGATOR, expires_days=1, on_server=True
            )
        auth = {"Authorization": f"Bearer {token.secret}"}
        with TestClient(app) as client:
            plates = client.post(
                "/api/v1/search/plates",
                json={"case_ref": CASE, "pattern": "*123*", "zone": "south"},
                headers=auth,
            )
            assert [p["plate"] for p in plates.json()["items"]] == ["AB123CD"]
            fuzzy = client.post(
                "/api/v1/search/plates",
                json={"case_ref": CASE, "pattern": "AB128C0", "fuzzy": True},
                headers=auth,
            )
            assert [(p["plate"], p["distance"]) for p in fuzzy.json()["items"]] == [("AB123CD", 1)]
            found = client.post(
                "/api/v1/search/alerts",
                json={"case_ref": CASE, "subject": "ab-123-cd"},
                headers=auth,
            )
            assert [a["kind"] for a in found.json()["items"]] == ["plate"]
    finally:
        engine.dispose()
