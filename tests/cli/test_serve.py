"""`citywatch serve`, `users ...` and `tokens ...` through the real `citywatch` app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citywatch.cli import serve
from citywatch.cli.context import CliContext
from citywatch.cli.main import app
from citywatch.store.db import make_engine, make_session_factory

PW = "a long enough password"
ANY = "0.0.0.0"  # noqa: S104  (what the warning is about)


@pytest.fixture
def cli(cli_config: Path):
    runner = CliRunner(env={"COLUMNS": "250", "CITYWATCH_ACTOR": "tester"})

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, ["-c", str(cli_config), *args], input=input)

    return invoke


@pytest.mark.parametrize(
    ("host", "tls", "proxy", "warns"),
    [
        ("127.0.0.1", False, None, False),
        ("::1", False, None, False),
        ("localhost", False, None, False),
        (ANY, False, None, True),
        ("192.168.1.5", False, None, True),
        ("citywatch.example", False, None, True),
        (ANY, True, None, False),
        (ANY, False, "10.0.0.1", False),
    ],
)
def test_bind_warning(host: str, tls: bool, proxy: str | None, warns: bool) -> None:
    assert (serve.bind_warning(host, tls=tls, trusted_proxy=proxy) is not None) is warns


def test_serve_refuses_half_tls_settings(cli, tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    r = cli("serve", "--tls-cert", str(cert))
    assert r.exit_code == 2 and "go together" in r.output
    r = cli("serve", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem"))
    assert r.exit_code == 2 and "not found" in r.output


def test_users_create_list_disable(cli, cli_config: Path) -> None:
    r = cli("users", "create", "olga", "--role", "operator", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 0, r.output
    assert PW not in r.output
    r = cli("users", "create", "weak", "--role", "operator", "--password-stdin", input="short\n")
    assert r.exit_code == 2 and "at least 12" in r.output
    r = cli("users", "create", "x", "--role", "scraper", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 2 and "role" in r.output
    r = cli("users", "list")
    assert r.exit_code == 0 and "olga" in r.output and "operator" in r.output
    r = cli("users", "disable", "olga", "--reason", "left")
    assert r.exit_code == 0, r.output
    assert cli("users", "disable", "nobody").exit_code == 2

    from citywatch.audit import chain
    from citywatch.config.root import load_config

    cfg = load_config(cli_config)
    engine = make_engine(cfg.store.database_url)
    try:
        with make_session_factory(engine)() as s:
            entries = list(chain.entries(s))
    finally:
        engine.dispose()
    assert [e.action for e in entries] == ["user.create", "user.list", "user.disable"]
    assert {e.actor for e in entries} == {"tester"}
    assert all(PW not in str(e.details) for e in entries)


def test_tokens_create_list_revoke(cli) -> None:
    r = cli("tokens", "create", "prom", "--role", "scraper", "--expires-days", "90")
    assert r.exit_code == 0, r.output
    secret = [line for line in r.output.splitlines() if line.startswith("cwt_")]
    assert len(secret) == 1
    r = cli("tokens", "list")
    assert r.exit_code == 0 and "prom" in r.output and secret[0] not in r.output
    r = cli("tokens", "create", "forever", "--role", "admin", "--expires-days", "400")
    assert r.exit_code == 2 and "1..365" in r.output
    r = cli("tokens", "revoke", "1", "--reason", "rotated")
    assert r.exit_code == 0 and "revoked" in r.output
    assert cli("tokens", "revoke", "1").exit_code == 2
    assert "prom" not in cli("tokens", "list", "--active").output


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVE = "from citywatch.cli.main import app; app()"  # the `citywatch` script


def test_serve_answers_http_and_stops_on_sigterm(cli, cli_config: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    import httpx

    assert (
        cli("users", "create", "ann", "--role", "admin", "--password-stdin", input=PW).exit_code
        == 0
    )
    port = _free_port()
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, "serve", "-c", str(cli_config), "--port", str(port)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/api/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert r.status_code == 200
        assert "server" not in r.headers  # no version banner
        r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "ann", "password": PW})
        assert r.status_code == 200 and "cw_session" in r.headers["set-cookie"]
        assert httpx.get(f"{base}/api/v1/users", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/" in out
    assert "warning" not in out.lower()
    assert PW not in out


def test_a_console_without_cameras_gets_the_alerts_other_processes_store(
    cli_config: Path, tmp_path: Path
) -> None:
    """`serve --no-cameras` beside `run` (or `run --engine ray`): alerts stored by the camera
    process reach the live hub through the database, each once, and only new ones."""
    import threading
    import time

    from citywatch.alerts.events import AlertEvent
    from citywatch.decisions.types import HotlistHit, PlateRead
    from citywatch.services.events import EventRecorder
    from citywatch.store.media import MediaStore
    from tests.services.helpers import add_camera, plate_read

    class Hub:
        def __init__(self) -> None:
            self.events: list[AlertEvent] = []
            self.lock = threading.Lock()

        def publish(self, event: AlertEvent) -> None:
            with self.lock:
                self.events.append(event)

    c = CliContext(config_path=cli_config)
    sessions = c.sessions(upgrade=True)
    with sessions() as s:
        add_camera(s, "cam-1")

    def hit(read: PlateRead) -> HotlistHit | None:
        return HotlistHit(read=read, hotlist_id=0, entry=read.text, distance=0)

    camera_process = EventRecorder(sessions, MediaStore(tmp_path / "media"), hit, lambda e: None)
    camera_process.record_plate_read(plate_read(text="OLD111", first_seen_s=1.0))
    hub = Hub()
    running = serve._start_platform(c, hub, cameras=False)  # a stand-in for EventHub
    try:
        assert running.engine is None and running.listener is not None
        camera_process.record_plate_read(plate_read(text="NEW222", first_seen_s=50.0))
        deadline = time.monotonic() + 20
        while not hub.events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        running.stop()
    assert [e.plate for e in hub.events] == ["NEW222"]
