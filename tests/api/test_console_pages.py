"""Console pages against the real app and database: each page renders for the role it is for,
sends a logged-out browser to the login page, refuses other roles with a 403 page, escapes what
it shows, and never shows a secret."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from citywatch.api.app import create_app
from citywatch.api.console.views import withheld_text
from citywatch.api.security import SESSION_COOKIE, Role
from citywatch.api.settings import ApiSettings
from citywatch.audit.chain import Actor
from citywatch.config.camera import CameraConfig, Location, Purpose
from citywatch.config.root import CitywatchConfig
from citywatch.policy.access import Permission, allowed
from citywatch.services.cameras import register_camera
from citywatch.services.search import search_plate_reads
from citywatch.store.models import AlertRow
from tests.api.conftest import USER_ROLES, Login

HTML = {"Accept": "text/html,application/xhtml+xml"}
SECRET = "s3cret-Pa55word"
EVIL = "<script>alert('x')</script>"
ADMIN = Actor("test-setup", "admin")

#: (page, permission it declares, text only that page shows)
PAGES = [
    ("/", Permission.LIVE_VIEW, "Live view"),
    ("/search", Permission.PLATES_SEARCH, "Every search needs a case reference"),
    ("/lists", Permission.WATCHLISTS_READ, "Lists &amp; cameras"),
    ("/map", Permission.CAMERAS_READ, "Camera map"),
    ("/audit", Permission.AUDIT_READ, "Chain verification"),
    ("/access", Permission.ACCESS_APPROVE, "Waiting for a decision"),
    ("/users", Permission.USERS_MANAGE, "Sign-in blocks"),
]
CASES = [(path, role, marker) for path, perm, marker in PAGES for role in USER_ROLES]


def _camera(session: Session, cam_id: str = "cam-1", **extra: object) -> None:
    cfg = CameraConfig(
        id=cam_id,
        name=extra.pop("name", "North gate"),  # type: ignore[arg-type]
        url=SecretStr(f"rtsp://viewer:{SECRET}@10.0.0.5/stream1"),
        purposes=[Purpose.FACE, Purpose.PLATE],
        location=Location(lat=44.81, lon=20.46),
        zone="centre",
        legal_basis="Act 12/2024",
        impact_assessment="DPIA-7",
        approved_on=dt.date(2024, 1, 1),
        **extra,  # type: ignore[arg-type]
    )
    register_camera(session, cfg, ADMIN)


def _alert(session: Session, **values: object) -> int:
    row = AlertRow(
        event_id=str(values.pop("event_id", "e" * 64)),
        kind=values.pop("kind", "face"),
        camera_id="cam-1",
        score=0.953,
        threshold=0.92,
        track_id=7,
        first_seen_s=1.0,
        last_seen_s=2.5,
        seen_at=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        **values,
    )
    session.add(row)
    session.commit()
    return row.id


@pytest.fixture
def seeded(api_sessions: sessionmaker[Session]) -> Iterator[int]:
    """A registered camera (credentials in its URL) and one pending face alert."""
    with api_sessions() as s:
        _camera(s)
        yield _alert(s, subject_name=EVIL, list_name="wl-<b>bold</b>")


def _page_data(html: str) -> Any:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert found is not None, "no page data"
    return json.loads(found.group(1))


def _scripts_are_external(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert " on" not in " ".join(re.findall(r"<[a-z]+\s[^>]*\son\w+=", html))
    assert "style=" not in html  # the CSP forbids inline styles too


@pytest.mark.parametrize(
    ("path", "role", "marker"), CASES, ids=[f"{p}-{r.value}" for p, r, _ in CASES]
)
def test_a_page_renders_for_its_role_and_403s_for_the_others(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    seeded: int,
    path: str,
    role: Role,
    marker: str,
) -> None:
    perm = next(p for pp, p, _ in PAGES if pp == path)
    who = login(client, role)
    r = client.get(path, headers=HTML, follow_redirects=False)
    if allowed(role, perm):
        assert r.status_code == 200, r.text
        assert marker in r.text
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert f'<meta name="csrf-token" content="{who.csrf}">' in r.text
        assert f"<span>{who.user.name}</span>" in r.text
        _scripts_are_external(r.text)
    else:
        assert r.status_code == 403
        assert "Not allowed" in r.text and marker not in r.text
        assert who.user.name in r.text  # the 403 page says who is signed in


@pytest.mark.parametrize("path", [p for p, _, _ in PAGES] + ["/alerts/1", "/home"])
def test_a_logged_out_browser_is_sent_to_the_login_page(client: TestClient, path: str) -> None:
    r = client.get(path, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + path.replace("/", "%2F")
    plain = client.get(path, follow_redirects=False)  # a script, not a browser: a plain 401
    assert plain.status_code == 401


def test_an_operator_cannot_open_the_audit_log(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    login(client, Role.OPERATOR)
    r = client.get("/audit", headers=HTML)
    assert r.status_code == 403
    assert "Your role may not open this page" in r.text
    assert 'href="/audit"' not in r.text  # not in the menu either
    assert client.get("/audit").status_code == 403  # and plain for a non-browser


def test_the_menu_offers_only_pages_the_role_may_open(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    login(client, Role.INVESTIGATOR)
    html = client.get("/map", headers=HTML).text
    nav = re.search(r'<nav class="nav".*?</nav>', html, re.S)
    assert nav is not None
    assert re.findall(r'href="([^"]+)"', nav.group(0)) == ["/search", "/playback", "/map"]


def test_login_page_and_where_it_sends_people(
    client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    r = client.get("/login?next=/alerts/3", headers=HTML)
    assert r.status_code == 200
    assert 'data-next="/alerts/3"' in r.text
    assert 'id="password"' in r.text and 'type="password"' in r.text
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert 'data-next=""' in client.get("/login", params={"next": evil}, headers=HTML).text
    login(client, Role.INVESTIGATOR)
    assert client.get("/login", headers=HTML, follow_redirects=False).headers["location"] == (
        "/search"
    )
    r = client.get("/login?next=/map", headers=HTML, follow_redirects=False)
    assert r.headers["location"] == "/map"
    r = client.get("/login?next=//evil.example", headers=HTML, follow_redirects=False)
    assert r.headers["location"] == "/search"


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.OPERATOR, "/"),
        (Role.INVESTIGATOR, "/search"),
        (Role.ADMIN, "/lists"),
        (Role.AUDITOR, "/audit"),
        (Role.SUPERVISOR, "/access"),
    ],
)
def test_home_is_the_roles_start_page(
    client: TestClient, login: Callable[[TestClient, Role], Login], role: Role, home: str
) -> None:
    login(client, role)
    r = client.get("/home", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == home


@pytest.mark.parametrize("role", USER_ROLES, ids=[r.value for r in USER_ROLES])
def test_every_role_lands_on_a_page_without_a_loop(
    client: TestClient, login: Callable[[TestClient, Role], Login], role: Role
) -> None:
    """The supervisor's sign-in ended in /home -> /login -> /login ... (issue 16 item 5)."""
    login(client, role)
    seen: list[str] = []
    url = "/login"
    for _ in range(5):
        r = client.get(url, headers=HTML, follow_redirects=False)
        seen.append(url)
        if r.status_code != 303:
            break
        url = r.headers["location"]
    assert r.status_code == 200, seen
    assert len(seen) <= 2 and seen[-1] != "/login"


