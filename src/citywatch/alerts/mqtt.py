"""Publish each alert as JSON to ``<topic>/<kind>/<camera_id>`` at QoS 1 (paho-mqtt 2.x).

The client connects in the background and reconnects by itself (backoff 1 s to 30 s).  A
publish waits up to ``timeout`` seconds for a connection and for the broker's PUBACK, and
raises :class:`DeliveryError` otherwise, so the dispatcher retries.  QoS 1 is at-least-once (and
so is the outbox behind it): a receiver dedupes on the alert's ``id`` (or ``event_id``) in the
payload.  The password appears in no log or error.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.alerts.durable import mqtt_key
from citywatch.alerts.payload import encode_payload
from citywatch.alerts.sink import AlertEventLike, DeliveryError

log = logging.getLogger(__name__)

_TOPIC_UNSAFE = re.compile(r"[+#/\x00]")


def topic_level(value: str) -> str:
    """One safe topic level: wildcards, separators and NUL become ``_``; never empty."""
    return _TOPIC_UNSAFE.sub("_", value) or "_"


def alert_topic(base: str, kind: str, camera_id: str) -> str:
    return f"{base.rstrip('/')}/{topic_level(kind)}/{topic_level(camera_id)}"


class MqttSink:
    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic: str = "citywatch/alerts",
        username: str | None = None,
        password: str | None = None,
        *,
        tls: bool = False,
        timeout: float = 5.0,
        client_id: str | None = None,
        key: str | None = None,
    ) -> None:
        if not topic or "+" in topic or "#" in topic:
            raise ValueError(f"mqtt topic {topic!r} must be non-empty and hold no wildcards")
        self._topic = topic
        self._timeout = timeout
        self.name = f"mqtt:{host}:{port}"
        self.key = key or mqtt_key(host, port, topic)  # the outbox key
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"citywatch-alerts-{uuid.uuid4().hex[:12]}",
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def __repr__(self) -> str:
        return f"MqttSink({self.name!r}, topic={self._topic!r})"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("%s refused the connection: %s", self.name, reason)
            return
        log.info("%s connected", self.name)
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if self._connected.is_set():
            log.warning("%s disconnected (%s); reconnecting", self.name, reason)
        self._connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def publish(self, event: AlertEventLike) -> None:
        if not self._connected.wait(self._timeout):
            raise DeliveryError(f"{self.name}: not connected")
        topic = alert_topic(self._topic, event.kind, event.camera_id)
        info = self._client.publish(topic, encode_payload(event), qos=1)
        try:
            info.wait_for_publish(self._timeout)
            published = info.is_published()
        except (RuntimeError, ValueError) as err:
            raise DeliveryError(f"{self.name}: publish failed ({err})") from None
        if not published:
            raise DeliveryError(f"{self.name}: no PUBACK within {self._timeout:g}s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
