"""MqttSink against the real Mosquitto on 127.0.0.1:1883 (skipped when it is not there)."""

from __future__ import annotations

import json
import queue
import socket
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy
from citywatch.alerts.mqtt import MqttSink, alert_topic, topic_level
from citywatch.alerts.sink import DeliveryError
from tests.alerts.fakes import face_event, plate_event
from tests.conftest import require

HOST, PORT = "127.0.0.1", 1883


def _broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_topic_levels_are_made_safe() -> None:
    assert alert_topic("citywatch/alerts/", "plate", "cam-1") == "citywatch/alerts/plate/cam-1"
    assert topic_level("a/b+c#d") == "a_b_c_d"
    assert topic_level("") == "_"
    with pytest.raises(ValueError, match="wildcards"):
        MqttSink(HOST, _closed_port(), topic="citywatch/#")


def test_unreachable_broker_raises_delivery_error_not_hangs() -> None:
    sink = MqttSink(HOST, _closed_port(), username="u", password="mqtt-pw-991", timeout=0.3)
    try:
        with pytest.raises(DeliveryError, match="not connected") as info:
            sink.publish(face_event(1))
        assert "mqtt-pw-991" not in str(info.value) + repr(sink)
    finally:
        sink.close()


@pytest.mark.integration
def test_alert_arrives_as_json_on_kind_and_camera_topic() -> None:
    require(_broker_up(), f"no MQTT broker at {HOST}:{PORT}")
    base = f"citywatch-test/{uuid.uuid4().hex[:8]}"
    got: queue.Queue[tuple[str, int, bytes]] = queue.Queue()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscribed = queue.Queue[bool]()
    sub.on_message = lambda c, u, msg: got.put((msg.topic, msg.qos, msg.payload))
    sub.on_subscribe = lambda c, u, mid, rc, props: subscribed.put(True)
    sub.on_connect = lambda c, u, f, rc, props: c.subscribe(f"{base}/#", qos=1)
    sub.connect(HOST, PORT)
    sub.loop_start()
    sink = MqttSink(HOST, PORT, topic=base, timeout=5)
    try:
        assert subscribed.get(timeout=5)
        d = Dispatcher([sink], retry=RetryPolicy(attempts=3, base_delay_s=0.1, max_delay_s=0.5))
        d.publish(plate_event(4))
        d.publish(face_event(5, camera_id="cam-entrance"))
        assert d.close(10)
        assert d.stats()[sink.name].delivered == 2
        msgs = {}
        for _ in range(2):
            topic, qos, payload = got.get(timeout=5)
            msgs[topic] = (qos, json.loads(payload))
    finally:
        sub.loop_stop()
        sub.disconnect()
    qos, plate = msgs[f"{base}/plate/cam-street"]
    assert qos == 1
    assert plate["event_id"] == "evt-0004" and plate["plate"] == "CW123X"
    assert plate["read"] == "CW128X" and plate["distance"] == 1
    _, face = msgs[f"{base}/face/cam-entrance"]
    assert face["subject_name"] == "Jane Example" and "embedding" not in face
