"""The public register page and the oversight report in headless Chromium: a city's worth of
cameras and a year of activity (personal data in every table), served by the real app on a
loopback port; the page is opened without signing in, the report from its file.  Screenshots:
``public-register.png`` and ``report.png`` (into docs/screenshots with
``CITYWATCH_SCREENSHOTS=docs/screenshots``)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS, _free_socket, _screenshot_dir
from tests.conftest import require
from tests.services.helpers import ADMIN, add_authorisation, add_camera

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBJECTS = ("Jane Roe", "John Doe", "Mira Petrovic")
PLATES = ("BG123AB", "NS456CD", "BG777XY")
#: Belgrade, where the demo cameras stand: (id, name, purposes, lat, lon, zone, withheld reason)
CITY = (
    ("cam-entrance", "Station entrance", ("face",), 44.8176, 20.4569, "centre", ""),
    ("cam-street", "Nemanjina street", ("plate",), 44.8150, 20.4600, "centre", ""),
    ("cam-square", "Republic square", ("face", "plate"), 44.8160, 20.4620, "centre", ""),
    ("cam-bridge", "Branko's bridge east", ("plate",), 44.8185, 20.4480, "river", ""),
    ("cam-market", "Green market", ("face",), 44.8105, 20.4650, "market", ""),
    ("cam-ring", "Ring road north", ("plate",), 44.8230, 20.4700, "north", ""),
    ("cam-clinic", "Clinic side door", ("plate",), 44.8140, 20.4710, "east", "a clinic entrance"),
)
WITHHELD = "cam-clinic"


@dataclass
class Served:
    url: str
    report_html: Path
    report_month: str
    faces_analysed: int
    screenshots: Path


def _months_back(today: dt.date, n: int) -> dt.date:
    index = today.year * 12 + today.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


def _seed_city(session: Session, now: dt.datetime) -> None:
    from citywatch.store.models import AlertRow, FaceCountRow, PlateReadRow

    for cam_id, name, purposes, lat, lon, zone, reason in CITY:
        add_camera(
            session,
            cam_id,
            name=name,
            purposes=list(purposes),
            location={"lat": lat, "lon": lon},
            zone=zone,
            withhold_location=reason,
            legal_basis="Law on Internal Affairs art. 43",
            impact_assessment=f"DPIA-2025-{cam_id.removeprefix('cam-')}",
            operator="City of Belgrade police directorate",
        )
    day = dt.timedelta(days=1)
    add_authorisation(
        session, "KPP-2025-114", cameras=("cam-entrance", "cam-square"),
        starts=now - 200 * day, ends=now - 110 * day,
    )  # fmt: skip
    add_authorisation(
        session, "KPP-2026-007", cameras=(), zones=("centre", "market"),
        starts=now - 60 * day, ends=now + 30 * day,
    )  # fmt: skip
    add_authorisation(
        session, "URG-2026-003", cameras=("cam-market",), urgent=True,
        starts=now - dt.timedelta(hours=5), ends=now + 4 * day,
    )  # fmt: skip
    rng = random.Random(7)
    serial = itertools.count(1)
    face_cams = [c[0] for c in CITY if "face" in c[2]]
    plate_cams = [c[0] for c in CITY if "plate" in c[2]]
    for back in range(11, -1, -1):
        first = _months_back(now.date(), back)
        for _ in range(rng.randint(2, 9)):
            n = next(serial)
            seen = dt.datetime(first.year, first.month, rng.randint(1, 26), 9, tzinfo=dt.UTC)
            kind = rng.choice(("face", "face", "plate"))
            status = rng.choice(("confirmed", "rejected", "rejected", "pending"))
            if back > 0 and status == "pending":
                status = "confirmed"
            session.add(
                AlertRow(
                    event_id=f"city-{n}",
                    kind=kind,
                    camera_id=rng.choice(face_cams if kind == "face" else plate_cams),
                    subject_name=rng.choice(SUBJECTS) if kind == "face" else None,
                    plate=rng.choice(PLATES) if kind == "plate" else None,
                    read=rng.choice(PLATES) if kind == "plate" else None,
                    score=0.95,
                    track_id=n,
                    first_seen_s=0.0,
                    last_seen_s=1.0,
                    seen_at=seen,
                    created_at=seen,
                    status=status,
                    reviewed_by=None if status == "pending" else "operator-ana",
                    reviewed_at=None if status == "pending" else seen + dt.timedelta(minutes=7),
                    review_reason=None if status == "pending" else "compared with Jane Roe",
                    snapshot_path=f"snapshots/{kind}/city-{n}.jpg",
                )
            )
        last = min(27, now.day) if back == 0 else 27
        for cam in face_cams:
            for d in range(1, last + 1):
                tracks = rng.randint(20, 120)
                session.add(FaceCountRow(camera_id=cam, day=first.replace(day=d), tracks=tracks))
        for _ in range(rng.randint(10, 30)):
            n = next(serial)
            seen = dt.datetime(first.year, first.month, rng.randint(1, 26), 17, tzinfo=dt.UTC)
            session.add(
                PlateReadRow(
                    event_id=f"city-read-{n}", camera_id=rng.choice(plate_cams), track_id=n,
                    plate=rng.choice(PLATES), confidence=0.9, first_seen_s=0.0, last_seen_s=1.0,
                    first_seen_at=seen, last_seen_at=seen,
                )
            )  # fmt: skip
    session.commit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require(CHROMIUM.is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    from citywatch.api.app import create_app
    from citywatch.config.root import CitywatchConfig, StoreConfig
    from citywatch.report import ReportWriter
    from citywatch.services.report import generate_report, parse_month
    from citywatch.store.db import make_engine, make_session_factory, upgrade_database

    tmp = tmp_path_factory.mktemp("public")
    url = f"sqlite:///{tmp / 'city.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    config = CitywatchConfig(
        store=StoreConfig(database_url=url, media_dir=tmp / "media", state_dir=tmp)
    )
    now = dt.datetime.now(dt.UTC)
    month = _months_back(now.date(), 1).strftime("%Y-%m")  # the last whole month
    with sessions() as session:
        _seed_city(session, now)
        writer = ReportWriter(tmp / "reports", pdf="never")
        done = generate_report(session, config, ADMIN, parse_month(month), writer)
    app = create_app(config, sessions)
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(
            url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            report_html=done.files[0],
            report_month=month,
            faces_analysed=done.report.totals.faces_analysed,
            screenshots=_screenshot_dir(tmp / "screenshots"),
        )
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        engine.dispose()


@pytest.fixture(scope="module")
def page(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-public")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 1440, "height": 900},
            timezone_id="UTC",
            locale="en-GB",
        )
        context.set_default_timeout(15_000)
        tab = context.pages[0] if context.pages else context.new_page()
        problems: list[str] = []
        tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
        tab.on(
            "console",
            lambda msg: (
                problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            ),
        )
        tab.problems = problems
        try:
            yield tab
        finally:
            context.close()


def test_anyone_sees_the_register_with_its_map(page: Any, served: Served) -> None:
    page.goto(served.url + "/public")
    page.wait_for_selector("#map .marker")
    shown = len(CITY) - 1  # the clinic's location is withheld: no marker
    assert page.locator("#map .marker").count() == shown
    assert page.locator("#camera-table tr[data-camera]").count() == len(CITY)
    row = page.locator(f'#camera-table tr[data-camera="{WITHHELD}"]')
    assert "location withheld: a clinic entrance" in row.inner_text()
    assert "zone east" in row.inner_text()
    page.locator('#camera-table tr[data-camera="cam-square"]').click()
    marker = page.locator('#map .marker[data-camera="cam-square"]')
    assert "selected" in (marker.get_attribute("class") or "")
    assert page.locator("#stats-chart rect.bar").count() > 12
    ticks = page.locator("#stats-chart text.tick").all_text_contents()
    assert len(ticks) >= 2 and all(t.isdigit() for t in ticks), ticks  # counts: whole numbers
    assert page.locator("#stats-table tbody tr").count() == 12
    states = page.locator("#auth-table tbody tr .pill").all_inner_texts()
    assert [s.lower() for s in states] == ["expired", "live", "awaiting_confirmation"]
    text = page.inner_text("body")
    for personal in (*SUBJECTS, *PLATES, "operator-ana", "Clinic side door", "44.81400"):
        assert personal not in text, personal
    assert page.problems == []
    page.screenshot(path=str(served.screenshots / "public-register.png"), full_page=True)


def test_the_report_renders_with_its_charts(page: Any, served: Served) -> None:
    page.set_viewport_size({"width": 1100, "height": 1500})
    page.goto(served.report_html.resolve().as_uri())
    page.wait_for_selector("#report-title")
    title = page.inner_text("#report-title")
    assert title.startswith("Oversight report")
    shown = page.inner_text("#faces-analysed").replace("\u202f", "")
    assert int(shown) == served.faces_analysed > 0
    images = page.locator("figure img")
    assert images.count() == 3
    for i in range(3):
        assert images.nth(i).evaluate("el => el.complete && el.naturalWidth > 400")
    assert "The hash chain verifies" in page.inner_text("#chain-verdict")
    text = page.inner_text("body")
    for personal in (*SUBJECTS, *PLATES, "operator-ana"):
        assert personal not in text, personal
    assert page.problems == []
    page.screenshot(path=str(served.screenshots / "report.png"))
