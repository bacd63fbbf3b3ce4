"""The alert outbox: one row per alert and external sink, delivered at least once.

:class:`AlertOutbox` is both ends of it:

* **writing** (:meth:`AlertOutbox.install`): a hook on a session factory that adds the rows in
  the same transaction as the alert, whoever stores it (the local engine's recorder, a Ray
  camera actor), so an alert is never committed without its deliveries;
* **delivering** (the :class:`~citywatch.alerts.durable.DeliveryQueue` a
  :class:`~citywatch.alerts.durable.DurableLane` uses): claim due rows with a lease (one
  conditional ``UPDATE``; on PostgreSQL its sub-select takes ``FOR UPDATE SKIP LOCKED``, so
  two delivering processes never claim the same row), mark them delivered, put a failed one
  back with its next try's time, give up on one the sink refused for good.

:func:`outbox_backlog` is the health view (pending rows, the oldest one's age, the error that
holds them back, per sink) and :func:`sweep_outbox` the retention job (delivered rows after
``keep_delivered``, undelivered ones after ``expire_after``, counts logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, event, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from citywatch.alerts.durable import OutboxItem, durable_sink_keys
from citywatch.config.alerts import AlertsConfig
from citywatch.services.alerts import alert_event
from citywatch.store.models import AlertOutboxRow, AlertRow
from citywatch.store.types import utcnow

log = logging.getLogger(__name__)

T = AlertOutboxRow
_HOOK_ATTR = "_citywatch_alert_outbox"


class AlertOutbox:
    """The outbox of the sinks ``sinks`` (their stable keys) in the store ``sessions`` uses.

    ``clock`` stamps every row (tests pin it); ``lease_s``: how long a claim holds a row
    before another process may claim it again (a process that died while sending)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sinks: Sequence[str],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        lease_s: float = 120.0,
    ) -> None:
        if len(set(sinks)) != len(sinks):
            raise ValueError(f"alert outbox: sink keys must be unique, got {list(sinks)}")
        if lease_s <= 0:
            raise ValueError(f"alert outbox: lease_s must be > 0, got {lease_s}")
        self._sessions = sessions
        self._sinks = tuple(sinks)
        self._clock = clock
        self._lease = dt.timedelta(seconds=lease_s)
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"

    def __repr__(self) -> str:
        return f"AlertOutbox(sinks={list(self._sinks)})"

    @property
    def sinks(self) -> Sequence[str]:
        return self._sinks

    # --- writing: in the alert's transaction ---------------------------------------------------
    def install(self) -> AlertOutbox:
        """Add the outbox rows of every alert stored through this session factory, in the
        alert's own flush (so its transaction).  Once per factory; a second outbox with other
        sinks on the same factory is refused."""
        other = getattr(self._sessions, _HOOK_ATTR, None)
        if other is not None:
            if tuple(other.sinks) != self._sinks:
                raise ValueError(
                    f"alert outbox: this session factory already writes rows for "
                    f"{list(other.sinks)}, not {list(self._sinks)}"
                )
            return self
        if self._sinks:
            event.listen(self._sessions, "after_flush", self._after_flush)
        setattr(self._sessions, _HOOK_ATTR, self)
        return self

    def uninstall(self) -> None:
        if getattr(self._sessions, _HOOK_ATTR, None) is self:
            if event.contains(self._sessions, "after_flush", self._after_flush):
                event.remove(self._sessions, "after_flush", self._after_flush)
            delattr(self._sessions, _HOOK_ATTR)

    def _after_flush(self, session: Session, _context: Any) -> None:
        ids = [obj.id for obj in session.new if isinstance(obj, AlertRow)]
        if ids:
            session.connection().execute(insert(T), self.rows_for(ids))

    def rows_for(self, alert_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The new rows (as insert values) for ``alert_ids``: one per alert and sink."""
        now = self._clock()
        return [
            {
                "alert_id": alert_id,
                "sink": sink,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
            for alert_id in alert_ids
            for sink in self._sinks
        ]

    # --- delivering ----------------------------------------------------------------------------
    def claim(self, sink: str, limit: int) -> list[OutboxItem]:
        """Up to ``limit`` rows of ``sink`` that are due and not claimed by a live claim, in
        the order they fell due, with their alerts; claimed for ``lease_s``."""
        now = self._clock()
        token = f"{self._owner}-{uuid.uuid4().hex[:16]}"
        free = and_(
            T.sink == sink,
            T.state == "pending",
            T.next_attempt_at <= now,
            or_(T.claimed_until.is_(None), T.claimed_until < now),
        )
        due = select(T.id).where(free).order_by(T.next_attempt_at, T.id).limit(limit)
        with self._sessions() as session:
            ids: Any
            if session.get_bind().dialect.name == "postgresql":
                # Lock the due rows first (skipping rows another claimer holds), then mark
                # them: inside one UPDATE the planner may rescan a LIMIT sub-select per row
                # and hand out more rows than asked.
                ids = list(session.scalars(due.with_for_update(skip_locked=True)))
            else:  # SQLite: one statement takes the write lock before it reads
                ids = due.scalar_subquery()
            session.execute(
                update(T)
                .where(T.id.in_(ids), free)
                .values(claimed_by=token, claimed_until=now + self._lease)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            rows = session.execute(
                select(T.id, T.attempts, AlertRow)
                .join(AlertRow, AlertRow.id == T.alert_id)
                .where(T.claimed_by == token)
                .order_by(T.next_attempt_at, T.id)
            ).all()
        return [OutboxItem(r.id, alert_event(r.AlertRow), r.attempts, token) for r in rows]

    def _finish(self, item: OutboxItem, *, mine_only: bool, **values: Any) -> None:
        now = self._clock()
        where = [T.id == item.row_id, T.state == "pending"]
        if mine_only:
            where.append(T.claimed_by == item.claim)
        with self._sessions() as session:
            session.execute(
                update(T)
                .where(*where)
                .values(
                    attempts=T.attempts + 1,
                    last_attempt_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    **{k: (now if v is _NOW else v) for k, v in values.items()},
                )
                .execution_options(synchronize_session=False)
            )
            session.commit()

    def delivered(self, item: OutboxItem) -> None:
        # Sent: marked delivered even when the lease ran out and another process claimed the
        # row meanwhile (it may send it again: at least once).
        self._finish(item, mine_only=False, state="delivered", done_at=_NOW)

    def retry_later(self, item: OutboxItem, error: str, delay_s: float) -> None:
        next_at = self._clock() + dt.timedelta(seconds=max(0.0, delay_s))
        self._finish(item, mine_only=True, last_error=error[:500], next_attempt_at=next_at)

    def give_up(self, item: OutboxItem, error: str) -> None:
        self._finish(item, mine_only=True, state="failed", done_at=_NOW, last_error=error[:500])

    def release(self, items: Sequence[OutboxItem]) -> None:
        """Hand claimed rows back untried (a failure before them, or shutdown)."""
        if not items:
            return
        with self._sessions() as session:
            for token in {i.claim for i in items}:
                session.execute(
                    update(T)
                    .where(T.id.in_([i.row_id for i in items]), T.claimed_by == token)
                    .values(claimed_by=None, claimed_until=None)
                    .execution_options(synchronize_session=False)
                )
            session.commit()

    def due_again(self, sink: str) -> int:
        """The sink answers again: every row of it waiting on a backoff is due now."""
        now = self._clock()
        with self._sessions() as session:
            done = session.execute(
                update(T)
                .where(T.sink == sink, T.state == "pending", T.next_attempt_at > now)
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        return int(getattr(done, "rowcount", 0) or 0)

    def pending(self, sink: str) -> int:
        with self._sessions() as session:
            count = session.scalar(
                select(func.count()).select_from(T).where(T.sink == sink, T.state == "pending")
            )
        return int(count or 0)


def install_outbox(
    sessions: sessionmaker[Session],
    cfg: AlertsConfig,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> AlertOutbox | None:
    """The configured outbox, writing rows for every alert stored through ``sessions``; None
    when it is switched off or no webhook or MQTT broker is configured."""
    keys = durable_sink_keys(cfg)
    if not (cfg.outbox.enabled and keys):
        return None
    return AlertOutbox(sessions, keys, clock=clock, lease_s=cfg.outbox.lease_s).install()


class _Now:
    """Marker: the time of the update."""


_NOW: Any = _Now()


# --- health -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SinkBacklog:
    """One sink's deliveries as the store holds them."""

    sink: str
    pending: int
    oldest_pending_s: float | None  # age of the oldest undelivered alert
    failed: int  # refused for good by the sink (kept until the sweep)
    last_error: str | None  # the latest error of a row still pending
    last_error_at: dt.datetime | None


def outbox_backlog(
    session: Session, now: dt.datetime, sinks: Sequence[str] = ()
) -> list[SinkBacklog]:
    """Per sink (the configured ones, and any other with rows left): pending count, the
    oldest pending alert's age, given-up count, and the error holding the rest back."""
    counts: dict[str, dict[str, Any]] = {s: {} for s in sinks}
    for sink, state, n, oldest in session.execute(
        select(T.sink, T.state, func.count(), func.min(T.created_at))
        .where(T.state.in_(("pending", "failed")))
        .group_by(T.sink, T.state)
    ):
        counts.setdefault(sink, {})[state] = (int(n), oldest)
    out = []
    for sink in sorted(counts):
        n_pending, oldest = counts[sink].get("pending", (0, None))
        n_failed, _ = counts[sink].get("failed", (0, None))
        error = None
        if n_pending:
            error = session.execute(
                select(T.last_error, T.last_attempt_at)
                .where(T.sink == sink, T.state == "pending", T.last_error.is_not(None))
                .order_by(T.last_attempt_at.desc())
                .limit(1)
            ).first()
        age = None
        if oldest is not None:  # min() keeps the column's type: an aware UTC datetime
            age = max(0.0, (now - oldest).total_seconds())
        out.append(
            SinkBacklog(
                sink,
                n_pending,
                age,
                n_failed,
                error.last_error if error else None,
                error.last_attempt_at if error else None,
            )
        )
    return out


# --- retention --------------------------------------------------------------------------------


def outbox_sweep_job(
    sessions: sessionmaker[Session],
    cfg: AlertsConfig,
    alert_retention: dt.timedelta,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> Callable[[], OutboxSweep]:
    """The retention scheduler's job: :func:`sweep_outbox` with the configured periods
    (an undelivered alert expires no later than the alerts' own retention)."""
    keep = dt.timedelta(hours=cfg.outbox.keep_delivered_hours)
    expire = min(dt.timedelta(hours=cfg.outbox.expire_after_hours), alert_retention)

    def sweep_alert_outbox() -> OutboxSweep:
        return sweep_outbox(sessions, clock(), keep_delivered=keep, expire_after=expire)

    return sweep_alert_outbox


@dataclass(frozen=True, slots=True)
class OutboxSweep:
    delivered: int  # delivered (or refused) rows deleted
    expired: dict[str, int]  # undelivered rows given up on, per sink

    @property
    def expired_total(self) -> int:
        return sum(self.expired.values())


def sweep_outbox(
    sessions: sessionmaker[Session],
    now: dt.datetime,
    *,
    keep_delivered: dt.timedelta,
    expire_after: dt.timedelta,
) -> OutboxSweep:
    """Delete finished rows older than ``keep_delivered`` and pending rows whose alert was
    stored more than ``expire_after`` ago (an alert that late is no alert any more); log both
    counts (an expiry as a warning, per sink)."""
    with sessions() as session:
        expired: dict[str, int] = {}
        stale = and_(T.state == "pending", T.created_at < now - expire_after)
        for sink, n in session.execute(select(T.sink, func.count()).where(stale).group_by(T.sink)):
            expired[sink] = int(n)
        if expired:
            session.execute(delete(T).where(stale).execution_options(synchronize_session=False))
        done = session.execute(
            delete(T)
            .where(T.state.in_(("delivered", "failed")), T.done_at < now - keep_delivered)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    report = OutboxSweep(int(getattr(done, "rowcount", 0) or 0), expired)
    for sink, n in sorted(expired.items()):
        log.warning(
            "alert outbox: %d alert(s) to %s expired undelivered after %s", n, sink, expire_after
        )
    log.info(
        "alert outbox sweep: %d delivered row(s) deleted, %d expired",
        report.delivered,
        report.expired_total,
    )
    return report