def test_a_role_without_pages_gets_a_page_that_says_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, login: Callable[[TestClient, Role], Login]
) -> None:
    from citywatch.api.console import render

    login(client, Role.SUPERVISOR)
    monkeypatch.setattr(render, "NAV", ())  # as if no page were meant for supervisors
    r = client.get("/home", headers=HTML)
    assert r.status_code == 200 and str(r.url).endswith("/welcome")
    assert "No page of this console is meant for your role" in r.text
    assert "access.approve" in r.text


def test_the_review_page_escapes_and_offers_review_to_operators_only(
    client: TestClient, login: Callable[[TestClient, Role], Login], seeded: int
) -> None:
    login(client, Role.OPERATOR)
    html = client.get(f"/alerts/{seeded}", headers=HTML).text
    assert EVIL not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert 'id="review-form"' in html and 'id="confirm"' in html
    assert "0.953" in html and "0.920" in html  # the score and the operating point
    assert f'src="/api/v1/alerts/{seeded}/photo.jpg"' not in html  # no subject id: no photo
    login(client, Role.INVESTIGATOR)  # may read alerts, may not decide them
    html = client.get(f"/alerts/{seeded}", headers=HTML).text
    assert 'id="review-form"' not in html and "may view this alert but not decide it" in html


def test_a_plate_alert_shows_the_hotlist_entry_not_an_empty_box(
    client: TestClient, login: Callable[[TestClient, Role], Login], seeded: int, api_sessions
) -> None:
    """Issue 16 item 8: the reference panel of a plate alert was a black box with the plate."""
    from citywatch.services.hotlists import add_plate

    with api_sessions() as s:
        entry = add_plate(s, ADMIN, "stolen", "bg 123-ab", "reported stolen 2024-04-30")
        alert_id = _alert(
            s,
            event_id="p" * 64,
            kind="plate",
            plate="BG123AB",
            list_name="stolen",
            hotlist_entry_id=entry.id,
        )
    login(client, Role.OPERATOR)
    html = client.get(f"/alerts/{alert_id}", headers=HTML).text
    panel = html.split('id="hotlist-entry"')[1].split("</figure>")[0]
    assert "BG123AB" in panel and "bg 123-ab" in panel
    assert "reported stolen 2024-04-30" in panel and "On the list since" in panel


