"""Control 4, human in the loop: a face alert is a *possible match* until a person confirms it,
on every channel it leaves by (webhook, MQTT, the console's live stream, the console's pages,
the API, the CLI); nothing ever says "identified".  Only the roles meant to may search
history or review.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import socket
import uuid
from io import StringIO
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.console import ConsoleSink
from citywatch.alerts.dispatcher import Dispatcher
from citywatch.alerts.events import LABELS
from citywatch.alerts.mqtt import MqttSink
from citywatch.alerts.webhook import WebhookSink
from citywatch.api.hub import EventHub, HubMessage
from citywatch.api.routes.events import format_message
from citywatch.api.security import Role
from citywatch.engine.scan import ScanAlert
from citywatch.services.events import EventRecorder
from citywatch.store.media import MediaStore
from tests.accountability.scenario import (
    alerts,
    audit_actions,
    authorise,
    face_match,
    register,
    watchlist,
)
from tests.conftest import require

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
#: Words that claim an identification (a person decided nothing yet).
CLAIMS = ("identified", "identification", "identity confirmed", "is the suspect")


def _says_no_identification(where: str, text: str) -> None:
    low = " ".join(text.lower().split()).replace("not an identification", "")  # the disclaimer
    for word in CLAIMS:
        assert word not in low, f"{where} says {word!r}: {text[:300]}"


def test_no_label_claims_an_identification():
    for (kind, status), label in LABELS.items():
        _says_no_identification(f"label of a {status} {kind} alert", label)
    assert LABELS[("face", "pending")] == "possible match"
    scan = ScanAlert("face", "clip.mp4", 1, 0.95, 0.0, 1.0, subject="Ann").to_json()
    assert scan["status"] == "possible match (pending review)"


def _broker_up() -> bool:
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            return True
    except OSError:
        return False


def _seed_face_alert(sessions: sessionmaker[Session], media: MediaStore, publish) -> int:
    now = dt.datetime.now(dt.UTC)
    with sessions() as s:
        register(s, "cam-1")
        authorise(s, "A-1", now, cameras=("cam-1",))
        ann = watchlist(s, media, "wl", "A-1", "Ann Example")["Ann Example"]
    recorder = EventRecorder(sessions, media, lambda r: None, publish)
    alert_id = recorder.record_face_match(face_match("cam-1", ann, name="Ann Example"))
    assert alert_id is not None
    return alert_id


class _Borrowed:
    def __init__(self, hub: EventHub) -> None:
        self.name, self.publish = "hub", hub.publish

    def close(self) -> None:
        pass


@pytest.mark.integration
def test_a_face_alert_leaves_as_a_possible_match_by_every_channel(
    api_app: FastAPI, client: TestClient, bearer, api_sessions
):
    require(_broker_up(), f"no MQTT broker at {MQTT_HOST}:{MQTT_PORT}")
    hooks: list[bytes] = []

    def receive(request: httpx.Request) -> httpx.Response:
        hooks.append(request.content)
        return httpx.Response(204)

    topic = f"citywatch-test/{uuid.uuid4().hex[:8]}"
    got: queue.Queue[bytes] = queue.Queue()
    ready: queue.Queue[bool] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, msg: got.put(msg.payload)
    sub.on_subscribe = lambda c, u, mid, rc, props: ready.put(True)
    sub.on_connect = lambda c, u, f, rc, props: c.subscribe(f"{topic}/#", qos=1)
    sub.connect(MQTT_HOST, MQTT_PORT)
    sub.loop_start()
    assert ready.get(timeout=5)

    hub: EventHub = api_app.state.hub
    loop = asyncio.new_event_loop()

    async def subscribe():  # type: ignore[no-untyped-def]
        return hub.subscribe()

    stream = loop.run_until_complete(subscribe())
    printed = StringIO()
    dispatcher = Dispatcher(
        [
            ConsoleSink(Console(file=printed, width=200)),
            WebhookSink(
                "https://receiver.example/hook",
                "s3cret",
                client=httpx.Client(transport=httpx.MockTransport(receive)),
            ),
            MqttSink(MQTT_HOST, MQTT_PORT, topic=topic, timeout=5),
            _Borrowed(hub),  # the app owns the hub: the dispatcher must not close it
        ]
    )
    try:
        alert_id = _seed_face_alert(api_sessions, api_app.state.media, dispatcher.publish)
        mqtt_payload = got.get(timeout=10)
        live = loop.run_until_complete(stream.get(timeout=10))
    finally:
        dispatcher.close()
        sub.loop_stop()
        sub.disconnect()
    assert isinstance(live, HubMessage) and live.event == "alert"

    channels = {
        "webhook": hooks[0].decode("utf-8"),
        "MQTT": mqtt_payload.decode("utf-8"),
        "live stream": format_message(live),
        "console": printed.getvalue(),
    }
    for where, sent in channels.items():
        _says_no_identification(where, sent)
        assert "possible match" in sent.lower(), f"{where} does not say 'possible match'"
    for where in ("webhook", "MQTT"):
        body = json.loads(channels[where])
        assert (body["status"], body["label"], body["id"]) == (
            "pending",
            "possible match",
            alert_id,
        )

    # the stored alert, through the API, the console page and the review
    operator = bearer(Role.OPERATOR)
    r = client.get(f"/api/v1/alerts/{alert_id}", headers=operator)
    assert r.status_code == 200 and r.json()["label"] == "possible match"
    _says_no_identification("the API", r.text)
    r = client.post(
        f"/api/v1/alerts/{alert_id}/review",
        json={"decision": "confirm", "reason": "same person, checked in person"},
        headers=operator,
    )
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    reviewed = loop.run_until_complete(stream.get(timeout=10))
    assert reviewed is not None and reviewed.event == "alert.reviewed"
    assert reviewed.data["label"] == "match confirmed by a reviewer"
    _says_no_identification("the review on the live stream", format_message(reviewed))
    stream.close()
    loop.close()


def test_console_pages_and_the_cli_call_a_face_alert_a_possible_match(
    client: TestClient, login, api_app: FastAPI, api_sessions, run_cli, cli_config: Path
):
    alert_id = _seed_face_alert(api_sessions, api_app.state.media, lambda e: None)
    login(client, Role.OPERATOR)
    page = client.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    assert "possible match" in page.text.lower()
    _says_no_identification("the console's alert page", page.text)

    # the CLI on the same database
    data = yaml.safe_load(cli_config.read_text())
    data["store"]["database_url"] = str(api_app.state.config.store.database_url)
    data["store"]["media_dir"] = str(api_app.state.media.root)
    cli_config.write_text(yaml.safe_dump(data))
    for args in (("alerts", "list", "--json"), ("alerts", "show", str(alert_id))):
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        assert "possible match" in result.output
        _says_no_identification(f"`citywatch {' '.join(args)}`", result.output)


# ------------------------------------------------------------------ who may search, review

SEARCH_PLATES = ("POST", "/api/v1/search/plates", {"pattern": "AB*", "case_ref": "C-1"})
SEARCH_ALERTS = ("POST", "/api/v1/search/alerts", {"subject": "Ann Example", "case_ref": "C-1"})
REVIEW = ("POST", "/api/v1/alerts/{id}/review", {"decision": "confirm", "reason": "r"})
SNAPSHOT = ("GET", "/api/v1/alerts/{id}/snapshot.jpg", None)
READ = ("GET", "/api/v1/alerts/{id}", None)


@pytest.mark.parametrize(
    ("role", "call", "allowed"),
    [
        (Role.OPERATOR, SEARCH_PLATES, False),  # the control room sees live alerts only
        (Role.OPERATOR, SEARCH_ALERTS, False),
        (Role.OPERATOR, REVIEW, True),
        (Role.ADMIN, SEARCH_PLATES, False),  # separation of duties
        (Role.ADMIN, SEARCH_ALERTS, False),
        (Role.ADMIN, REVIEW, False),
        (Role.ADMIN, SNAPSHOT, False),
        (Role.AUDITOR, READ, False),  # the auditor sees no faces
        (Role.AUDITOR, SNAPSHOT, False),
        (Role.AUDITOR, SEARCH_PLATES, False),
        (Role.INVESTIGATOR, REVIEW, False),
        (Role.INVESTIGATOR, SEARCH_ALERTS, True),
        (Role.SCRAPER, READ, False),
    ],
)
def test_only_the_roles_meant_to_may_search_or_review(
    client: TestClient, bearer, api_app: FastAPI, api_sessions, role, call, allowed
):
    alert_id = _seed_face_alert(api_sessions, api_app.state.media, lambda e: None)
    method, path, body = call
    credentials = bearer(role)
    with api_sessions() as s:
        before = audit_actions(s)
    r = client.request(method, path.format(id=alert_id), json=body, headers=credentials)
    if allowed:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 403, r.text
    with api_sessions() as s:
        after = audit_actions(s)
        # a refused request read nothing: no search, view or review was recorded
        assert [a for a in after[len(before) :] if not a.startswith("auth.")] == []
        assert [row.status for row in alerts(s)] == ["pending"]  # nobody reviewed it
