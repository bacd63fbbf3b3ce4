"""Event ids that survive a camera actor's restart, and alert fan-out across nodes.

Runs on SQLite and on the local PostgreSQL (``db_url``).  On PostgreSQL the listeners wake on
LISTEN/NOTIFY; on SQLite they poll.  Either way each listener (the `run` driver's dispatcher,
a `serve` process's live hub) gets every alert stored by any node exactly once, including one
whose notification was lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from citywatch.alerts.events import AlertEvent
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.engine.fanout import AlertListener, PgNotifier
from citywatch.services.events import EventRecorder
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertRow, PlateReadRow
from tests.services.helpers import NOW, add_camera, plate_read

HOT = {"CW123X", "ZZ999ZZ"}


def _match(read: PlateRead) -> HotlistHit | None:
    if read.text in HOT:
        return HotlistHit(read=read, hotlist_id=0, entry=read.text, distance=0)
    return None


def _recorder(db_url: str, media: MediaStore, publish: Callable[[AlertEvent], None], run_id: str):
    engine = make_engine(db_url, pool_size=2, max_overflow=0)
    sessions = make_session_factory(engine)
    rec = EventRecorder(
        sessions, media, _match, publish, run_id=run_id, clock=lambda: NOW, replayable=True
    )
    return rec, engine


def _cameras(db_url: str, *ids: str) -> None:
    engine = make_engine(db_url)
    with make_session_factory(engine)() as s:
        for cam in ids:
            add_camera(s, cam)
    engine.dispose()


def test_a_restarted_actor_replaying_the_same_footage_writes_the_same_events(
    db_url: str, media: MediaStore
) -> None:
    _cameras(db_url, "cam-1")
    published: list[AlertEvent] = []
    first, e1 = _recorder(db_url, media, published.append, "run-7")
    read = plate_read(text="CW123X", track_id=3, first_seen_s=2.0)
    read_id, alert_id = first.record_plate_read(read)
    assert alert_id is not None and len(published) == 1
    # the node dies; Ray re-creates the actor with the same spec (same run id): a fresh
    # recorder and a fresh tracker, which numbers the same car's track differently
    again, e2 = _recorder(db_url, media, published.append, "run-7")
    replay = plate_read(text="CW123X", track_id=1, first_seen_s=2.0)
    assert again.record_plate_read(replay) == (read_id, alert_id)
    assert len(published) == 1  # no second alert
    # a different car first seen at the same moment with the same track number is new
    other_id, other_alert = again.record_plate_read(plate_read(text="AB123CD", track_id=1))
    assert other_id != read_id and other_alert is None
    # a separate run of the engine (another run id) keeps its own events
    later, e3 = _recorder(db_url, media, published.append, "run-8")
    assert later.record_plate_read(read)[0] != read_id
    with make_session_factory(e1)() as s:
        assert s.scalar(select(func.count()).select_from(PlateReadRow)) == 3
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 1  # repeat window
    for e in (e1, e2, e3):
        e.dispose()


class Hub:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: AlertEvent) -> None:
        with self.lock:
            self.events.append(event)


def _wait(what: Callable[[], bool], why: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {why}")
        time.sleep(0.05)


def test_alerts_from_every_node_reach_every_listener_exactly_once(
    db_url: str, media: MediaStore
) -> None:
    cams = [f"cam-{i}" for i in range(1, 5)]
    _cameras(db_url, *cams)
    listen_engine = make_engine(db_url)
    driver, console = Hub(), Hub()
    listeners = [
        AlertListener(listen_engine, sink, poll_s=0.5).start() for sink in (driver, console)
    ]
    # two "nodes": each with its own connection pool and notifier, two cameras each
    nodes = []
    for n in range(2):
        engine = make_engine(db_url, pool_size=2, max_overflow=0)
        notifier = PgNotifier(engine)
        rec = EventRecorder(
            make_session_factory(engine),
            media,
            _match,
            notifier.publish,
            run_id="r",
            clock=lambda: NOW,
            repeat_window_s=0,
            group_window_s=0,  # every read an alert of its own
            replayable=True,
        )
        nodes.append((rec, engine, notifier, cams[2 * n : 2 * n + 2]))

    def produce(rec: EventRecorder, mine: list[str]) -> None:
        for cam in mine:
            for k in range(3):
                read = plate_read(camera_id=cam, text="CW123X", first_seen_s=float(k))
                rec.record_plate_read(read)
                rec.record_plate_read(read)  # a retried batch: idempotent, announced once

    threads = [threading.Thread(target=produce, args=(r, m)) for r, _, _, m in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a node that died between its commit and its NOTIFY: the alert is stored, unannounced
    silent, silent_engine = _recorder(db_url, media, lambda e: None, "r")
    silent.record_plate_read(plate_read(camera_id="cam-1", text="ZZ999ZZ", first_seen_s=9.0))

    expected = 4 * 3 + 1
    for hub in (driver, console):
        _wait(lambda hub=hub: len(hub.events) >= expected, "every alert to be delivered")
    time.sleep(1.2)  # two more polls: nothing further may arrive
    for listener in listeners:
        listener.stop()
    with make_session_factory(listen_engine)() as s:
        stored = sorted(s.scalars(select(AlertRow.event_id)).all())
    assert len(stored) == expected
    for hub in (driver, console):
        assert sorted(e.event_id for e in hub.events) == stored  # each once, none missing
    if listen_engine.dialect.name == "postgresql":
        assert sum(n.sent for _, _, n, _ in nodes) == 4 * 3  # one NOTIFY per new alert
        assert all(listener.notifications >= 1 for listener in listeners)
    for _, engine, _, _ in nodes:
        engine.dispose()
    silent_engine.dispose()
    listen_engine.dispose()


def test_a_listener_delivers_only_what_is_stored_after_it_started(
    db_url: str, media: MediaStore
) -> None:
    _cameras(db_url, "cam-1")
    rec, engine = _recorder(db_url, media, lambda e: None, "r")
    rec.record_plate_read(plate_read(text="CW123X", first_seen_s=1.0))
    hub = Hub()
    listener = AlertListener(engine, hub, poll_s=0.2).start()
    rec.record_plate_read(plate_read(text="ZZ999ZZ", first_seen_s=500.0))
    _wait(lambda: len(hub.events) >= 1, "the new alert")
    listener.stop()
    assert [e.plate for e in hub.events] == ["ZZ999ZZ"]  # the older alert is not replayed
    engine.dispose()