def test_viewing_an_alert_page_is_audited_and_a_missing_one_is_a_404_page(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    seeded: int,
    api_sessions: sessionmaker[Session],
) -> None:
    from citywatch.audit.chain import entries

    who = login(client, Role.OPERATOR)
    client.get(f"/alerts/{seeded}", headers=HTML)
    with api_sessions() as s:
        views = [e for e in entries(s) if e.action == "alert.view"]
    assert [(v.actor, v.target) for v in views] == [(who.user.name, f"alert:{seeded}")]
    r = client.get("/alerts/999", headers=HTML)
    assert r.status_code == 404 and "alert 999 does not exist" in r.text


def test_no_secret_reaches_a_page(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    seeded: int,
) -> None:
    pages: list[str] = []
    for role, paths in [
        (Role.ADMIN, ["/lists", "/map"]),
        (Role.OPERATOR, ["/", f"/alerts/{seeded}"]),
        (Role.AUDITOR, ["/audit"]),
    ]:
        client.cookies.clear()
        login(client, role)
        cookie = client.cookies.get(SESSION_COOKIE)
        assert cookie
        for path in paths:
            html = client.get(path, headers=HTML).text
            assert cookie not in html, path
            pages.append(html)
    text = "\n".join(pages)
    assert SECRET not in text and "viewer:" not in text
    assert "rtsp://***@10.0.0.5/stream1" in text or "rtsp://10.0.0.5/stream1" in text
    assert "$argon2" not in text


def test_the_dashboard_shows_cameras_the_feed_backlog_and_operating_points(
    client: TestClient, login: Callable[[TestClient, Role], Login], seeded: int
) -> None:
    login(client, Role.OPERATOR)
    html = client.get("/", headers=HTML).text
    assert 'data-camera="cam-1"' in html
    assert "possible match at cosine &gt;= 0.770" in html  # the fused embedder's point
    assert 'id="pending-count">1<' in html
    block = html.split('id="page-data">', 1)[1].split("</script>", 1)[0]
    assert "<script>" not in block  # the backlog's subject name is escaped inside the JSON
    data = _page_data(html)
    assert [a["subject_name"] for a in data["alerts"]] == [EVIL]
    assert data["operating_points"]["face"]["threshold"] == 0.77
    assert data["pending"] == 1


