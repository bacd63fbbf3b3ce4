"""Issue 17: an alert raised by the running demo cameras gets its evidence clip, and the
review page plays it in Debian's Chromium (H.264 in MP4 through <video>, range requests):
the playback advances."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from citywatch.store.models import AlertRow
from tests.browser.conftest import LiveConsole
from tests.browser.test_console import sign_in


def _alert_with_clip(console: LiveConsole, timeout_s: float = 120.0) -> int:
    """The first alert whose clip is in place (polled until the deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with console.sessions() as s:
            found = s.scalar(
                select(AlertRow.id).where(AlertRow.clip_path.is_not(None)).order_by(AlertRow.id)
            )
            errors = list(
                s.scalars(select(AlertRow.clip_error).where(AlertRow.clip_error.is_not(None)))
            )
        assert not errors, errors
        if found is not None:
            return int(found)
        time.sleep(0.5)
    raise AssertionError(f"no alert got its clip within {timeout_s:.0f} s")


def test_the_review_page_plays_the_alerts_clip_and_it_advances(
    console: LiveConsole, browser_page: Any
) -> None:
    console.start_cameras()
    alert_id = _alert_with_clip(console)
    console.stop_cameras()
    page = browser_page
    sign_in(page, console, "operator")
    page.goto(f"{console.url}/alerts/{alert_id}")
    video = page.locator("#evidence-clip")
    video.wait_for()
    handle = video.element_handle()
    # play() resolves once playback started; the clip is muted (autoplay rules)
    page.evaluate("v => v.play()", handle)
    first = page.evaluate("v => v.currentTime", handle)
    deadline = time.monotonic() + 15
    now = first
    while time.monotonic() < deadline:
        now = page.evaluate("v => v.currentTime", handle)
        if now >= first + 0.5:
            break
        time.sleep(0.1)
    state = page.evaluate(
        "v => ({error: v.error && v.error.code, w: v.videoWidth, h: v.videoHeight, "
        "duration: v.duration})",
        handle,
    )
    assert state["error"] is None, state
    assert state["w"] > 0 and state["h"] > 0 and state["duration"] > 1.0, state
    assert now >= first + 0.5, (first, now, state)
    assert not page.problems  # type: ignore[attr-defined]
