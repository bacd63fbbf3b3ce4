"""Issue 17: an investigator plays a camera's recording for a case in Debian's Chromium: the
playback page draws the timeline with the alert on it, a click on the alert plays from just
before it, the player goes on into the next segment, and the timeline and playback are in the
audit log with the case reference.

A console of its own (no cameras, no models): a database with one camera, three recorded
segments and an alert, served by Uvicorn on a loopback port, as in ``conftest.py``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import select

from citywatch.audit.evidence_export import verify_export
from citywatch.audit.keys import HmacKey
from citywatch.store.models import AuditLogRow
from tests.browser.conftest import (
    CHROMIUM,
    LAUNCH_ARGS,
    PASSWORD,
    _free_socket,
    _screenshot_dir,
    watch_problems,
)
from tests.conftest import require

T0 = dt.datetime(2026, 11, 30, 14, 0, tzinfo=dt.UTC)
CASE = "CASE-2026-17"
KEY = HmacKey(b"browser-test-key" * 2, "test")


@pytest.fixture(scope="module")
def recorded_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    require(CHROMIUM.is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright is not installed")
    from citywatch.api.app import create_app
    from citywatch.api.settings import ApiSettings
    from citywatch.audit.chain import Actor
    from citywatch.config.root import CitywatchConfig, StoreConfig
    from citywatch.services import users
    from citywatch.store.db import make_engine, make_session_factory, upgrade_database
    from citywatch.store.media import MediaStore
    from tests.services.helpers import add_camera
    from tests.services.recorded_segments import record
    from tests.services.test_playback_export import add_alert

    tmp = tmp_path_factory.mktemp("playback")
    url = f"sqlite:///{tmp / 'cw.db'}"
    upgrade_database(url)
    config = CitywatchConfig(
        store=StoreConfig(database_url=url, media_dir=tmp / "media", state_dir=tmp)
    )
    db = make_engine(url)
    sessions = make_session_factory(db)
    media = MediaStore(config.store.media_dir)
    with pytest.MonkeyPatch.context() as mp, sessions() as s:
        mp.setattr(users, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=64))
        add_camera(s, "cam-1")
        record(s, media, "cam-1", T0, 3)
        add_alert(s, T0 + dt.timedelta(seconds=5))
        users.create_user(
            s, Actor("setup", "admin"), "ivy", "investigator", PASSWORD, on_server=True
        )
    app = create_app(config, sessions, settings=ApiSettings(), media=media, export_key=KEY)
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", sessions
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        db.dispose()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, recorded_console: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 1440, "height": 900},
            timezone_id="UTC",  # datetime-local inputs are UTC here
            locale="en-GB",
        )
        context.set_default_timeout(15_000)
        try:
            yield watch_problems(context.pages[0] if context.pages else context.new_page())
        finally:
            context.close()


def _wall(page: Any) -> dt.datetime | None:
    value = page.evaluate("() => document.getElementById('player').dataset.wallTime || null")
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def open_timeline(page: Any, url: str) -> None:
    """Signed in as the investigator, the playback page showing cam-1's first minute."""
    page.goto(url + "/playback")
    if "/login" in page.url:
        page.fill("#username", "ivy")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector(".who .role:text-is('investigator')")
        page.goto(url + "/playback")
    page.fill("#pb-case", CASE)
    page.select_option("#pb-camera", "cam-1")
    page.fill("#pb-from", "2026-11-30T14:00:00")
    page.fill("#pb-to", "2026-11-30T14:01:00")
    page.click("#pb-show")
    page.wait_for_selector("#pb-message.ok")


def test_an_investigator_plays_the_recording_from_an_alert_on_the_timeline(
    page: Any, recorded_console: Any, tmp_path: Path
) -> None:
    url, sessions = recorded_console
    open_timeline(page, url)
    marker = page.locator(".tl-alert")
    marker.wait_for()
    assert page.locator(".tl-range").count() == 1  # three touching segments: one range
    marker.click()  # plays from 5 s before the alert: the first segment's start
    deadline = time.monotonic() + 30
    seen: list[dt.datetime] = []
    while time.monotonic() < deadline:
        at = _wall(page)
        if at is not None and (not seen or at != seen[-1]):
            seen.append(at)
        if seen and seen[-1] >= T0 + dt.timedelta(seconds=4.5):
            break  # the player went on into the second segment
        time.sleep(0.1)
    state = page.evaluate(
        "() => { const v = document.getElementById('player'); "
        "return {error: v.error && v.error.code, w: v.videoWidth, src: v.currentSrc}; }"
    )
    assert state["error"] is None and state["w"] > 0, state
    assert seen and seen[0] < T0 + dt.timedelta(seconds=1), seen[:3]
    assert seen[-1] >= T0 + dt.timedelta(seconds=4.5), (seen[-3:], state)
    page.wait_for_selector("#alert-table")
    page.screenshot(path=str(_screenshot_dir(tmp_path) / "playback.png"))
    assert not page.problems
    with sessions() as s:
        rows = s.scalars(select(AuditLogRow).where(AuditLogRow.action.like("recording.%")))
        actions = [(r.action, r.actor, r.reason) for r in rows]
    assert ("recording.timeline", "ivy", CASE) in actions
    assert actions.count(("recording.play", "ivy", CASE)) >= 2  # one per segment played


def test_the_export_button_downloads_a_signed_zip_that_verifies(
    page: Any, recorded_console: Any, tmp_path: Path
) -> None:
    url, sessions = recorded_console
    open_timeline(page, url)
    with page.expect_download() as info:
        page.click("#pb-export")
    download = info.value
    assert download.suggested_filename.startswith(
        "cam-1-"
    ) and download.suggested_filename.endswith(".zip")
    out = tmp_path / download.suggested_filename
    download.save_as(str(out))
    check = verify_export(out, KEY)
    assert check.ok, check.problems
    assert check.manifest["case_ref"] == CASE and check.manifest["exported_by"]["name"] == "ivy"
    page.wait_for_selector("#pb-message.ok")
    assert not page.problems
    with sessions() as s:
        exports = list(
            s.scalars(select(AuditLogRow).where(AuditLogRow.action == "recording.export"))
        )
    assert [(e.actor, e.reason) for e in exports] == [("ivy", CASE)]


def test_the_alert_pages_link_fills_in_the_camera_and_the_minutes_around_it(
    page: Any, recorded_console: Any
) -> None:
    url, _sessions = recorded_console
    open_timeline(page, url)  # signed in
    page.goto(url + "/playback?camera=cam-1&at=2026-11-30T14:00:05Z")
    assert page.input_value("#pb-camera") == "cam-1"
    assert page.input_value("#pb-from") == "2026-11-30T13:58:05"  # the browser runs in UTC
    assert page.input_value("#pb-to") == "2026-11-30T14:02:05"
    assert page.input_value("#pb-case") == CASE  # kept for this tab
    assert not page.problems