def test_the_audit_page_verifies_pages_and_withholds_plates(
    client: TestClient,
    login: Callable[[TestClient, Role], Login],
    seeded: int,
    api_sessions: sessionmaker[Session],
) -> None:
    with api_sessions() as s:
        for i in range(120):
            search_plate_reads(s, Actor("inv", "investigator"), "BG123*", case_ref=f"CASE-{i}")
    login(client, Role.AUDITOR)
    html = client.get("/audit", headers=HTML).text
    assert 'id="chain-status">verified<' in html
    # Case references are free text: withheld, each tagged (issue 16 item 3).
    newest, oldest = withheld_text("CASE-119"), withheld_text("CASE-5")
    assert "CASE-" not in html.split('id="entries-heading"')[1]
    assert f"<td>{newest}</td>" in html and f"<td>{oldest}</td>" not in html  # one page
    assert "BG123" not in html and "‹withheld›" in html
    assert "free text people wrote" in html  # the page says so
    older = re.search(r'href="/audit\?before=(\d+)"', html)
    assert older is not None
    html2 = client.get(f"/audit?before={older.group(1)}", headers=HTML).text
    assert f"<td>{oldest}</td>" in html2 and f"<td>{newest}</td>" not in html2


def test_the_map_uses_a_configured_tile_server(
    api_config: CitywatchConfig,
    api_sessions: sessionmaker[Session],
    login: Callable[[TestClient, Role], Login],
    seeded: int,
) -> None:
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    app: FastAPI = create_app(api_config, api_sessions, settings=ApiSettings(map_tile_url=tiles))
    with TestClient(app) as c:
        login(c, Role.INVESTIGATOR)
        r = c.get("/map", headers=HTML)
    assert r.status_code == 200
    data = _page_data(r.text)
    assert data["tiles"] == tiles
    assert data["cameras"] == [
        {
            "id": "cam-1",
            "name": "North gate",
            "zone": "centre",
            "purposes": ["face", "plate"],
            "lat": 44.81,
            "lon": 20.46,
        }
    ]
    assert "https://tiles.example.org" in r.headers["content-security-policy"]


def test_health_json_summarises_the_engine_for_the_tiles(
    api_app: FastAPI, client: TestClient, login: Callable[[TestClient, Role], Login]
) -> None:
    api_app.state.health = lambda: {
        "cam-1": {
            "source": {"state": "streaming", "input_fps": 10.0, "analysed_fps": 5.0},
            "worker": {"lag_s": 0.4},
        },
        "cam-2": {"source": {"state": "backoff", "last_error": "connection refused"}},
    }
    login(client, Role.OPERATOR)
    body = client.get("/console/health.json").json()["cameras"]
    assert body["cam-1"]["level"] == "ok" and body["cam-1"]["analysed_fps"] == 5.0
    assert body["cam-2"]["level"] == "bad" and body["cam-2"]["error"] == "connection refused"


def test_the_playback_page_is_the_investigators_and_shows_no_footage_itself(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    """Issue 17: the page holds the form and the player; the footage and the timeline come
    from the audited API with the case reference (the page writes no audit entry)."""
    from citywatch.store.models import AuditLogRow

    login(client, Role.OPERATOR)
    assert client.get("/playback", headers=HTML).status_code == 403
    login(client, Role.INVESTIGATOR)
    with api_sessions() as s:
        _camera(s)
        before = s.query(AuditLogRow).count()
    r = client.get("/playback", headers=HTML)
    assert r.status_code == 200
    assert 'id="pb-case"' in r.text and 'id="player"' in r.text and "/static/playback.js" in r.text
    assert '<option value="cam-1">' in r.text
    with api_sessions() as s:
        assert s.query(AuditLogRow).count() == before


def test_the_alert_page_links_the_investigator_to_the_recording_around_it(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    with api_sessions() as s:
        _camera(s)
        alert_id = _alert(s)
    login(client, Role.INVESTIGATOR)
    html = client.get(f"/alerts/{alert_id}", headers=HTML).text
    link = re.search(r'id="play-recording" href="([^"]+)"', html)
    assert link is not None and link.group(1).startswith("/playback?camera=cam-1&amp;at=2")
    login(client, Role.OPERATOR)  # reviews alerts, plays no recordings
    assert 'id="play-recording"' not in client.get(f"/alerts/{alert_id}", headers=HTML).text
