"""Fan alerts out to every sink, each on its own thread, so that a slow webhook blocks neither
the camera worker nor the other sinks.

Each sink has a bounded queue (a *lane*).  When a lane is full the oldest waiting alert is
dropped and counted: fresh alerts matter more than stale ones.  Failed deliveries are retried
with capped exponential backoff and jitter; a :class:`PermanentDeliveryError` is not retried.
Log lines carry the sink's name and the event id, never a URL's secret parts.

Given an outbox (:class:`~citywatch.alerts.durable.DeliveryQueue`), each external sink with a
stable ``key`` (webhook, MQTT) delivers from the store instead (:class:`~citywatch.alerts.
durable.DurableLane`): retried until delivered or expired, nothing dropped at shutdown.  The
in-process sinks (console, the live hub) keep their bounded queues.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from citywatch.alerts.durable import DeliveryQueue, DurableLane
from citywatch.alerts.sink import (
    AlertEventLike,
    AlertSink,
    DeliveryError,
    PermanentDeliveryError,
    redact_text,
    sink_name,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all per event; the wait before try n+1 is
    ``min(max_delay_s, base_delay_s * 2**(n-1))`` scaled by a jitter in [0.5, 1]."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("RetryPolicy delays must be >= 0")

    def delay(self, failed_tries: int, rng: random.Random) -> float:
        raw = min(self.max_delay_s, self.base_delay_s * 2 ** max(0, failed_tries - 1))
        return raw * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class SinkStats:
    delivered: int
    failed: int  # gave up after the last retry, or a permanent error
    dropped: int  # pushed out of a full queue, or still queued when close() timed out
    retries: int  # extra tries made
    queued: int  # waiting now


def _describe(err: BaseException) -> str:
    if isinstance(err, DeliveryError):
        return str(err)  # sinks build these messages without secrets
    return f"{type(err).__name__}: {redact_text(str(err))}"


class _Lane:
    """One sink, its queue and its worker thread."""

    def __init__(
        self,
        sink: AlertSink,
        name: str,
        max_queue: int,
        retry: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self.sink = sink
        self.name = name
        self._max = max_queue
        self._retry = retry
        self._rng = rng
        self._queue: deque[AlertEventLike] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._abort = threading.Event()
        self._delivered = self._failed = self._dropped = self._retries = 0
        self._thread = threading.Thread(target=self._run, name=f"alerts-{name}", daemon=True)
        self._thread.start()

    def put(self, event: AlertEventLike) -> None:
        with self._cond:
            if self._closing:
                self._dropped += 1
                log.warning("alert sink %s is closed; alert %s dropped", self.name, event.event_id)
                return
            if len(self._queue) >= self._max:
                old = self._queue.popleft()
                self._dropped += 1
                log.warning(
                    "alert sink %s: queue full (%d); oldest alert %s dropped",
                    self.name,
                    self._max,
                    old.event_id,
                )
            self._queue.append(event)
            self._cond.notify()

    def stats(self) -> SinkStats:
        with self._cond:
            return SinkStats(
                self._delivered, self._failed, self._dropped, self._retries, len(self._queue)
            )

    def begin_close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def join(self, deadline: float) -> bool:
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    def abort(self) -> None:
        """Stop waiting between retries; whatever is still queued counts as dropped."""
        self._abort.set()
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self._dropped += left
            self._cond.notify_all()
        if left:
            log.warning(
                "alert sink %s: close timed out, %d queued alert(s) dropped", self.name, left
            )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                event = self._queue.popleft()
            self._deliver(event)

    def _deliver(self, event: AlertEventLike) -> None:
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                self.sink.publish(event)
            except PermanentDeliveryError as err:
                self._count(failed=1)
                log.error("alert %s to %s failed, not retried: %s", event.event_id, self.name, err)
                return
            except Exception as err:
                if attempt == attempts or self._abort.is_set():
                    self._count(failed=1)
                    log.error(
                        "alert %s to %s failed after %d tries: %s",
                        event.event_id,
                        self.name,
                        attempt,
                        _describe(err),
                    )
                    return
                wait = self._retry.delay(attempt, self._rng)
                log.warning(
                    "alert %s to %s failed (try %d/%d): %s; retrying in %.2fs",
                    event.event_id,
                    self.name,
                    attempt,
                    attempts,
                    _describe(err),
                    wait,
                )
                self._count(retries=1)
                if self._abort.wait(wait):
                    self._count(failed=1)
                    log.error("alert %s to %s abandoned at close", event.event_id, self.name)
                    return
            else:
                self._count(delivered=1)
                return

    def _count(self, *, delivered: int = 0, failed: int = 0, retries: int = 0) -> None:
        with self._cond:
            self._delivered += delivered
            self._failed += failed
            self._retries += retries


def durable_key(sink: AlertSink) -> str | None:
    """The sink's outbox key (webhook, MQTT), or None for an in-process sink."""
    key = getattr(sink, "key", None)
    return key if isinstance(key, str) and key else None


