"""Durable delivery to an external sink (webhook, MQTT) from an outbox in the store.

Every alert is written with one outbox row per external sink in the alert's own transaction
(:mod:`citywatch.services.outbox`).  A :class:`DurableLane` per sink claims the rows that are
due, sends them, and marks each delivered; a failed try puts the row back with its own
exponential backoff with jitter, and the lane itself backs off (one failed try per round while
the sink is down, not one per waiting alert).  When the sink answers again, every row waiting
on a backoff is due at once.  Nothing is lost at shutdown: the rows stay pending and the next
process to run delivers them.  Delivery is at least once: a process that dies between sending
and marking sends that alert again after its claim's lease ends, so receivers deduplicate by
the alert's id (``id`` and ``event_id`` in the payload).

The lane knows the outbox only through the :class:`DeliveryQueue` protocol, so this layer
holds no SQL.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from citywatch.alerts.sink import (
    AlertEventLike,
    AlertSink,
    DeliveryError,
    PermanentDeliveryError,
    redact_text,
)
from citywatch.config.alerts import AlertsConfig

if TYPE_CHECKING:
    from citywatch.alerts.dispatcher import RetryPolicy, SinkStats

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300


def webhook_key(configured_url: str) -> str:
    """A webhook's stable outbox key: a hash of the URL as configured (``${ENV}`` references
    unexpanded, so every process derives it from the config alone; no host, no token)."""
    return "webhook-" + hashlib.sha256(configured_url.encode("utf-8")).hexdigest()[:12]


def mqtt_key(host: str, port: int, topic: str) -> str:
    """The MQTT broker's stable outbox key (a hash of host, port and base topic)."""
    return "mqtt-" + hashlib.sha256(f"{host}:{port}/{topic}".encode()).hexdigest()[:12]


def unique_keys(keys: Sequence[str]) -> list[str]:
    """``keys`` with a repeated one numbered (``-2``, ``-3``...): one row per configured sink."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append(key if seen[key] == 1 else f"{key}-{seen[key]}")
    return out


def durable_sink_keys(cfg: AlertsConfig) -> list[str]:
    """The outbox key of every webhook and of the MQTT broker, in config order: from the
    config alone (no environment, no connection), so a camera process writes rows for the
    same keys the delivering process reads."""
    keys = [webhook_key(hook.url.get_secret_value()) for hook in cfg.webhooks]
    if cfg.mqtt is not None:
        keys.append(mqtt_key(cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.topic))
    return unique_keys(keys)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed outbox row: the alert to send, the tries made before, the claim's token."""

    row_id: int
    event: AlertEventLike
    attempts: int
    claim: str


class DeliveryQueue(Protocol):
    """The outbox as a delivery lane sees it (:class:`citywatch.services.outbox.AlertOutbox`)."""

    @property
    def sinks(self) -> Sequence[str]: ...
    def claim(self, sink: str, limit: int) -> list[OutboxItem]: ...
    def delivered(self, item: OutboxItem) -> None: ...
    def retry_later(self, item: OutboxItem, error: str, delay_s: float) -> None: ...
    def give_up(self, item: OutboxItem, error: str) -> None: ...
    def release(self, items: Sequence[OutboxItem]) -> None: ...
    def due_again(self, sink: str) -> int: ...
    def pending(self, sink: str) -> int: ...


def short_error(err: BaseException, sink_name: str) -> str:
    """What is stored and shown for a failed try: the sink's own message without its name
    (the key already says which sink), or a foreign exception's class and redacted text."""
    if isinstance(err, DeliveryError):
        text = str(err)
        if text.startswith(sink_name + ": "):
            text = text[len(sink_name) + 2 :]
    else:
        text = f"{type(err).__name__}: {redact_text(str(err))}"
    return text[:MAX_ERROR_CHARS]


@dataclass(frozen=True, slots=True)
class StepResult:
    claimed: int
    delivered: int
    failed: bool  # a try failed: the sink looks down, the lane backs off
    again: bool = False  # the sink answered again: rows that waited on a backoff are due now


