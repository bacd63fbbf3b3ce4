"""Alert fan-out across nodes: PostgreSQL LISTEN/NOTIFY, with the alerts table as the outbox.

A camera actor on any node stores an alert (its transaction commits) and then sends
``NOTIFY <channel>, '<alert id>'`` (:class:`PgNotifier`).  Every process that delivers alerts
(the `run` driver's dispatcher: console, webhooks, MQTT; a `serve` process's live hub) runs
one :class:`AlertListener`: it LISTENs on the channel and, on a notification or every
``poll_s`` seconds, reads the alerts it has not delivered yet from the table and hands each to
its sink once.

Webhooks and MQTT do not depend on the listener: the alert is stored with their outbox rows
(:mod:`citywatch.services.outbox`), and the dispatcher's durable lanes deliver from there
(the listener's hand-off only wakes them); their claims keep two delivering processes from
sending the same row.  The listener feeds the in-process sinks (console, live hub).

Why the table and not the notification payload: a NOTIFY that is lost (the node died between
the commit and the notify, the listener was reconnecting) is caught up by the next poll, and
an alert is only ever delivered after it is durably stored.  Exactly once per listener: alert
ids are unique and the listener remembers the ids it delivered within a look-back window
(ids are drawn from a sequence before commit, so a transaction that commits late may surface
an id below the highest one seen; the window covers that).

Why PostgreSQL and not Redis or MQTT: Ray mode already needs PostgreSQL as the shared store,
so fan-out adds no service to run, secure and monitor; NOTIFY is transactional and the table
keeps what a listener missed.  On SQLite (single-machine runs only) there is no NOTIFY and the
listener polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.events import AlertEvent
from citywatch.services.alerts import alert_event
from citywatch.store.models import AlertRow

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "citywatch_alerts"


class PgNotifier:
    """The ``publish`` callback of a camera actor's recorder: announce a stored alert.

    Sinks are not called here: delivery happens in the listening processes, once."""

    def __init__(self, engine: Engine, channel: str = DEFAULT_CHANNEL) -> None:
        self._engine = engine
        self._channel = channel
        self._pg = engine.dialect.name == "postgresql"
        self.sent = 0

    def publish(self, event: AlertEvent) -> None:
        if not self._pg:
            return  # SQLite: listeners poll
        with self._engine.begin() as conn:
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": self._channel, "payload": str(event.id)},
            )
        self.sent += 1


class AlertListener:
    """Delivers every alert stored after it started to ``deliver``, once each.

    ``deliver`` is typically a :class:`~citywatch.alerts.dispatcher.Dispatcher`'s ``publish``
    (which queues and returns at once).  Runs on its own daemon thread; reconnects with
    backoff when the database goes away.
    """

    def __init__(
        self,
        engine: Engine,
        deliver: Callable[[AlertEvent], None],
        *,
        channel: str = DEFAULT_CHANNEL,
        poll_s: float = 2.0,
        lookback: int = 1000,
        from_start: bool = False,
    ) -> None:
        self._engine = engine
        self._sessions: sessionmaker[Session] = sessionmaker(bind=engine, expire_on_commit=False)
        self._deliver = deliver
        self._channel = channel
        self._poll_s = poll_s
        self._lookback = lookback
        self._from_start = from_start
        self._high = 0  # highest alert id delivered (or present at start)
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        self.notifications = 0
        self.errors = 0

    @classmethod
    def on(
        cls,
        sessions: sessionmaker[Session],
        deliver: Callable[[AlertEvent], None],
        *,
        channel: str = DEFAULT_CHANNEL,
    ) -> AlertListener:
        """A listener on the database that ``sessions`` is bound to."""
        bind = sessions.kw.get("bind")
        if not isinstance(bind, Engine):
            raise TypeError("AlertListener.on: the session factory is not bound to an engine")
        return cls(bind, deliver, channel=channel)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> AlertListener:
        if not self._from_start:
            # What is stored already was delivered by whoever ran then: remember it as seen
            # (not just the highest id: a transaction still in flight may hold a lower one).
            with self._sessions() as session:
                self._high = int(session.scalar(select(func.max(AlertRow.id))) or 0)
                self._seen = set(
                    session.scalars(
                        select(AlertRow.id).where(AlertRow.id > self._high - self._lookback)
                    ).all()
                )
        self._thread = threading.Thread(target=self._run, name="alert-listener", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.catch_up()  # what was stored up to now is delivered

    # --- delivery -------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Deliver the alerts not delivered yet; returns how many."""
        with self._lock:
            floor = max(0, self._high - self._lookback)
            with self._sessions() as session:
                ids = session.scalars(
                    select(AlertRow.id).where(AlertRow.id > floor).order_by(AlertRow.id)
                ).all()
                new = [i for i in ids if i not in self._seen]
                rows = (
                    session.scalars(
                        select(AlertRow).where(AlertRow.id.in_(new)).order_by(AlertRow.id)
                    ).all()
                    if new
                    else []
                )
            for row in rows:
                self._seen.add(row.id)
                self._high = max(self._high, row.id)
                try:
                    self._deliver(alert_event(row))
                except Exception:  # a sink failure must not stop the listener
                    log.exception("alert %s: delivery failed", row.event_id)
                self.delivered += 1
            low = self._high - self._lookback
            self._seen = {i for i in self._seen if i > low}
            return len(rows)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if self._engine.dialect.name == "postgresql":
                    self._listen()
                else:
                    while not self._stop.wait(self._poll_s):
                        self.catch_up()
                backoff = 0.5
            except Exception as err:
                self.errors += 1
                log.warning("alert listener: %s; retrying in %.1f s", type(err).__name__, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(30.0, backoff * 2)

    def _listen(self) -> None:
        import psycopg

        # A connection of its own, outside the pool: it stays LISTENing for the listener's
        # life, and the catch-up queries must never wait for it (or it for them).
        url = self._engine.url.set(drivername="postgresql")
        conn: Any = psycopg.connect(
            url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10
        )
        try:
            conn.execute(f'LISTEN "{self._channel}"')
            self.catch_up()  # what was stored while we were not listening
            while not self._stop.is_set():
                got = 0
                for _note in conn.notifies(timeout=self._poll_s, stop_after=1):
                    got += 1
                self.notifications += got
                self.catch_up()
        finally:
            conn.close()
