"""A real console to drive with a real browser.

``console`` (module scope) builds the demo scenario on generated footage (three cameras playing
looped clips, a watchlisted face, a hotlisted plate; real models, as ``citywatch demo`` does),
serves the app with Uvicorn on a free loopback port in a thread of this process, and wires the
camera engine to it (event hub, health, latest pictures, face embedder) as ``citywatch serve``
does.  The engine is started by
the test (``console.start_cameras()``) once a browser listens on the live stream, so the first
alert is seen arriving.

``browser_page`` is Debian's Chromium (``/usr/bin/chromium``) under Playwright, with a fresh
profile and no network besides the loopback server.  Screenshots go to a temporary folder, or
to the folder named by ``CITYWATCH_SCREENSHOTS`` (``docs/screenshots`` to refresh the README's).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from tests.conftest import REPO, require

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
ROLES = ("operator", "investigator", "admin", "auditor", "supervisor")
CLIP_SECONDS = 4.0  # long enough for the demo face and plate to pass; looped


@dataclass
class LiveConsole:
    url: str
    app: FastAPI
    engine: Any  # citywatch.engine.local.LocalEngine
    plate: str  # the hotlisted plate, normalised (as reads and alerts show it)
    subject: str
    subject_photo: Path  # a photo with exactly one face (the demo subject)
    screenshots: Path
    sessions: Any = None  # the database's session factory (to set up what a test needs)
    started: bool = field(default=False)

    def start_cameras(self) -> None:
        if not self.started:
            self.started = True
            self.engine.start()

    def stop_cameras(self) -> None:
        """Stop the analysis (the live pictures go on): frees the CPU for the other tests."""
        if self.started:
            self.engine.stop(timeout=5)

    def wait_for_evidence(self, timeout_s: float = 150.0) -> dict[str, int]:
        """Until the store holds what the later tests need: a face alert, a plate alert and a
        read of the hotlisted plate (polled; the looped clips come round again when a pass was
        missed).  The cameras play like live ones and drop frames while the host is busy, so
        on a loaded machine the plate can take several loops; stopping the cameras before it
        was stored left the investigator's plate search empty."""
        from sqlalchemy import select

        from citywatch.store.models import AlertRow, PlateReadRow

        deadline = time.monotonic() + timeout_s
        found: dict[str, int] = {}
        while time.monotonic() < deadline:
            with self.sessions() as s:
                for kind in ("face", "plate"):
                    if kind not in found:
                        row = s.scalar(
                            select(AlertRow.id).where(AlertRow.kind == kind).order_by(AlertRow.id)
                        )
                        if row is not None:
                            found[kind] = int(row)
                if "read" not in found:
                    read = s.scalar(select(PlateReadRow.id).where(PlateReadRow.plate == self.plate))
                    if read is not None:
                        found["read"] = int(read)
            if len(found) == 3:
                return found
            time.sleep(0.5)
        missing = {"face", "plate", "read"} - set(found)
        raise AssertionError(
            f"after {timeout_s:.0f} s of the demo cameras the store still lacks: "
            f"{', '.join(sorted(missing))} (health: {self.engine.snapshot()})"
        )


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _screenshot_dir(tmp: Path) -> Path:
    wanted = os.environ.get("CITYWATCH_SCREENSHOTS", "").strip()
    folder = (REPO / wanted) if wanted and not Path(wanted).is_absolute() else Path(wanted or tmp)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    require(CHROMIUM.is_file(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    require(importlib.util.find_spec("playwright") is not None, "playwright is not installed")

    from citywatch.api.app import create_app
    from citywatch.api.hub import EventHub
    from citywatch.api.settings import ApiSettings
    from citywatch.audit.chain import Actor
    from citywatch.demo.footage import make_demo_videos
    from citywatch.demo.scenario import demo_config, enrol_demo_lists
    from citywatch.engine.platform import Platform, make_embed_faces
    from citywatch.services import users
    from citywatch.services.hotlists import normalise_plate
    from citywatch.store.db import make_engine, make_session_factory, upgrade_database

    tmp = tmp_path_factory.mktemp("console")
    footage = make_demo_videos(tmp / "footage", seconds=CLIP_SECONDS)
    config = demo_config(tmp, footage, loop=True)
    upgrade_database(config.store.database_url)
    db = make_engine(config.store.database_url)
    sessions = make_session_factory(db)
    hub = EventHub()
    actor = Actor("console-test", "admin")
    config.alerts.console = False  # alerts go to the hub only, not to the test's stderr
    platform = Platform.create(config, sessions, actor, extra_sinks=[hub])
    platform.register_cameras()
    enrol_demo_lists(sessions, platform.media, platform.models, config, footage, actor)
    engine = platform.build_engine()

    with pytest.MonkeyPatch.context() as mp:  # cheap Argon2: the browser test is not about it
        mp.setattr(users, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=64))
        with sessions() as s:
            for role in ROLES:
                users.create_user(s, actor, role, role, PASSWORD, on_server=True)

    app = create_app(  # wired as `citywatch serve` wires it
        config,
        sessions,
        hub=hub,
        health=engine.snapshot,
        settings=ApiSettings(),
        media=platform.media,
        dispatcher=platform.dispatcher,
        snapshots=engine.latest_jpeg,
        embed_faces=make_embed_faces(platform.models, config),
    )
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 20 s")
        time.sleep(0.05)
    live = LiveConsole(
        url=f"http://127.0.0.1:{port}",
        app=app,
        engine=engine,
        plate=normalise_plate(footage.plate_text),
        subject=footage.subject_name,
        subject_photo=footage.subject_photo,
        screenshots=_screenshot_dir(tmp / "screenshots"),
        sessions=sessions,
    )
    try:
        yield live
    finally:
        live.stop_cameras()
        platform.dispatcher.close(timeout=2)
        hub.close()
        server.should_exit = True
        thread.join(10)
        sock.close()
        db.dispose()


def watch_problems(page: Any) -> Any:
    """Collect the page's script errors and CSP refusals in ``page.problems``."""
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    page.problems = problems
    return page


@pytest.fixture(scope="module")
def browser_page(console: LiveConsole, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
            viewport={"width": 1440, "height": 900},
            timezone_id="UTC",
            locale="en-GB",
        )
        context.set_default_timeout(15_000)
        page = watch_problems(context.pages[0] if context.pages else context.new_page())
        try:
            yield page
        finally:
            context.close()