class DurableLane:
    """One external sink delivering from the outbox, on its own thread.

    :meth:`step` is one round (claim what is due, send it in order, stop at the first
    retryable failure); the thread runs rounds, waiting ``poll_s`` between them (a
    :meth:`wake` from a new alert cuts that short) or, after a failure, the lane's backoff
    (which a wake does not cut short).  Tests drive :meth:`step` directly with ``start=False``.
    """

    def __init__(
        self,
        sink: AlertSink,
        name: str,
        key: str,
        queue: DeliveryQueue,
        retry: RetryPolicy,
        rng: random.Random,
        *,
        batch: int = 20,
        poll_s: float = 2.0,
        start: bool = True,
    ) -> None:
        if batch < 1 or poll_s <= 0:
            raise ValueError(f"alert sink {name}: batch must be >= 1 and poll_s > 0")
        self.sink = sink
        self.name = name
        self.key = key
        self._queue = queue
        self._retry = retry
        self._rng = rng
        self._batch = batch
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self._woken = False
        self._stop = threading.Event()
        self._failing = 0  # consecutive failed rounds
        self._fresh = True  # no delivery yet: an earlier run may have left rows on a backoff
        self._pulled_forward = False  # the last try made waiting rows due at once
        self._db_errors = 0
        self._in_hand = 0
        self._delivered = self._failed = self._retries = 0
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name=f"alerts-{name}", daemon=True)
            self._thread.start()

    # --- the dispatcher's side --------------------------------------------------------------
    def wake(self) -> None:
        """A new alert was stored: look for due rows now (unless backing off)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def stats(self) -> SinkStats:
        from citywatch.alerts.dispatcher import SinkStats

        with self._cond:
            return SinkStats(self._delivered, self._failed, 0, self._retries, self._in_hand)

    def begin_close(self) -> None:
        self._stop.set()
        self.wake()

    def join(self, timeout: float) -> bool:
        if self._thread is None:
            return True
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    def pending(self) -> int | None:
        """Rows of this sink still pending in the outbox (None when the store is away)."""
        try:
            return self._queue.pending(self.key)
        except Exception as err:
            log.warning("alert sink %s: outbox not readable (%s)", self.name, type(err).__name__)
            return None

    # --- one round --------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Claim the due rows and send them in order; returns what happened."""
        items = self._queue.claim(self.key, self._batch)
        with self._cond:
            self._in_hand = len(items)
        delivered = 0
        again = False
        try:
            for i, item in enumerate(items):
                if self._stop.is_set():
                    self._queue.release(items[i:])  # still pending: the next run sends them
                    break
                outcome = self._send(item)
                if outcome == "retry":
                    self._queue.release(items[i + 1 :])
                    return StepResult(len(items), delivered, True)
                delivered += outcome == "delivered"
                again = again or self._pulled_forward
        finally:
            with self._cond:
                self._in_hand = 0
        return StepResult(len(items), delivered, False, again)

    def _send(self, item: OutboxItem) -> Literal["delivered", "refused", "retry"]:
        """One try: delivered, refused for good (a 4xx), or failed and to be tried again."""
        event = item.event
        self._pulled_forward = False
        try:
            self.sink.publish(event)
        except PermanentDeliveryError as err:
            self._queue.give_up(item, short_error(err, self.name))
            self._count(failed=1)
            log.error("alert %s to %s refused, not retried: %s", event.event_id, self.name, err)
            self._recovered()  # the sink answered: it is up, go on with the next row
            return "refused"
        except Exception as err:
            self._failing += 1
            delay = self._retry.delay(item.attempts + 1, self._rng)
            message = short_error(err, self.name)
            self._queue.retry_later(item, message, delay)
            self._count(retries=1)
            log.warning(
                "alert %s to %s failed (try %d): %s; it stays in the outbox, next try in %.1fs",
                event.event_id,
                self.name,
                item.attempts + 1,
                message,
                delay,
            )
            return "retry"
        self._queue.delivered(item)
        self._count(delivered=1)
        self._recovered()
        return "delivered"

    def _recovered(self) -> None:
        """The sink answered: rows waiting on a backoff (this run's or an earlier one's) are
        due now instead of at their time."""
        if self._failing or self._fresh:
            was_failing, self._failing, self._fresh = self._failing, 0, False
            due = self._queue.due_again(self.key)
            self._pulled_forward = due > 0
            if was_failing or due:
                log.info("alert sink %s answers again; %d waiting alert(s) due now", self.name, due)

    def _count(self, *, delivered: int = 0, failed: int = 0, retries: int = 0) -> None:
        with self._cond:
            self._delivered += delivered
            self._failed += failed
            self._retries += retries

    # --- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.step()
                if self._db_errors:
                    log.info("alert sink %s: the outbox is readable again", self.name)
                self._db_errors = 0
            except Exception as err:  # the store is away: the rows wait there
                self._db_errors += 1
                wait = self._retry.delay(self._db_errors, self._rng)
                if self._db_errors == 1:
                    log.warning(
                        "alert sink %s: outbox unavailable (%s); retrying every few seconds",
                        self.name,
                        type(err).__name__,
                    )
                self._sleep(max(wait, 0.05), wakeable=False)
                continue
            if result.failed:
                self._sleep(self._retry.delay(self._failing, self._rng), wakeable=False)
            elif result.claimed < self._batch and not result.again:
                self._sleep(self._poll_s, wakeable=True)

    def _sleep(self, seconds: float, *, wakeable: bool) -> None:
        if not wakeable:
            self._stop.wait(seconds)
            with self._cond:
                self._woken = False  # alerts stored meanwhile are claimed by the next round
            return
        with self._cond:
            if not self._woken and not self._stop.is_set():
                self._cond.wait(seconds)
            self._woken = False
