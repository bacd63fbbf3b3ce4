from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.dispatcher import SinkStats
from citywatch.api.hub import EventHub
from citywatch.api.metrics import Metric, camera_metrics, render
from citywatch.api.security import Role
from tests.api.routes_support import SECRET, Headers, headers, seeded
from tests.api.test_health import waiting_alert

__all__ = ["headers", "seeded"]

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')


def _health() -> dict[str, Any]:
    return {
        "cam-1": {
            "source": {
                "camera_id": "cam-1",
                "state": "streaming",
                "input_fps": 25.0,
                "analysed_fps": 5.0,
                "reconnects": 2,
                "frames_decoded": 1000,
                "frames_analysed": 200,
                "frames_dropped": 3,
                "last_error": f"rtsp://u:{SECRET}@h/x",
            },
            "worker": {
                "analysed": 200,
                "dropped": 1,
                "errors": 0,
                "lag_s": 0.25,
                "last_latency_ms": 40.0,
                "last_error": "",
            },
            "pending_results": 4,
            "written_at": 1.0,
        },
        'odd"cam\n': {"error": "unreadable health file"},
    }


def test_render_is_prometheus_text() -> None:
    m = Metric("x_total", "counter", "Things\ncounted")
    m.add(3, camera='a"b\\c')
    m.add(None, camera="skipped")
    m.add(0.5)
    text = render([m])
    assert text == (
        "# HELP x_total Things\\ncounted\n"
        "# TYPE x_total counter\n"
        'x_total{camera="a\\"b\\\\c"} 3\n'
        "x_total 0.5\n"
    )


def test_camera_metrics_from_engine_snapshot() -> None:
    text = render(camera_metrics(_health()))
    assert 'citywatch_camera_input_fps{camera="cam-1"} 25' in text
    assert 'citywatch_camera_lag_seconds{camera="cam-1"} 0.25' in text
    assert 'citywatch_camera_reconnects_total{camera="cam-1"} 2' in text
    assert 'citywatch_camera_frames_dropped_total{camera="cam-1"} 3' in text
    assert 'citywatch_camera_latency_seconds{camera="cam-1"} 0.04' in text
    assert 'citywatch_camera_pending_results{camera="cam-1"} 4' in text
    assert 'citywatch_camera_up{camera="cam-1"} 1' in text
    assert 'citywatch_camera_state{camera="odd\\"cam\\n",state="unknown"} 1' in text
    assert SECRET not in text
    for line in text.splitlines():
        assert line.startswith("# ") or LINE.match(line), line


@pytest.mark.parametrize(
    ("decode_now", "line"),
    [
        ("keyframes", 'citywatch_camera_decoder_resting{camera="cam-1",mode="keyframes"} 1'),
        ("reference", 'citywatch_camera_decoder_resting{camera="cam-1",mode="reference"} 1'),
        ("normal", 'citywatch_camera_decoder_resting{camera="cam-1",mode="normal"} 0'),
        ("", None),  # not known yet: no sample rather than a guess
    ],
)
def test_a_resting_decoder_shows_in_the_metrics(decode_now: str, line: str | None) -> None:
    health = _health()
    health["cam-1"]["source"]["decode_now"] = decode_now
    text = render(camera_metrics(health))
    samples = [x for x in text.splitlines() if x.startswith("citywatch_camera_decoder_resting")]
    assert samples == ([line] if line else [])


def test_metrics_route(
    api_app: FastAPI, client: TestClient, headers: Headers, seeded: dict[str, int]
) -> None:
    api_app.state.health = _health
    hub = EventHub()
    api_app.state.hub = hub
    hub.publish_message("alert", {"id": 1})

    class Dispatcher:
        def stats(self) -> dict[str, SinkStats]:
            return {"webhook": SinkStats(delivered=5, failed=1, dropped=0, retries=2, queued=3)}

    api_app.state.dispatcher = Dispatcher()
    r = client.get("/metrics", headers=headers(Role.SCRAPER))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'citywatch_alerts{kind="face",status="pending"} 1' in text
    assert 'citywatch_alerts{kind="plate",status="pending"} 1' in text
    assert "citywatch_alerts_pending_review 2" in text
    assert "citywatch_sse_published_total 1" in text
    assert 'citywatch_alert_sink_queued{sink="webhook"} 3' in text
    assert 'citywatch_alert_sink_retries_total{sink="webhook"} 2' in text
    assert 'citywatch_camera_analysed_fps{camera="cam-1"} 5' in text
    for word in ("Jane", "AB123CD", "missing", SECRET):
        assert word not in text  # no personal data, no secrets
    assert client.get("/metrics", headers=headers(Role.ADMIN)).status_code == 200


def test_metrics_survive_a_broken_health_source(
    api_app: FastAPI, client: TestClient, headers: Headers
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("down")

    api_app.state.health = broken
    r = client.get("/metrics", headers=headers(Role.SCRAPER))
    assert r.status_code == 200 and "citywatch_alerts_pending_review 0" in r.text


def test_metrics_show_the_alert_outbox_per_sink(
    api_app: FastAPI, api_sessions: sessionmaker[Session], client: TestClient, headers: Headers
) -> None:
    key = waiting_alert(api_app, api_sessions, age_s=120)
    text = client.get("/metrics", headers=headers(Role.SCRAPER)).text
    assert f'citywatch_alert_outbox_pending{{sink="{key}"}} 1' in text
    assert f'citywatch_alert_outbox_failed{{sink="{key}"}} 0' in text
    (oldest,) = [ln for ln in text.splitlines() if ln.startswith("citywatch_alert_outbox_old")]
    assert 120 <= float(oldest.split()[-1]) < 200
    assert f'citywatch_alert_outbox_last_error_timestamp_seconds{{sink="{key}"}}' in text
    assert all(LINE.match(ln) for ln in text.splitlines() if ln and not ln.startswith("#"))


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR])
def test_metrics_need_the_permission(client: TestClient, headers: Headers, role: Role) -> None:
    assert client.get("/metrics", headers=headers(role)).status_code == 403
    assert client.get("/metrics").status_code == 401
