"""The sink contract, the event shape sinks rely on, delivery errors and URL redaction.

A sink delivers one alert somewhere (console, webhook, MQTT).  It raises :class:`DeliveryError`
when a delivery failed and may succeed later (the :class:`~citywatch.alerts.dispatcher.Dispatcher`
retries with backoff) and :class:`PermanentDeliveryError` when retrying cannot help (a 4xx reply).
Error messages a sink raises must already be free of secrets: they are logged as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit


@runtime_checkable
class AlertEventLike(Protocol):
    """What sinks read from an alert (:class:`citywatch.alerts.events.AlertEvent` fits it)."""

    @property
    def event_id(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def status(self) -> Any: ...
    @property
    def score(self) -> float | None: ...
    @property
    def subject_name(self) -> str | None: ...
    @property
    def watchlist(self) -> str | None: ...
    @property
    def plate(self) -> str | None: ...
    @property
    def read(self) -> str | None: ...
    @property
    def distance(self) -> int | None: ...
    @property
    def seen_at(self) -> dt.datetime: ...

    def to_json(self) -> dict[str, Any]: ...


class AlertSink(Protocol):
    """Delivers alerts somewhere.  ``publish`` may block (the dispatcher runs it on its own
    thread) and raises :class:`DeliveryError` on failure; ``close`` releases connections."""

    def publish(self, event: AlertEventLike) -> None: ...
    def close(self) -> None: ...


class DeliveryError(RuntimeError):
    """Delivery failed; a retry may succeed.  The message holds no secrets."""


class PermanentDeliveryError(DeliveryError):
    """Delivery failed and retrying the same event cannot succeed."""


def sink_name(sink: object) -> str:
    """A sink's display name: its ``name`` attribute, else its class name."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__


def redact_url(url: str) -> str:
    """``url`` with user info and query string masked (``***``) and the fragment dropped.

    The path is kept; callers that log a URL whose path may hold a token (Slack-style hooks)
    should log :func:`url_origin` instead.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        netloc = f"***@{netloc}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: nothing that could carry a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}"


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str) -> str:
    """Mask every URL inside free text down to its origin (for messages of foreign exceptions)."""
    return _URL_IN_TEXT.sub(lambda m: url_origin(m.group(0)) + "/***", text)
