"""POST each alert as JSON, signed with HMAC-SHA256 over the exact body.

Headers: ``X-Citywatch-Signature: sha256=<hex>`` (when a secret is set),
``X-Citywatch-Alert-Id`` (the alert's id), ``X-Citywatch-Event-Id`` and ``Idempotency-Key``
(both the event id, the same on every retry, so a receiver can drop duplicates: delivery is at
least once).  The sink also remembers the ids it delivered recently and does not post the same
event twice.  The URL may carry a token: it appears in no log line,
error or repr; the sink is named by the URL's origin only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict

import httpx

from citywatch.alerts.durable import webhook_key
from citywatch.alerts.payload import encode_payload
from citywatch.alerts.sink import (
    AlertEventLike,
    DeliveryError,
    PermanentDeliveryError,
    redact_text,
    url_origin,
)

SIGNATURE_HEADER = "X-Citywatch-Signature"
EVENT_ID_HEADER = "X-Citywatch-Event-Id"
ALERT_ID_HEADER = "X-Citywatch-Alert-Id"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


class RedactUrlsFilter(logging.Filter):
    """Rewrites a record's message with every URL cut to its origin.

    httpx logs each request's full URL at INFO ("HTTP Request: POST https://...?token=...");
    this filter on the ``httpx`` logger keeps webhook tokens and user info out of the logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_httpx_redaction() -> None:
    """Attach :class:`RedactUrlsFilter` to the ``httpx`` logger once (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrlsFilter) for f in logger.filters):
        logger.addFilter(RedactUrlsFilter())


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=<hex hmac>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """Constant-time check of a received signature header (for receivers and tests)."""
    return hmac.compare_digest(sign(body, secret), header)


class WebhookSink:
    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout: float = 5.0,
        *,
        client: httpx.Client | None = None,
        remember: int = 4096,
        key: str | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook {url_origin(url)}: URL must start with http:// or https://")
        install_httpx_redaction()
        self._url = url
        self._secret = secret
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._remember = max(1, remember)
        self.name = f"webhook:{url_origin(url)}"
        #: the outbox key (:func:`~citywatch.alerts.durable.webhook_key` of the configured URL)
        self.key = key or webhook_key(url)

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r}, signed={self._secret is not None})"

    def publish(self, event: AlertEventLike) -> None:
        event_id = str(event.event_id)
        if event_id in self._delivered:
            return
        body = encode_payload(event)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event_id,
            ALERT_ID_HEADER: str(getattr(event, "id", "")),
            "Idempotency-Key": event_id,
            "User-Agent": "citywatch-alerts/1",
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        try:
            resp = self._client.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise DeliveryError(f"{self.name}: timed out") from None
        except httpx.HTTPError as err:
            # httpx messages can quote the URL: name the error class only.
            raise DeliveryError(f"{self.name}: {type(err).__name__}") from None
        status = resp.status_code
        if 200 <= status < 300:
            self._remember_id(event_id)
            return
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise DeliveryError(f"{self.name}: HTTP {status}")
        raise PermanentDeliveryError(f"{self.name}: HTTP {status} (not retried)")

    def _remember_id(self, event_id: str) -> None:
        self._delivered[event_id] = None
        while len(self._delivered) > self._remember:
            self._delivered.popitem(last=False)

    def close(self) -> None:
        if self._own_client:
            self._client.close()