class Dispatcher:
    """Hands each alert to every sink without blocking the caller.

    ``publish`` only enqueues; each sink's thread delivers in order, retrying per ``retry``.
    With an ``outbox``, a sink whose ``key`` the outbox writes rows for delivers from there
    (``publish`` only wakes it: the rows were written with the alert), polling every
    ``poll_s`` for rows other processes stored and claiming ``batch`` rows at a time.
    A Dispatcher is itself an :class:`AlertSink`, so it can stand wherever one sink would.
    """

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        max_queue: int = 1000,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        outbox: DeliveryQueue | None = None,
        poll_s: float = 2.0,
        batch: int = 20,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"Dispatcher max_queue must be >= 1, got {max_queue}")
        policy = retry or RetryPolicy()
        rng = random.Random(seed)
        self._lanes: list[_Lane] = []
        self._durable: list[DurableLane] = []
        durable_keys = set(outbox.sinks) if outbox is not None else set()
        seen: dict[str, int] = {}
        for sink in sinks:
            base = sink_name(sink)
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}#{seen[base]}"
            lane_rng = random.Random(rng.random())
            key = durable_key(sink)
            if outbox is not None and key is not None and key in durable_keys:
                self._durable.append(
                    DurableLane(
                        sink, name, key, outbox, policy, lane_rng, batch=batch, poll_s=poll_s
                    )
                )
                log.info("alert sink %s delivers through the outbox as %s", name, key)
                continue
            if outbox is not None and key is not None:
                log.warning("alert sink %s (%s) has no outbox rows: not durable", name, key)
            self._lanes.append(_Lane(sink, name, max_queue, policy, lane_rng))
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def name(self) -> str:
        return "dispatcher"

    @property
    def sink_names(self) -> list[str]:
        return [lane.name for lane in self._lanes] + [lane.name for lane in self._durable]

    @property
    def durable_sinks(self) -> dict[str, str]:
        """``{sink name: outbox key}`` of the sinks that deliver from the outbox."""
        return {lane.name: lane.key for lane in self._durable}

    def publish(self, event: AlertEventLike) -> None:
        """Queue ``event`` for every in-process sink and wake the outbox lanes; never blocks
        on delivery."""
        for lane in self._lanes:
            lane.put(event)
        for durable in self._durable:
            durable.wake()

    def stats(self) -> dict[str, SinkStats]:
        """Delivered / failed / dropped / retries / queued, per sink name (for an outbox
        sink: counted by this process; ``queued`` is the rows in hand, never dropped)."""
        out = {lane.name: lane.stats() for lane in self._lanes}
        out.update({lane.name: lane.stats() for lane in self._durable})
        return out

    def close(self, timeout: float = 5.0) -> bool:
        """Deliver what is queued (within ``timeout`` seconds), then close every sink.

        Returns True when every queue drained in time.  Alerts still queued at the deadline are
        counted as dropped, except an outbox sink's: its rows stay pending in the store and the
        next run delivers them.  Safe to call twice.
        """
        with self._close_lock:
            if self._closed:
                return True
            self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        for lane in self._lanes:
            lane.begin_close()
        for durable in self._durable:
            durable.begin_close()
        drained = True
        for lane in self._lanes:
            if not lane.join(deadline):
                drained = False
                lane.abort()
        for durable in self._durable:
            durable.join(deadline - time.monotonic())
            left = durable.pending()
            if left:
                log.warning(
                    "alert sink %s: %d alert(s) wait in the outbox; the next run delivers them",
                    durable.name,
                    left,
                )
        # A lane stuck inside a slow publish gets a short grace after the abort.
        grace = time.monotonic() + 1.0
        for lane in self._lanes:
            lane.join(grace)
        for durable in self._durable:
            durable.join(grace - time.monotonic())
        closing: list[tuple[str, AlertSink]] = [(la.name, la.sink) for la in self._lanes]
        closing += [(la.name, la.sink) for la in self._durable]
        for name, sink in closing:
            try:
                sink.close()
            except Exception as err:
                log.error("closing alert sink %s failed: %s", name, _describe(err))
        return drained
