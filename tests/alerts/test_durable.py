"""DurableLane against a scripted outbox (no database): the store going away, shutdown in the
middle of a batch, stable sink keys."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import OperationalError

from citywatch.alerts.dispatcher import RetryPolicy
from citywatch.alerts.durable import (
    DurableLane,
    OutboxItem,
    durable_sink_keys,
    mqtt_key,
    short_error,
    webhook_key,
)
from citywatch.alerts.sink import DeliveryError
from citywatch.alerts.webhook import WebhookSink
from citywatch.config.alerts import AlertsConfig
from tests.alerts.fakes import RecordingSink, face_event

FAST = RetryPolicy(attempts=5, base_delay_s=0.01, max_delay_s=0.05)


class ScriptedQueue:
    """Hands out ``items`` once; the first ``outage`` claims fail like a database away."""

    def __init__(self, items: Sequence[OutboxItem], outage: int = 0) -> None:
        self.items = list(items)
        self.outage = outage
        self.claims = 0
        self.delivered_ids: list[int] = []
        self.released: list[int] = []
        self.lock = threading.Lock()
        self.done = threading.Event()

    @property
    def sinks(self) -> Sequence[str]:
        return ["k"]

    def claim(self, sink: str, limit: int) -> list[OutboxItem]:
        with self.lock:
            self.claims += 1
            if self.claims <= self.outage:
                raise OperationalError("SELECT", {}, Exception("connection refused"))
            out, self.items = self.items[:limit], self.items[limit:]
            return out

    def delivered(self, item: OutboxItem) -> None:
        with self.lock:
            self.delivered_ids.append(item.row_id)
            self.done.set()

    def retry_later(self, item: OutboxItem, error: str, delay_s: float) -> None:
        raise AssertionError("no try fails here")

    def give_up(self, item: OutboxItem, error: str) -> None:
        raise AssertionError("no try is refused here")

    def release(self, items: Sequence[OutboxItem]) -> None:
        with self.lock:
            self.released += [i.row_id for i in items]

    def due_again(self, sink: str) -> int:
        return 0

    def pending(self, sink: str) -> int:
        return len(self.items)


def _items(n: int) -> list[OutboxItem]:
    return [OutboxItem(i, face_event(i), 0, "claim-1") for i in range(1, n + 1)]


def test_the_lane_outlives_the_store_going_away(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "citywatch.alerts.durable")
    box = ScriptedQueue(_items(1), outage=3)
    sink = RecordingSink("hook")
    lane = DurableLane(sink, "hook", "k", box, FAST, random.Random(0), poll_s=0.05)
    try:
        assert box.done.wait(10)
    finally:
        lane.begin_close()
        assert lane.join(5)
    assert box.delivered_ids == [1] and [e.id for e in sink.got] == [1]
    assert caplog.text.count("outbox unavailable (OperationalError)") == 1  # once per outage
    assert "the outbox is readable again" in caplog.text


def test_shutdown_in_the_middle_of_a_batch_hands_the_rest_back() -> None:
    box = ScriptedQueue(_items(3))
    sink = RecordingSink("hook", block=True)
    lane = DurableLane(sink, "hook", "k", box, FAST, random.Random(0), start=False)
    runner = threading.Thread(target=lane.step)
    runner.start()
    assert sink.started.wait(5)  # the first alert is being sent
    assert lane.stats().queued == 3
    lane.begin_close()
    sink.release.set()
    runner.join(5)
    assert box.delivered_ids == [1]  # the one in flight is finished and recorded
    assert box.released == [2, 3]  # the others stay pending for the next run
    assert lane.stats().queued == 0 and lane.stats().dropped == 0


def test_sink_keys_are_stable_and_hold_no_host_or_token() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "webhooks": [
                {"url": "https://hooks.example.org/in/${HOOK_TOKEN}"},
                {"url": "https://hooks.example.org/in/${HOOK_TOKEN}"},  # listed twice
            ],
            "mqtt": {"host": "broker.internal", "port": 8883, "topic": "cw/alerts"},
        }
    )
    keys = durable_sink_keys(cfg)
    hook = webhook_key("https://hooks.example.org/in/${HOOK_TOKEN}")
    assert keys == [hook, f"{hook}-2", mqtt_key("broker.internal", 8883, "cw/alerts")]
    assert all("example" not in k and "TOKEN" not in k and "broker" not in k for k in keys)
    assert durable_sink_keys(cfg) == keys  # from the config alone: every process agrees
    assert WebhookSink("https://hooks.example.org/x").key == webhook_key(
        "https://hooks.example.org/x"
    )


def test_stored_errors_drop_the_sink_name_and_redact_urls() -> None:
    assert short_error(DeliveryError("webhook:https://h: HTTP 503"), "webhook:https://h") == (
        "HTTP 503"
    )
    foreign = RuntimeError("failed https://u:pw@h/x?token=t")
    assert short_error(foreign, "webhook:https://h") == "RuntimeError: failed https://h/***"
