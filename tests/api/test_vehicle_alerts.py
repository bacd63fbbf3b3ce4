"""Plate alerts carry the vehicle seen and the hotlist's (issue 20): through the real app
(hotlist entry added by the API, the alert read back by the API and the review page) and the
dispatcher (console, webhook, the live stream; MQTT when a broker is up)."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import uuid
from io import StringIO
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from fastapi import FastAPI
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.console import ConsoleSink
from citywatch.alerts.dispatcher import Dispatcher
from citywatch.alerts.mqtt import MqttSink
from citywatch.alerts.sink import AlertSink
from citywatch.alerts.webhook import WebhookSink
from citywatch.api.hub import EventHub, HubMessage
from citywatch.api.routes.events import format_message
from citywatch.api.security import Role
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.services.events import EventRecorder
from citywatch.store.models import HotlistRow
from citywatch.store.types import utcnow
from tests.api.routes_support import Headers, headers
from tests.services.helpers import add_camera, plate_read

__all__ = ["headers"]

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
NOTE = "hotlist says white car; seen: red car (colour differs: check the car)"


def _broker_up() -> bool:
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            return True
    except OSError:
        return False


class _Borrowed:
    def __init__(self, hub: EventHub) -> None:
        self.name, self.publish = "hub", hub.publish

    def close(self) -> None:
        pass


def _add_entry(client: TestClient, headers: Headers, **vehicle: str) -> dict[str, Any]:
    r = client.post(
        "/api/v1/hotlists/stolen/plates",
        json={"plate": "AB-123-CD", "reason": "reported stolen", **vehicle},
        headers=headers(Role.ADMIN),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _recorder(sessions: sessionmaker[Session], api_app: FastAPI, publish: Any) -> EventRecorder:
    with sessions() as s:
        hotlist_id = s.execute(select(HotlistRow.id)).scalar_one()  # the one the test made

    def match(read: PlateRead) -> HotlistHit | None:
        if read.text != "AB123CD":
            return None
        return HotlistHit(read=read, hotlist_id=hotlist_id, entry="AB123CD", distance=0)

    return EventRecorder(sessions, api_app.state.media, match, publish)


def _read(**kw: Any) -> PlateRead:
    now = utcnow().timestamp()
    return plate_read(camera_id="cam-1", frame_wall_time=now, decided_wall_time=now, **kw)


def test_hotlist_entry_takes_a_vehicle_and_refuses_an_unknown_one(
    client: TestClient, headers: Headers
) -> None:
    entry = _add_entry(client, headers, vehicle_kind="Car", vehicle_colour="White")
    assert (entry["vehicle_kind"], entry["vehicle_colour"]) == ("car", "white")
    r = client.post(
        "/api/v1/hotlists/stolen/plates",
        json={"plate": "ZG-1-X", "reason": "r", "vehicle_kind": "tank"},
        headers=headers(Role.ADMIN),
    )
    assert r.status_code == 400, r.text
    assert "vehicle type 'tank'" in r.text and "ZG1X" in r.text
    r = client.get("/api/v1/hotlists/stolen/plates", headers=headers(Role.ADMIN))
    assert [(e["plate"], e["vehicle_colour"]) for e in r.json()["items"]] == [("AB123CD", "white")]


def test_a_plate_alert_says_the_vehicle_differs_on_every_channel(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    api_sessions: sessionmaker[Session],
) -> None:
    with api_sessions() as s:
        add_camera(s, "cam-1")
    _add_entry(client, headers, vehicle_kind="car", vehicle_colour="white")
    hooks: list[bytes] = []

    def receive(request: httpx.Request) -> httpx.Response:
        hooks.append(request.content)
        return httpx.Response(204)

    hub: EventHub = api_app.state.hub
    loop = asyncio.new_event_loop()

    async def subscribe():  # type: ignore[no-untyped-def]
        return hub.subscribe()

    stream = loop.run_until_complete(subscribe())
    printed = StringIO()
    sinks: list[AlertSink] = [
        ConsoleSink(Console(file=printed, width=300)),
        WebhookSink(
            "https://receiver.example/hook",
            "s3cret",
            client=httpx.Client(transport=httpx.MockTransport(receive)),
        ),
        _Borrowed(hub),
    ]
    got: queue.Queue[bytes] = queue.Queue()
    sub = None
    if _broker_up():
        topic = f"citywatch-test/{uuid.uuid4().hex[:8]}"
        ready: queue.Queue[bool] = queue.Queue()
        sub = mqtt.Client(CallbackAPIVersion.VERSION2)
        sub.on_message = lambda c, u, msg: got.put(msg.payload)
        sub.on_subscribe = lambda c, u, mid, rc, props: ready.put(True)
        sub.on_connect = lambda c, u, f, rc, props: c.subscribe(f"{topic}/#", qos=1)
        sub.connect(MQTT_HOST, MQTT_PORT)
        sub.loop_start()
        assert ready.get(timeout=5)
        sinks.append(MqttSink(MQTT_HOST, MQTT_PORT, topic=topic, timeout=5))
    dispatcher = Dispatcher(sinks)
    try:
        recorder = _recorder(api_sessions, api_app, dispatcher.publish)
        _, alert_id = recorder.record_plate_read(_read(vehicle_kind="car", vehicle_colour="red"))
        assert alert_id is not None
        live = loop.run_until_complete(stream.get(timeout=10))
        mqtt_payload = got.get(timeout=10) if sub is not None else None
    finally:
        dispatcher.close()
        if sub is not None:
            sub.loop_stop()
            sub.disconnect()
        stream.close()
        loop.close()

    assert isinstance(live, HubMessage) and live.event == "alert"
    payloads = {"webhook": hooks[0], "live stream": format_message(live).split("data: ", 1)[1]}
    if mqtt_payload is not None:
        payloads["MQTT"] = mqtt_payload
    for where, raw in payloads.items():
        body = json.loads(raw)
        assert body["vehicle"] == "red car", where
        assert body["hotlist_vehicle"] == "white car", where
        assert body["vehicle_mismatch"] is True, where
        assert body["vehicle_note"] == NOTE, where
    assert NOTE in printed.getvalue()

    r = client.get(f"/api/v1/alerts/{alert_id}", headers=headers(Role.OPERATOR))
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["vehicle_kind"], a["vehicle_colour"], a["hotlist_vehicle"]) == (
        "car",
        "red",
        "white car",
    )
    assert a["vehicle_mismatch"] is True and a["vehicle_note"] == NOTE


def test_a_consistent_or_undescribed_vehicle_is_no_mismatch(
    api_app: FastAPI, client: TestClient, headers: Headers, api_sessions: sessionmaker[Session]
) -> None:
    with api_sessions() as s:
        add_camera(s, "cam-1")
    _add_entry(client, headers, vehicle_kind="van")
    sent: list[dict[str, Any]] = []
    recorder = _recorder(api_sessions, api_app, lambda e: sent.append(e.to_json()))
    recorder.record_plate_read(_read(vehicle_kind="truck", vehicle_colour="white"))
    recorder.record_plate_read(_read(track_id=9, first_seen_s=50.0, text="ZZ999ZZ"))
    assert len(sent) == 1
    assert sent[0]["vehicle_note"] == "hotlist says truck; seen: white truck"
    assert sent[0]["vehicle_mismatch"] is False


def test_the_review_page_shows_the_vehicle_check(
    api_app: FastAPI,
    client: TestClient,
    headers: Headers,
    api_sessions: sessionmaker[Session],
    login: Any,
) -> None:
    with api_sessions() as s:
        add_camera(s, "cam-1")
    _add_entry(client, headers, vehicle_kind="car", vehicle_colour="white")
    recorder = _recorder(api_sessions, api_app, lambda e: None)
    _, alert_id = recorder.record_plate_read(_read(vehicle_kind="bus", vehicle_colour="white"))
    login(client, Role.OPERATOR)
    r = client.get(f"/alerts/{alert_id}")
    assert r.status_code == 200, r.text
    assert 'id="vehicle-note"' in r.text and "mismatch" in r.text
    assert "hotlist says white car; seen: white bus (type differs: check the car)" in r.text


def test_the_lists_page_asks_for_the_vehicle_of_a_plate(client: TestClient, login: Any) -> None:
    login(client, Role.ADMIN)
    page = client.get("/lists")
    assert page.status_code == 200
    assert 'id="plate-vehicle-kind"' in page.text and 'id="plate-vehicle-colour"' in page.text
    assert '<option value="truck">truck (van, lorry)</option>' in page.text
    assert "plate[,reason[,vehicle type[,colour]]]" in page.text
