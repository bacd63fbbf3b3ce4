"""The alert outbox in the store (SQLite and the local PostgreSQL): rows written with their
alert, exclusive claims with a lease, backoff bookkeeping, health view, retention sweep."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.build import build_dispatcher
from citywatch.alerts.durable import durable_sink_keys
from citywatch.config.alerts import AlertsConfig
from citywatch.decisions.types import HotlistHit, PlateRead
from citywatch.services.events import EventRecorder
from citywatch.services.outbox import (
    AlertOutbox,
    install_outbox,
    outbox_backlog,
    outbox_sweep_job,
    sweep_outbox,
)
from citywatch.store.db import make_engine, make_session_factory
from citywatch.store.media import MediaStore
from citywatch.store.models import AlertOutboxRow, AlertRow
from tests.services.helpers import NOW, add_camera, plate_read

SINKS = ("webhook-aaaaaaaaaaaa", "mqtt-bbbbbbbbbbbb")


class Clock:
    def __init__(self, at: dt.datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def store_alert(sessions: sessionmaker[Session], n: int, camera: str = "cam-1") -> int:
    """An alert stored the way a recorder stores it (the row, one flush, one commit)."""
    with sessions() as session:
        row = AlertRow(
            event_id=f"evt-{n:04d}",
            kind="plate",
            camera_id=camera,
            plate="AB123CD",
            read="AB123CD",
            score=0.9,
            distance=0,
            track_id=n,
            first_seen_s=float(n),
            last_seen_s=float(n) + 1,
            seen_at=NOW,
            status="pending",
        )
        session.add(row)
        session.commit()
        return row.id


def rows(sessions: sessionmaker[Session]) -> list[AlertOutboxRow]:
    with sessions() as session:
        return list(session.scalars(select(AlertOutboxRow).order_by(AlertOutboxRow.id)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(session_factory: sessionmaker[Session], clock: Clock) -> Iterator[AlertOutbox]:
    with session_factory() as s:
        add_camera(s, "cam-1")
    box = AlertOutbox(session_factory, SINKS, clock=clock, lease_s=60).install()
    yield box
    box.uninstall()


def _hit(read: PlateRead) -> HotlistHit | None:
    return HotlistHit(read=read, hotlist_id=0, entry=read.text, distance=0)


def test_an_alert_commits_with_one_row_per_sink_and_a_rollback_leaves_none(
    outbox: AlertOutbox, session_factory: sessionmaker[Session], media: MediaStore
) -> None:
    recorder = EventRecorder(session_factory, media, _hit, lambda e: None, clock=lambda: NOW)
    read_id, alert_id = recorder.record_plate_read(plate_read(text="AB123CD"))
    assert alert_id is not None
    assert recorder.record_plate_read(plate_read(text="AB123CD")) == (read_id, alert_id)
    got = rows(session_factory)
    assert [(r.alert_id, r.sink, r.state, r.attempts) for r in got] == [
        (alert_id, SINKS[0], "pending", 0),
        (alert_id, SINKS[1], "pending", 0),
    ]
    with session_factory() as session:  # an alert whose transaction never commits
        session.add(
            AlertRow(
                event_id="never",
                kind="plate",
                camera_id="cam-1",
                score=0.5,
                track_id=9,
                first_seen_s=0.0,
                last_seen_s=1.0,
                seen_at=NOW,
            )
        )
        session.flush()
        session.rollback()
    assert len(rows(session_factory)) == 2
    # erasing the alert (retention, a subject's removal) takes its deliveries with it
    with session_factory() as session:
        session.execute(delete(AlertRow).where(AlertRow.id == alert_id))
        session.commit()
    assert rows(session_factory) == []


def test_a_second_outbox_with_other_sinks_on_the_same_factory_is_refused(
    outbox: AlertOutbox, session_factory: sessionmaker[Session]
) -> None:
    assert AlertOutbox(session_factory, SINKS).install() is not None  # same sinks: no-op
    with pytest.raises(ValueError, match="already writes rows"):
        AlertOutbox(session_factory, ["webhook-other"]).install()
    store_alert(session_factory, 1)
    assert len(rows(session_factory)) == 2  # written once, not twice


def test_claims_are_exclusive_until_the_lease_ends(
    outbox: AlertOutbox, db_url: str, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    for n in range(3):
        store_alert(session_factory, n)
    # a second delivering process (its own engine and outbox object) on the same store
    other_engine = make_engine(db_url)
    other = AlertOutbox(make_session_factory(other_engine), SINKS, clock=clock, lease_s=60)
    try:
        mine = outbox.claim(SINKS[0], 2)
        assert [i.event.event_id for i in mine] == ["evt-0000", "evt-0001"]
        theirs = other.claim(SINKS[0], 10)
        assert [i.event.event_id for i in theirs] == ["evt-0002"]  # only the free one
        assert other.claim(SINKS[0], 10) == []
        assert len(other.claim(SINKS[1], 10)) == 3  # the other sink's rows are its own
        clock.advance(61)  # our process died holding its claim: the lease ends
        again = other.claim(SINKS[0], 10)
        assert sorted(i.event.event_id for i in again) == ["evt-0000", "evt-0001", "evt-0002"]
        # our late answer for a row we no longer hold changes nothing; a delivery still counts
        outbox.retry_later(mine[0], "HTTP 503", 5.0)
        outbox.delivered(mine[1])
        states = {
            r.alert_id: (r.state, r.attempts) for r in rows(session_factory) if r.sink == SINKS[0]
        }
        assert states[mine[0].event.id] == ("pending", 0)
        assert states[mine[1].event.id] == ("delivered", 1)
    finally:
        other_engine.dispose()


def test_concurrent_claimers_never_share_a_row(
    outbox: AlertOutbox, db_url: str, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    for n in range(40):
        store_alert(session_factory, n)
    got: list[list[int]] = [[] for _ in range(4)]
    engines = [make_engine(db_url) for _ in range(4)]

    def worker(k: int) -> None:
        box = AlertOutbox(make_session_factory(engines[k]), SINKS, clock=clock, lease_s=60)
        while items := box.claim(SINKS[0], 3):
            got[k].extend(i.row_id for i in items)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    claimed = [row for part in got for row in part]
    assert len(claimed) == 40 and len(set(claimed)) == 40


def test_retry_give_up_release_and_due_again(
    outbox: AlertOutbox, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    for n in range(3):
        store_alert(session_factory, n)
    a, b, c = outbox.claim(SINKS[0], 10)
    outbox.retry_later(a, "ConnectError", 30.0)
    outbox.give_up(b, "HTTP 404 (not retried)")
    outbox.release([c])
    assert [i.row_id for i in outbox.claim(SINKS[0], 10)] == [c.row_id]  # a waits 30 s
    clock.advance(31)
    assert [i.row_id for i in outbox.claim(SINKS[0], 10)] == [a.row_id]  # c: still claimed
    assert outbox.pending(SINKS[0]) == 2
    by_id = {r.id: r for r in rows(session_factory)}
    assert (by_id[a.row_id].attempts, by_id[a.row_id].last_error) == (1, "ConnectError")
    assert by_id[a.row_id].next_attempt_at == NOW + dt.timedelta(seconds=30)
    assert (by_id[b.row_id].state, by_id[b.row_id].done_at) == ("failed", NOW)
    # the sink answers again: whatever waits on a backoff is due at once
    clock.at = NOW + dt.timedelta(seconds=1)
    assert outbox.due_again(SINKS[0]) == 1
    assert rows(session_factory)[0].next_attempt_at == clock.at


def test_backlog_reports_pending_age_and_the_error_holding_them(
    outbox: AlertOutbox, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    for n in range(3):
        store_alert(session_factory, n)
    first, *_ = outbox.claim(SINKS[0], 1)
    clock.advance(90)
    outbox.retry_later(first, "HTTP 503", 10)
    with session_factory() as session:
        backlog = {b.sink: b for b in outbox_backlog(session, clock(), [*SINKS, "mqtt-none"])}
    hook = backlog[SINKS[0]]
    assert (hook.pending, hook.oldest_pending_s, hook.failed) == (3, 90.0, 0)
    assert (hook.last_error, hook.last_error_at) == ("HTTP 503", NOW + dt.timedelta(seconds=90))
    assert backlog[SINKS[1]].last_error is None
    assert backlog["mqtt-none"].pending == 0 and backlog["mqtt-none"].oldest_pending_s is None


def test_sweep_deletes_delivered_rows_and_expires_old_pending_ones(
    outbox: AlertOutbox,
    session_factory: sessionmaker[Session],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(2):
        store_alert(session_factory, n)
    old = outbox.claim(SINKS[0], 1)[0]
    outbox.delivered(old)
    clock.advance(3600 * 30)
    store_alert(session_factory, 5)  # a fresh alert: kept whatever its state
    caplog.set_level(logging.INFO, "citywatch.services.outbox")
    report = sweep_outbox(
        session_factory,
        clock(),
        keep_delivered=dt.timedelta(hours=24),
        expire_after=dt.timedelta(hours=24),
    )
    assert report.delivered == 1
    assert report.expired == {SINKS[0]: 1, SINKS[1]: 2}
    left = rows(session_factory)
    assert len(left) == 2 and all(r.state == "pending" for r in left)
    assert f"2 alert(s) to {SINKS[1]} expired undelivered" in caplog.text
    assert "1 delivered row(s) deleted, 3 expired" in caplog.text
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AlertRow)) == 3  # alerts stay


def test_the_configured_sinks_deliver_from_the_outbox_and_can_be_switched_off(
    session_factory: sessionmaker[Session],
) -> None:
    cfg = AlertsConfig.model_validate(
        {
            "console": False,
            "webhooks": [{"url": "http://127.0.0.1:9/hook"}],
            "mqtt": {"host": "127.0.0.1", "port": 9, "timeout_s": 0.2},
        }
    )
    box = install_outbox(session_factory, cfg)
    assert box is not None and list(box.sinks) == durable_sink_keys(cfg)
    dispatcher = build_dispatcher(cfg, None, outbox=box)
    try:
        assert dispatcher.durable_sinks == {
            "webhook:http://127.0.0.1:9": box.sinks[0],
            "mqtt:127.0.0.1:9": box.sinks[1],
        }
    finally:
        dispatcher.close(1.0)
        box.uninstall()
    off = cfg.model_copy(update={"outbox": cfg.outbox.model_copy(update={"enabled": False})})
    assert install_outbox(session_factory, off) is None
    assert install_outbox(session_factory, AlertsConfig()) is None  # no external sink


def test_undelivered_alerts_expire_no_later_than_the_alerts_retention(
    outbox: AlertOutbox, session_factory: sessionmaker[Session], clock: Clock
) -> None:
    store_alert(session_factory, 1)
    cfg = AlertsConfig()  # expire_after_hours: 168
    clock.advance(3600 * 25)
    job = outbox_sweep_job(session_factory, cfg, dt.timedelta(days=1), clock=clock)
    assert job().expired == {SINKS[0]: 1, SINKS[1]: 1}
