"""WebhookSink against a real HTTP server on 127.0.0.1 (started here, in a thread)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from citywatch.alerts.dispatcher import Dispatcher, RetryPolicy
from citywatch.alerts.sink import DeliveryError, PermanentDeliveryError
from citywatch.alerts.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookSink, sign, verify
from tests.alerts.fakes import face_event, plate_event

SECRET = "hmac-key-Zq81"
TOKEN = "tok-7f3a9c"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)


@dataclass
class Hook:
    url: str
    statuses: list[int] = field(default_factory=list)  # scripted replies, then 200
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append((self.path, dict(self.headers.items()), body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    port = server.server_address[1]
    state.url = f"http://127.0.0.1:{port}/hooks/citywatch?token={TOKEN}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_posts_signed_json_with_event_id(hook: Hook) -> None:
    sink = WebhookSink(hook.url, SECRET, timeout=5)
    sink.publish(plate_event(3))
    sink.close()
    assert len(hook.requests) == 1
    path, headers, body = hook.requests[0]
    assert path == f"/hooks/citywatch?token={TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert headers[EVENT_ID_HEADER] == "evt-0003"
    assert headers["Idempotency-Key"] == "evt-0003"
    assert verify(body, SECRET, headers[SIGNATURE_HEADER])
    assert not verify(body + b" ", SECRET, headers[SIGNATURE_HEADER])
    assert not verify(body, "other-key", headers[SIGNATURE_HEADER])
    doc = json.loads(body)
    assert doc["event_id"] == "evt-0003" and doc["plate"] == "CW123X"
    assert doc["read"] == "CW128X" and doc["distance"] == 1


def test_signature_header_format() -> None:
    sig = sign(b"{}", "k")
    assert sig.startswith("sha256=") and len(sig) == len("sha256=") + 64


def test_unsigned_when_no_secret(hook: Hook) -> None:
    sink = WebhookSink(hook.url, None)
    sink.publish(face_event(1))
    sink.close()
    assert SIGNATURE_HEADER not in hook.requests[0][1]


def test_500_is_retried_with_the_same_body_then_succeeds(hook: Hook) -> None:
    hook.statuses = [500]
    d = Dispatcher([WebhookSink(hook.url, SECRET)], retry=FAST)
    d.publish(face_event(5))
    assert d.close(10)
    (st,) = d.stats().values()
    assert (st.delivered, st.failed, st.retries) == (1, 0, 1)
    assert len(hook.requests) == 2
    (_, h1, b1), (_, h2, b2) = hook.requests
    assert b1 == b2 and h1[EVENT_ID_HEADER] == h2[EVENT_ID_HEADER] == "evt-0005"
    assert verify(b2, SECRET, h2[SIGNATURE_HEADER])


def test_client_errors_are_permanent(hook: Hook) -> None:
    hook.statuses = [400]
    sink = WebhookSink(hook.url, SECRET)
    with pytest.raises(PermanentDeliveryError, match="HTTP 400"):
        sink.publish(face_event(1))
    hook.statuses = [429]
    with pytest.raises(DeliveryError, match="HTTP 429") as info:
        sink.publish(face_event(2))
    assert not isinstance(info.value, PermanentDeliveryError)
    sink.close()


def test_a_delivered_event_is_not_posted_again(hook: Hook) -> None:
    sink = WebhookSink(hook.url, SECRET)
    sink.publish(face_event(1))
    sink.publish(face_event(1))
    sink.publish(face_event(2))
    sink.close()
    assert [h[EVENT_ID_HEADER] for _, h, _ in hook.requests] == ["evt-0001", "evt-0002"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_secrets_never_reach_logs_errors_or_repr(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    hook.statuses = [500, 500, 500]
    userinfo_url = hook.url.replace("http://", "http://alice:pa55word@")
    dead_url = f"http://alice:pa55word@127.0.0.1:{_closed_port()}/h?token={TOKEN}"
    sinks = [WebhookSink(userinfo_url, SECRET), WebhookSink(dead_url, SECRET, timeout=1)]
    with caplog.at_level(logging.DEBUG):
        d = Dispatcher(sinks, retry=FAST)
        d.publish(face_event(9))
        d.close(10)
    stats = d.stats()
    assert [s.failed for s in stats.values()] == [1, 1]
    text = caplog.text + repr(sinks) + repr(stats)
    assert "127.0.0.1" in caplog.text  # the origin is there for diagnosis
    for secret in (TOKEN, "pa55word", "alice", SECRET, "/hooks/citywatch"):
        assert secret not in text


def test_rejects_non_http_urls_without_echoing_them() -> None:
    with pytest.raises(ValueError) as info:
        WebhookSink(f"ftp://u:pw@host/x?token={TOKEN}")
    assert TOKEN not in str(info.value) and "pw" not in str(info.value)
