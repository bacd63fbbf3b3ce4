"""Alert delivery that survives outages: webhooks (a real HTTP server on 127.0.0.1 that is
down, then up) and MQTT (the real Mosquitto on 127.0.0.1:1883) delivering from the store's
outbox, on SQLite and the local PostgreSQL.  Rounds are driven by hand with an injected clock;
the threaded tests wait for the receiver, never for a fixed time."""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy
from citywatch.alerts.durable import DurableLane, mqtt_key
from citywatch.alerts.mqtt import MqttSink
from citywatch.alerts.webhook import ALERT_ID_HEADER, WebhookSink
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.engine.fanout import AlertListener, PgNotifier
from citywatch.services.events import EventRecorder
from citywatch.services.outbox import AlertOutbox, outbox_backlog
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertOutboxRow
from tests.conftest import require
from tests.services.helpers import NOW, add_camera, plate_read
from tests.services.test_outbox import Clock, store_alert

TOKEN = "tok-19fa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A webhook endpoint on a fixed port that can be down (nothing listening) or up."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/citywatch?token={TOKEN}"
        self.got: list[dict[str, object]] = []
        self.statuses: list[int] = []  # scripted replies, then 200
        self.cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if status == 200:
                        doc = json.loads(body)
                        assert str(doc["id"]) == self.headers[ALERT_ID_HEADER]
                        receiver.got.append(doc)
                        receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, n: int, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.got) >= n, timeout)

    def ids(self) -> list[int]:
        with self.cond:
            return [int(str(d["id"])) for d in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def sessions(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with session_factory() as s:
        add_camera(s, "cam-1")
    return session_factory


def outbox_rows(sessions: sessionmaker[Session]) -> dict[int, AlertOutboxRow]:
    with sessions() as s:
        return {r.alert_id: r for r in s.scalars(select(AlertOutboxRow))}


def test_a_webhook_down_then_up_gets_every_alert_once_after_it_returns(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock()
    sink = WebhookSink(receiver.url, timeout=2)
    box = AlertOutbox(sessions, [sink.key], clock=clock).install()
    retry = RetryPolicy(attempts=5, base_delay_s=30.0, max_delay_s=600.0)
    lane = DurableLane(sink, sink.name, sink.key, box, retry, random.Random(7), start=False)
    try:
        ids = [store_alert(sessions, n) for n in range(3)]
        # down: each round tries one alert and stops (no storm of tries against a dead sink)
        first = lane.step()
        assert (first.claimed, first.delivered, first.failed) == (3, 0, True)
        second = lane.step()  # the alert that failed waits on its backoff; the next one tries
        assert (second.claimed, second.delivered, second.failed) == (2, 0, True)
        rows = outbox_rows(sessions)
        assert [rows[i].attempts for i in ids] == [1, 1, 0]
        assert rows[ids[0]].last_error == "ConnectError"  # no URL, no token
        assert all(r.claimed_by is None for r in rows.values())
        with sessions() as s:
            (backlog,) = outbox_backlog(s, clock(), [sink.key])
        assert (backlog.pending, backlog.last_error) == (3, "ConnectError")
        assert lane.stats().retries == 2 and lane.stats().dropped == 0
        # the webhook comes back 5 s later; a fourth alert is stored
        clock.advance(5)
        receiver.start()
        ids.append(store_alert(sessions, 3))
        back = lane.step()  # the untried alerts go at once; the sink answers ...
        assert (back.delivered, back.failed, back.again) == (2, False, True)
        # ... so the two waiting on their backoff (15-30 s) are due now, not at their time
        rest = lane.step()
        assert rest.delivered == 2
        assert lane.step().claimed == 0  # nothing is sent twice
        assert sorted(receiver.ids()) == sorted(ids) and len(receiver.got) == 4
        assert clock() == NOW + dt.timedelta(seconds=5)  # all within the clock's same instant
        rows = outbox_rows(sessions)
        assert {r.state for r in rows.values()} == {"delivered"}
        assert [rows[i].attempts for i in ids] == [2, 2, 1, 1]
        assert all(d["event_id"] for d in receiver.got)
    finally:
        box.uninstall()
        sink.close()


def test_a_refused_alert_is_not_retried_and_the_next_goes_on(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    clock = Clock()
    sink = WebhookSink(receiver.url, timeout=2)
    box = AlertOutbox(sessions, [sink.key], clock=clock).install()
    lane = DurableLane(sink, sink.name, sink.key, box, RetryPolicy(), random.Random(1), start=False)
    receiver.statuses = [404]
    receiver.start()
    try:
        ids = [store_alert(sessions, n) for n in range(2)]
        assert lane.step().delivered == 1
        rows = outbox_rows(sessions)
        assert (rows[ids[0]].state, rows[ids[0]].last_error) == ("failed", "HTTP 404 (not retried)")
        assert rows[ids[1]].state == "delivered"
        clock.advance(3600)
        assert lane.step().claimed == 0
        with sessions() as s:
            (backlog,) = outbox_backlog(s, clock(), [sink.key])
        assert (backlog.pending, backlog.failed) == (0, 1)
    finally:
        box.uninstall()
        sink.close()


def _wait_until(what: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_shutdown_keeps_undelivered_alerts_and_the_next_run_delivers_them(
    db_url: str,
    sessions: sessionmaker[Session],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fast = RetryPolicy(attempts=5, base_delay_s=0.05, max_delay_s=0.2)
    sink = WebhookSink(receiver.url, timeout=2)
    box = AlertOutbox(sessions, [sink.key]).install()
    first = Dispatcher([sink], outbox=box, retry=fast, poll_s=0.05)
    try:
        ids = [store_alert(sessions, n) for n in range(3)]

        def tried() -> bool:
            with sessions() as s:
                (b,) = outbox_backlog(s, dt.datetime.now(dt.UTC), [sink.key])
            return b.last_error is not None

        _wait_until(tried)  # the webhook is down: the first run could not deliver
        caplog.set_level(logging.WARNING, "citywatch.alerts.dispatcher")
        assert first.close(2.0)
        stats = first.stats()[sink.name]
        assert stats.delivered == 0 and stats.dropped == 0 and stats.retries >= 1
        assert "3 alert(s) wait in the outbox; the next run delivers them" in caplog.text
        assert "dropped" not in caplog.text
        assert {r.state for r in outbox_rows(sessions).values()} == {"pending"}
    finally:
        box.uninstall()
    # the next run: another process (its own engine), the webhook is back
    receiver.start()
    engine = make_engine(db_url)
    again_box = AlertOutbox(make_session_factory(engine), [sink.key])
    started = time.monotonic()
    second = Dispatcher([WebhookSink(receiver.url, timeout=2)], outbox=again_box, retry=fast)
    try:
        assert receiver.wait_for(3)
        took = time.monotonic() - started
        assert took < 5.0, took
    finally:
        second.close(2.0)
        engine.dispose()
    assert sorted(receiver.ids()) == ids
    assert {r.state for r in outbox_rows(sessions).values()} == {"delivered"}


def _hit(read: PlateRead) -> HotlistHit | None:
    return HotlistHit(read=read, hotlist_id=0, entry=read.text, distance=0)


def test_two_delivering_processes_send_each_alert_of_the_cameras_once(
    db_url: str, sessions: sessionmaker[Session], media: MediaStore, receiver: Receiver
) -> None:
    """The Ray engine's path: a camera node stores alerts (outbox rows in the same
    transaction, NOTIFY after the commit); two drivers listen and deliver to the same
    webhook; the claims keep them from sending any alert twice."""
    receiver.start()
    key = WebhookSink(receiver.url).key
    drivers = []
    for _ in range(2):
        engine = make_engine(db_url)
        box = AlertOutbox(make_session_factory(engine), [key])
        d = Dispatcher([WebhookSink(receiver.url, timeout=2)], outbox=box, poll_s=0.2)
        drivers.append((engine, d, AlertListener(engine, d.publish, poll_s=0.2).start()))
    node = make_engine(db_url, pool_size=2, max_overflow=0)
    node_sessions = make_session_factory(node)
    node_box = AlertOutbox(node_sessions, [key]).install()
    notifier = PgNotifier(node)
    recorder = EventRecorder(
        node_sessions,
        media,
        _hit,
        notifier.publish,
        run_id="r",
        clock=lambda: NOW,
        repeat_window_s=0,
        replayable=True,
    )
    try:
        alert_ids = []
        for k in range(12):
            _, alert_id = recorder.record_plate_read(
                plate_read(text=f"AB{k:03d}CD", first_seen_s=float(k))
            )
            assert alert_id is not None
            alert_ids.append(alert_id)
        assert receiver.wait_for(12)
    finally:
        for engine, d, listener in drivers:
            listener.stop()
            d.close(2.0)
            engine.dispose()
        node_box.uninstall()
        node.dispose()
    assert sorted(receiver.ids()) == sorted(alert_ids)  # each once, none twice
    assert {r.state for r in outbox_rows(sessions).values()} == {"delivered"}


HOST, PORT = "127.0.0.1", 1883


def _broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.integration
def test_mqtt_broker_down_then_up_gets_the_waiting_alerts(sessions: sessionmaker[Session]) -> None:
    require(_broker_up(), f"no MQTT broker at {HOST}:{PORT}")
    base = f"citywatch-test/{uuid.uuid4().hex[:8]}"
    key = mqtt_key(HOST, PORT, base)
    clock = Clock()
    box = AlertOutbox(sessions, [key], clock=clock).install()
    retry = RetryPolicy(attempts=5, base_delay_s=10.0, max_delay_s=60.0)
    down = MqttSink(HOST, free_port(), topic=base, timeout=0.3, key=key)  # nobody listens
    got: queue.Queue[dict[str, object]] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, msg: got.put(json.loads(msg.payload))
    sub.on_subscribe = lambda c, u, mid, rc, props: subscribed.put(True)
    sub.on_connect = lambda c, u, f, rc, props: c.subscribe(f"{base}/#", qos=1)
    up = None
    try:
        ids = [store_alert(sessions, n) for n in range(2)]
        lane = DurableLane(down, down.name, key, box, retry, random.Random(3), start=False)
        assert lane.step().failed
        with sessions() as s:
            (backlog,) = outbox_backlog(s, clock(), [key])
        assert (backlog.pending, backlog.last_error) == (2, "not connected")
        down.close()
        # the broker is back (here: the same key reaches the real broker)
        sub.connect(HOST, PORT)
        sub.loop_start()
        assert subscribed.get(timeout=5)
        up = MqttSink(HOST, PORT, topic=base, timeout=5, key=key)
        back = DurableLane(up, up.name, key, box, retry, random.Random(4), start=False)
        assert back.step().delivered == 1  # the untried one at once; the sink answers ...
        assert back.step().delivered == 1  # ... so the one on its backoff is due now
        msgs = [got.get(timeout=5) for _ in ids]
        assert sorted(int(str(m["id"])) for m in msgs) == ids
        assert all(m["event_id"] for m in msgs)
        assert {r.state for r in outbox_rows(sessions).values()} == {"delivered"}
    finally:
        sub.loop_stop()
        sub.disconnect()
        if up is not None:
            up.close()
        box.uninstall()
