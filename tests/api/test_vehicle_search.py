"""Search by vehicle (issue 20): plate reads by the type and colour of the vehicle that held
the plate, through the real app and the real `citywatch` command; a case reference, an audit
entry for every search and every refusal, and only the roles that may search plates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.security import Role
from citywatch.services.events import EventRecorder
from citywatch.store.media import MediaStore
from citywatch.store.types import utcnow
from tests.api.routes_support import Headers, audit_rows, headers
from tests.services.helpers import add_camera, plate_read
from tests.store.db_fixtures import pg_database_url

__all__ = ["headers", "pg_database_url"]

CASE = "CASE-2026-0099"
START = utcnow().replace(microsecond=0) - dt.timedelta(hours=6)
HOUR = dt.timedelta(hours=1)
#: (plate, camera, hours after START, kind, colour)
READS = [
    ("AB123CD", "cam-1", 1, "car", "white"),
    ("ZG555XY", "cam-1", 2, "car", "red"),
    ("BG777AA", "cam-1", 3, "truck", "white"),
    ("NS900KK", "cam-2", 4, "car", "white"),
]


def seed_reads(sessions: sessionmaker[Session], media: MediaStore) -> None:
    with sessions() as s:
        add_camera(s, "cam-1")
        add_camera(s, "cam-2", zone="south")
    recorder = EventRecorder(sessions, media, lambda r: None, lambda e: None)
    for i, (plate, cam, hours, kind, colour) in enumerate(READS):
        at = (START + hours * HOUR).timestamp()
        recorder.record_plate_read(
            plate_read(
                camera_id=cam,
                track_id=i,
                text=plate,
                first_seen_s=float(i),
                frame_wall_time=at,
                decided_wall_time=at,
                vehicle_kind=kind,
                vehicle_colour=colour,
                vehicle_score=0.9,
            )
        )


@pytest.fixture
def seeded_reads(api_app: FastAPI, api_sessions: sessionmaker[Session]) -> None:
    seed_reads(api_sessions, api_app.state.media)


def _search(client: TestClient, auth: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/search/vehicles", json={"case_ref": CASE, **body}, headers=auth)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_search_by_type_and_colour_at_a_camera_in_a_morning(
    client: TestClient, headers: Headers, seeded_reads: None, api_sessions: sessionmaker[Session]
) -> None:
    def plates(**body: Any) -> list[str]:
        r = _search(client, headers(Role.INVESTIGATOR), **body)
        assert r.status_code == 200, r.text
        return [p["plate"] for p in r.json()["items"]]

    period = {"since": _iso(START), "until": _iso(START + 6 * HOUR)}
    assert plates(vehicle_colour="white", camera_id="cam-1", **period) == ["BG777AA", "AB123CD"]
    assert plates(vehicle_colour="silver", camera_id="cam-1", **period) == []  # grey
    assert plates(vehicle_kind="car", vehicle_colour="white", camera_id="cam-1", **period) == [
        "AB123CD"
    ]
    assert plates(vehicle_kind="van", camera_id="cam-1", **period) == ["BG777AA"]  # truck
    assert plates(vehicle_colour="white", zone="south", **period) == ["NS900KK"]
    # with a plate pattern the vehicle narrows a plate search: no camera or period needed
    assert plates(pattern="*55*", vehicle_kind="car") == ["ZG555XY"]
    r = _search(
        client, headers(Role.INVESTIGATOR), vehicle_colour="red", camera_id="cam-1", **period
    )
    item = r.json()["items"][0]
    assert (item["plate"], item["vehicle_kind"], item["vehicle_colour"]) == (
        "ZG555XY",
        "car",
        "red",
    )

    searches = audit_rows(api_sessions, "vehicle.search")
    assert len(searches) == 7 and all(e.reason == CASE for e in searches)
    assert searches[0].target == "vehicles:white *"
    assert '"vehicle_colour":"white"' in searches[0].details
    assert '"camera_id":"cam-1"' in searches[0].details and '"results":2' in searches[0].details


def test_a_sweep_without_place_or_period_is_refused_and_audited(
    client: TestClient, headers: Headers, seeded_reads: None, api_sessions: sessionmaker[Session]
) -> None:
    inv = headers(Role.INVESTIGATOR)
    r = _search(client, inv, vehicle_colour="white")
    assert r.status_code == 403 and "camera or a zone" in r.text
    r = _search(client, inv, vehicle_colour="white", camera_id="cam-1")
    assert r.status_code == 403 and "needs a period" in r.text
    week = {"since": _iso(START - 7 * 24 * HOUR), "until": _iso(START)}
    r = _search(client, inv, vehicle_kind="car", camera_id="cam-1", **week)
    assert r.status_code == 403 and "24 hours" in r.text
    refused = audit_rows(api_sessions, "vehicle.search_refused")
    assert len(refused) == 3 and all(e.reason == CASE for e in refused)
    assert audit_rows(api_sessions, "vehicle.search") == []


def test_bad_input_is_named(client: TestClient, headers: Headers, seeded_reads: None) -> None:
    inv = headers(Role.INVESTIGATOR)
    r = _search(client, inv, vehicle_colour="teal", camera_id="cam-1")
    assert r.status_code == 400 and "vehicle colour 'teal'" in r.text
    r = _search(client, inv, pattern="*", vehicle_kind="car")
    assert r.status_code == 400 and "at least 2 letters or digits" in r.text
    r = client.post("/api/v1/search/vehicles", json={"vehicle_kind": "car"}, headers=inv)
    assert r.status_code == 422 and "case_ref" in r.text


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR])
def test_only_roles_that_search_plates_may_search_vehicles(
    client: TestClient,
    headers: Headers,
    seeded_reads: None,
    api_sessions: sessionmaker[Session],
    role: Role,
) -> None:
    period = {"since": _iso(START), "until": _iso(START + 6 * HOUR)}
    r = _search(client, headers(role), vehicle_colour="white", camera_id="cam-1", **period)
    assert r.status_code == 403, r.text
    assert client.post("/api/v1/search/vehicles", json={"case_ref": CASE}).status_code == 401
    assert audit_rows(api_sessions, "vehicle.search") == []


def test_the_console_has_a_vehicle_form_for_investigators(
    client: TestClient, login: Any, seeded_reads: None
) -> None:
    login(client, Role.INVESTIGATOR)
    page = client.get("/search")
    assert page.status_code == 200
    assert 'id="vehicles-form"' in page.text and '<option value="white">' in page.text


def test_vehicle_search_and_alert_vehicles_on_postgresql(
    pg_database_url: str, tmp_path: Path
) -> None:
    """Migration 0012 and the vehicle filters on PostgreSQL."""
    from citywatch.api.app import create_app
    from citywatch.audit.chain import Actor
    from citywatch.config.root import CitywatchConfig, StoreConfig
    from citywatch.decisions.types import HotlistHit, PlateRead
    from citywatch.services import tokens
    from citywatch.services.hotlists import add_plate
    from citywatch.store.db import make_engine, make_session_factory
    from tests.store.db_fixtures import _truncate_pg

    engine = make_engine(pg_database_url)
    try:
        _truncate_pg(engine)
        sessions = make_session_factory(engine)
        config = CitywatchConfig(
            store=StoreConfig(database_url=pg_database_url, media_dir=tmp_path / "media")
        )
        app = create_app(config, sessions)
        seed_reads(sessions, app.state.media)
        admin = Actor("test-setup", "admin")
        with sessions() as s:
            entry = add_plate(s, admin, "stolen", "AB1X", "r", vehicle_kind="van")
            hotlist_id = entry.hotlist_id
            token = tokens.create_token(
                s, admin, "pg-inv", Role.INVESTIGATOR, expires_days=1, on_server=True
            )

        def match(read: PlateRead) -> HotlistHit | None:
            hit = HotlistHit(read=read, hotlist_id=hotlist_id, entry="AB1X", distance=0)
            return hit if read.text == "AB1X" else None

        sent: list[dict[str, Any]] = []
        now = utcnow().timestamp()
        EventRecorder(
            sessions, app.state.media, match, lambda e: sent.append(e.to_json())
        ).record_plate_read(
            plate_read(
                camera_id="cam-1",
                text="AB1X",
                track_id=50,
                first_seen_s=50.0,
                frame_wall_time=now,
                decided_wall_time=now,
                vehicle_kind="car",
            )
        )
        assert (
            sent[0]["vehicle_note"] == "hotlist says truck; seen: car (type differs: check the car)"
        )
        auth = {"Authorization": f"Bearer {token.secret}"}
        period = {"since": _iso(START), "until": _iso(START + 6 * HOUR)}
        with TestClient(app) as client:
            r = _search(client, auth, vehicle_colour="white", camera_id="cam-1", **period)
            assert [p["plate"] for p in r.json()["items"]] == ["BG777AA", "AB123CD"]
    finally:
        engine.dispose()
