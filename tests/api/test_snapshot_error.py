"""Issue 13 item 3: an alert stored without its snapshot (media folder full or read-only)
says why in the API, on the console's alert page and in `citywatch alerts show`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from citywatch.api.security import Role
from citywatch.cli.main import app
from tests.api.conftest import Login
from tests.api.routes_support import Headers, headers
from tests.api.test_console_pages import HTML, _alert, _camera

__all__ = ["headers"]

WHY = "snapshot could not be written: No space left on device (ENOSPC)"


def _alert_without_snapshot(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        _camera(s)
        return _alert(s, snapshot_path=None, snapshot_error=WHY)


def test_the_api_says_why_the_snapshot_is_missing(
    client: TestClient, headers: Headers, api_sessions
) -> None:
    alert_id = _alert_without_snapshot(api_sessions)
    got = client.get(f"/api/v1/alerts/{alert_id}", headers=headers(Role.OPERATOR)).json()
    assert got["snapshot_url"] is None and got["snapshot_error"] == WHY


def test_the_console_alert_page_says_why_the_snapshot_is_missing(
    client: TestClient, login: Callable[[TestClient, Role], Login], api_sessions
) -> None:
    alert_id = _alert_without_snapshot(api_sessions)
    login(client, Role.OPERATOR)
    html = client.get(f"/alerts/{alert_id}", headers=HTML).text
    assert f'<div class="image-placeholder" id="snapshot-error">{WHY}</div>' in html
    assert "no evidence picture was kept" not in html


def test_alerts_show_says_why_the_snapshot_is_missing(tmp_path: Path) -> None:
    import yaml

    from citywatch.store.db import make_engine, make_session_factory, upgrade_database
    from tests.conftest import embedded_config

    config = tmp_path / "citywatch.yaml"
    config.write_text(yaml.safe_dump(embedded_config(tmp_path)))
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    upgrade_database(url)
    alert_id = _alert_without_snapshot(make_session_factory(make_engine(url)))
    result = CliRunner().invoke(app, ["-c", str(config), "alerts", "show", str(alert_id)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["snapshot_error"] == WHY and "snapshot_file" not in shown


FULL = "snapshots cannot be written to /srv/media: No space left on device (ENOSPC)"


def test_health_is_degraded_while_evidence_cannot_be_written(
    api_app: FastAPI, client: TestClient, headers: Headers, api_sessions
) -> None:
    _alert_without_snapshot(api_sessions)  # registers cam-1
    records = {
        "cam-1": {
            "source": {"state": "streaming"},
            "worker": {"media_error": FULL, "snapshots_failed": 3, "results_lost": 0},
        },
        "cam-2": {"source": {"state": "streaming"}, "worker": {"media_error": ""}},
    }
    api_app.state.health = lambda: records
    body = client.get("/api/v1/health").json()
    assert body["status"] == "degraded" and body["evidence_unwritable"] == 1
    assert "/srv/media" not in str(body)  # public: a count, not the path
    cam = client.get("/api/v1/cameras/cam-1/health", headers=headers(Role.OPERATOR)).json()
    assert cam["media_error"] == FULL and cam["state"] == "streaming"
    records["cam-1"]["worker"]["media_error"] = ""  # the folder takes files again
    assert client.get("/api/v1/health").json()["status"] == "ok"
