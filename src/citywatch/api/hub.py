"""The live event hub: an alert sink that fans events out to the browsers watching the console.

:class:`EventHub` is fed from worker threads (the alert :class:`~citywatch.alerts.dispatcher.
Dispatcher` calls :meth:`EventHub.publish` on its own thread) and read by asyncio code (the SSE
route).  Each subscriber has a bounded queue on its own event loop; an event is handed over with
``loop.call_soon_threadsafe``.  A subscriber that cannot keep up loses its *oldest* waiting
events (fresh alerts matter more than stale ones) and the loss is counted.

A browser whose stream broke reconnects with ``Last-Event-ID``; the hub keeps the last
``replay_size`` messages and hands a returning subscriber those it missed.  Event ids are
``<epoch>-<seq>``: the epoch is new for every hub (every server start), so an id from before a
restart replays everything still kept instead of silently skipping the new messages.

Every message carries the permission a principal needs to receive it, so the stream route can
filter per subscriber (deny by default).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from citywatch.alerts.sink import AlertEventLike
from citywatch.policy.access import Permission

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256
DEFAULT_REPLAY_SIZE = 256


@dataclass(frozen=True, slots=True)
class HubMessage:
    """One server-sent event: its type (``alert``, ``alert.reviewed``), id and JSON data."""

    seq: int
    event: str
    data: dict[str, Any]
    permission: Permission = Permission.LIVE_VIEW
    epoch: str = ""

    @property
    def event_id(self) -> str:
        """The SSE ``id``: ``<epoch>-<seq>`` (just the number for a message without epoch)."""
        return f"{self.epoch}-{self.seq}" if self.epoch else str(self.seq)


@dataclass(frozen=True, slots=True)
class HubStats:
    subscribers: int
    published: int  # messages handed to the hub
    dropped: int  # messages pushed out of a full subscriber queue
    queued: int  # messages waiting in subscriber queues now


_CLOSED = object()  # put in every queue by close(): the stream ends


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue on its event loop; read with :meth:`get`."""

    hub: EventHub
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[object]
    dropped: int = 0
    closed: bool = field(default=False)

    async def get(self, timeout: float | None = None) -> HubMessage | None:
        """The next message; None after ``timeout`` seconds without one.

        Raises :class:`EOFError` once the hub is closed (or the subscription ended)."""
        if self.closed and self.queue.empty():
            raise EOFError("event hub closed")
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self.closed = True
            raise EOFError("event hub closed")
        assert isinstance(item, HubMessage)
        return item

    def _offer(self, item: object) -> None:
        """Runs on the subscriber's loop: enqueue, dropping the oldest when full."""
        if self.closed:
            return
        if self.queue.full():  # drop the oldest (closing must always get through)
            self.queue.get_nowait()
            self.dropped += 1
            self.hub._count_drop()
        self.queue.put_nowait(item)

    def close(self) -> None:
        self.hub.unsubscribe(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()


class EventHub:
    """Alert sink (``publish``/``close``) that fans out to asyncio subscribers; thread-safe."""

    name = "hub"

    def __init__(
        self, *, queue_size: int = DEFAULT_QUEUE_SIZE, replay_size: int = DEFAULT_REPLAY_SIZE
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"EventHub: queue_size must be at least 1, got {queue_size}")
        if replay_size < 0:
            raise ValueError(f"EventHub: replay_size must be >= 0, got {replay_size}")
        self._queue_size = queue_size
        self.epoch = secrets.token_hex(4)
        self._recent: deque[HubMessage] = deque(maxlen=replay_size)
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._seq = itertools.count(1)
        self._published = 0
        self._dropped = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"EventHub(subscribers={len(self._subs)}, closed={self._closed})"

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        """A new subscription on the running event loop (call from async code).

        With ``last_event_id`` (the browser's ``Last-Event-ID`` after a broken stream) the
        kept messages published after that one are queued first, in order, none twice."""
        loop = asyncio.get_running_loop()
        sub = Subscription(self, loop, asyncio.Queue(maxsize=self._queue_size))
        with self._lock:
            if self._closed:
                sub.closed = True
                return sub
            self._subs.append(sub)
            backlog = self._missed(last_event_id) if last_event_id is not None else []
        for message in backlog:  # we are on sub.loop: later publishes arrive after these
            sub._offer(message)
        return sub

    def _missed(self, last_event_id: str) -> list[HubMessage]:
        """Kept messages after ``last_event_id``; all kept ones for an id of another epoch
        (the server restarted); none for an id that cannot be read."""
        epoch, _, seq_text = last_event_id.strip().rpartition("-")
        if not seq_text.isdigit() or len(seq_text) > 18:
            return []
        if epoch != self.epoch:
            return list(self._recent)
        last = int(seq_text)
        return [m for m in self._recent if m.seq > last]

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        sub.closed = True

    def publish(self, event: AlertEventLike) -> None:
        """A new alert (from any thread): ``event: alert`` with ``event.to_json()``."""
        self.publish_message("alert", event.to_json())

    def publish_message(
        self, event: str, data: dict[str, Any], permission: Permission = Permission.LIVE_VIEW
    ) -> None:
        """Hand one message to every subscriber (from any thread); never blocks."""
        with self._lock:
            if self._closed:
                return
            message = HubMessage(next(self._seq), event, data, permission, self.epoch)
            self._recent.append(message)
            self._published += 1
            subs = list(self._subs)
        for sub in subs:
            self._deliver(sub, message)

    def _deliver(self, sub: Subscription, item: object) -> None:
        try:
            sub.loop.call_soon_threadsafe(sub._offer, item)
        except RuntimeError:  # the subscriber's loop is closed: it is gone
            self.unsubscribe(sub)

    def _count_drop(self) -> None:
        with self._lock:
            self._dropped += 1

    def stats(self) -> HubStats:
        with self._lock:
            subs = list(self._subs)
            return HubStats(
                subscribers=len(subs),
                published=self._published,
                dropped=self._dropped,
                queued=sum(s.queue.qsize() for s in subs),
            )

    def close(self) -> None:
        """End every subscription (their streams finish); later publishes are ignored."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            self._deliver(sub, _CLOSED)
