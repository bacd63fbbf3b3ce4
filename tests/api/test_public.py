"""The public register over HTTP: JSON, GeoJSON, CSV and the web page, without signing in;
nothing personal in any of them; withheld locations published as their zone and reason."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.routes import public
from citywatch.api.security import Permission, Role, app_routes
from tests.api.conftest import Login
from tests.services.helpers import add_authorisation
from tests.services.register_seed import (
    EXPECTED,
    HIDDEN_REASON,
    PERSONAL,
    seed_register,
)

URLS = ("/public/register", "/public/register.geojson", "/public/register.csv", "/public")
TABLES = ("cameras", "authorisations", "statistics", "statistics_by_camera")


def _ok(client: TestClient, url: str) -> Any:
    r = client.get(url)
    assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
    return r


@pytest.fixture
def seeded(api_app: FastAPI, api_sessions: sessionmaker[Session]) -> FastAPI:
    with api_sessions() as session:
        seed_register(session, api_sessions, api_app.state.media)
        now = dt.datetime.now(dt.UTC)  # the API builds the register at the real time
        hour = dt.timedelta(hours=1)
        add_authorisation(session, "W-3", cameras=("cam-2",), starts=now - hour, ends=now + hour)
    return api_app  # the real app: create_app must serve the register itself


@pytest.fixture
def anon(seeded: FastAPI) -> TestClient:
    return TestClient(seeded)


def _no_personal(text: str, where: str) -> None:
    leaked = [p for p in PERSONAL if p.lower() in text.lower()]
    assert leaked == [], f"{where} publishes {leaked}"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_register_routes_are_public_and_declared(seeded: FastAPI) -> None:
    perms = {e.path: e.permission for e in app_routes(seeded)}
    for url in URLS:
        assert perms[url] is Permission.PUBLIC, url


@pytest.mark.parametrize("url", URLS)
def test_anyone_may_read_the_register_and_caches_may_keep_it(anon: TestClient, url: str) -> None:
    r = anon.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "set-cookie" not in r.headers
    assert "script-src 'self'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("url", [*URLS, *(f"/public/register.csv?table={t}" for t in TABLES)])
def test_nothing_personal_is_published(anon: TestClient, url: str) -> None:
    _no_personal(_ok(anon, url).text, url)


def test_staff_signed_in_see_the_same_public_register(
    seeded: FastAPI, login: Callable[[TestClient, Role], Login]
) -> None:
    anon_page = _ok(TestClient(seeded), "/public/register").json()
    with TestClient(seeded) as staff:
        login(staff, Role.OPERATOR)
        signed = _ok(staff, "/public/register").json()
        page = _ok(staff, "/public").text
    assert signed == anon_page
    _no_personal(page, "/public for a signed-in operator")
    assert "operator-" not in page  # the page does not greet staff by name


def test_json_statistics_match_the_seeded_data(anon: TestClient) -> None:
    body = _ok(anon, "/public/register").json()
    months = {m["month"]: {k: v for k, v in m.items() if k != "month"} for m in body["statistics"]}
    assert months == EXPECTED
    per_cam = {(m["month"], m["camera_id"]): m for m in body["statistics_by_camera"]}
    assert per_cam[("2025-05", "cam-hidden")]["rejected"] == 1
    assert per_cam[("2025-05", "cam-2")]["faces_analysed"] == 10
    for month, totals in EXPECTED.items():
        for key, value in totals.items():
            cams = [m[key] for (mm, _c), m in per_cam.items() if mm == month]
            assert sum(cams) == value, (month, key)


def test_json_lists_cameras_authorisations_and_model_card(anon: TestClient) -> None:
    body = _ok(anon, "/public/register").json()
    cams = {c["id"]: c for c in body["cameras"]}
    assert set(cams) == {"cam-1", "cam-2", "cam-hidden"}
    assert cams["cam-1"]["location"] == {"lat": 52.1, "lon": 5.1}
    assert cams["cam-1"]["legal_basis"] == "Municipal Act 12 s.3"
    assert cams["cam-1"]["impact_assessment_status"] == "approved"
    assert cams["cam-2"]["face_recognition_authorised"] is True  # W-3 covers it now
    assert cams["cam-1"]["face_recognition_authorised"] is False  # W-1 ended in 2025
    assert cams["cam-hidden"]["face_recognition_authorised"] is False  # plates only
    assert body["operators"] == ["City of Example"]
    auths = body["authorisations"]
    assert [a["state"] for a in auths] == ["expired", "lapsed", "live"]
    assert auths[0] | {"starts_at": None, "ends_at": None} == {
        "number": 1,
        "purpose": "search for a missing person",
        "authority": "District Court",
        "starts_at": None,
        "ends_at": None,
        "urgent": False,
        "confirmed": False,
        "state": "expired",
        "cameras": ["cam-1"],
        "zones": [],
        "watchlist_entries": 1,
    }
    assert "reference" not in auths[0]
    assert body["model_card"]["face_threshold"] == pytest.approx(0.77)  # fused embedder


def test_a_withheld_location_publishes_only_the_zone_and_the_reason(anon: TestClient) -> None:
    cams = {c["id"]: c for c in _ok(anon, "/public/register").json()["cameras"]}
    hidden = cams["cam-hidden"]
    assert hidden["location"] is None
    assert hidden["location_withheld"] is True
    assert hidden["zone"] == "east"
    assert hidden["withheld_reason"] == HIDDEN_REASON
    assert hidden["name"] == ""

    rows = {r["id"]: r for r in _csv(_ok(anon, "/public/register.csv").text)}
    assert (rows["cam-hidden"]["lat"], rows["cam-hidden"]["lon"]) == ("", "")
    assert rows["cam-hidden"]["withheld_reason"] == HIDDEN_REASON
    assert rows["cam-hidden"]["location_withheld"] == "yes"
    assert rows["cam-1"]["lat"] == "52.1"

    page = _ok(anon, "/public").text
    assert f"location withheld: {HIDDEN_REASON}" in page
    data = _page_data(page)
    assert {m["id"] for m in data["cameras"]} == {"cam-1", "cam-2"}  # no marker for it


def _page_data(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_geojson_is_a_valid_feature_collection(anon: TestClient) -> None:
    r = _ok(anon, "/public/register.geojson")
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert isinstance(doc["features"], list) and len(doc["features"]) == 3
    for feature in doc["features"]:
        assert feature["type"] == "Feature"
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        if geometry is None:
            assert feature["properties"]["location_withheld"] is True
            continue
        assert geometry["type"] == "Point"
        lon, lat = geometry["coordinates"]  # RFC 7946: longitude first
        assert -180 <= lon <= 180 and -90 <= lat <= 90
    by_id = {f["id"]: f for f in doc["features"]}
    assert by_id["cam-1"]["geometry"]["coordinates"] == [5.1, 52.1]
    assert by_id["cam-hidden"]["geometry"] is None
    assert by_id["cam-hidden"]["properties"]["zone"] == "east"
    assert by_id["cam-hidden"]["properties"]["withheld_reason"] == HIDDEN_REASON


def test_csv_tables(anon: TestClient) -> None:
    r = _ok(anon, "/public/register.csv?table=statistics")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    stats = {row["month"]: row for row in _csv(r.text)}
    assert {m: int(stats[m]["rejected"]) for m in stats} == {"2025-05": 2, "2025-06": 1}
    assert int(stats["2025-05"]["faces_analysed"]) == 42
    auths = _csv(_ok(anon, "/public/register.csv?table=authorisations").text)
    assert [a["authority"] for a in auths] == ["District Court"] * 3
    assert anon.get("/public/register.csv?table=subjects").status_code == 422


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    assert public._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert public._cell("+1") == "'+1"
    assert public._cell("Municipal Act") == "Municipal Act"
    assert public._cell(["face", "plate"]) == "face;plate"
    assert public._cell(None) == ""
    assert public._cell(True) == "yes"


def test_the_page_shows_the_register_with_scripts_from_files_only(anon: TestClient) -> None:
    page = _ok(anon, "/public").text
    assert "Where the city's cameras look" in page
    assert "District Court" in page and "Municipal Act 12 s.3" in page
    # the only inline <script> is the JSON data block (CSP: script-src 'self')
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert inline == [' type="application/json" id="page-data"']
    assert {"/static/map.js", "/static/public.js"} <= set(re.findall(r'src="([^"]+\.js)"', page))
    data = _page_data(page)
    assert data["tiles"] is None
    assert [m["month"] for m in data["months"]] == ["2025-05", "2025-06"]
    for key in ("/static/public.js", "/static/public.css", "/static/map.js"):
        assert anon.get(key).status_code == 200, key


def test_the_register_is_built_at_most_once_per_ttl() -> None:
    clock = [100.0]
    built: list[int] = []

    def build() -> Any:
        built.append(1)
        return len(built)

    cache = public.RegisterCache(ttl=60, clock=lambda: clock[0])
    assert cache.get(build) == 1
    clock[0] += 59
    assert cache.get(build) == 1  # still fresh: the database is not asked again
    clock[0] += 1
    assert cache.get(build) == 2
