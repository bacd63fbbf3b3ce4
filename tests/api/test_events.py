from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from citywatch.alerts.events import AlertEvent
from citywatch.api.hub import EventHub, HubMessage
from citywatch.api.routes.events import event_frames, format_message
from citywatch.api.security import Permission, Principal, Role
from tests.api.routes_support import Headers, headers

__all__ = ["headers"]


def _event(i: int = 1, **kw: Any) -> AlertEvent:
    base: dict[str, Any] = {
        "id": i,
        "event_id": f"e{i}",
        "kind": "face",
        "camera_id": "cam-1",
        "status": "pending",
        "score": 0.95,
        "seen_at": dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC),
        "first_seen_s": 1.0,
        "last_seen_s": 2.0,
        "track_id": 7,
        "subject_name": "Jane Roe",
        "watchlist": "missing",
        "snapshot_path": "face/e1/e1.jpg",
    }
    base.update(kw)
    return AlertEvent(**base)


def test_publish_from_other_threads_reaches_every_subscriber() -> None:
    async def main() -> list[list[int]]:
        hub = EventHub()
        subs = [hub.subscribe(), hub.subscribe()]
        threads = [threading.Thread(target=lambda k=k: hub.publish(_event(k))) for k in range(1, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = []
        for sub in subs:
            ids = []
            for _ in range(3):
                msg = await sub.get(timeout=2)
                assert msg is not None and msg.event == "alert"
                ids.append(msg.data["id"])
            got.append(sorted(ids))
        assert hub.stats().published == 3 and hub.stats().subscribers == 2
        hub.close()
        return got

    assert asyncio.run(main()) == [[1, 2, 3], [1, 2, 3]]


def test_a_slow_subscriber_loses_the_oldest_events() -> None:
    async def main() -> None:
        hub = EventHub(queue_size=2)
        sub = hub.subscribe()
        for i in range(1, 6):
            hub.publish(_event(i))
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks run
        first, second = await sub.get(0.5), await sub.get(0.5)
        assert first is not None and second is not None
        assert [first.data["id"], second.data["id"]] == [4, 5]
        assert sub.dropped == 3 and hub.stats().dropped == 3
        assert await sub.get(0.01) is None  # nothing left: a timeout, not an error

    asyncio.run(main())


def test_close_ends_subscriptions_and_ignores_later_events() -> None:
    async def main() -> None:
        hub = EventHub(queue_size=1)
        sub = hub.subscribe()
        hub.publish(_event(1))
        hub.close()
        hub.publish(_event(2))
        with pytest.raises(EOFError):
            await sub.get(1)
        late = hub.subscribe()
        with pytest.raises(EOFError):
            await late.get(1)
        assert hub.stats().subscribers == 0
        hub.close()  # twice is fine

    asyncio.run(main())


def test_a_subscriber_on_a_closed_loop_is_dropped() -> None:
    hub = EventHub()

    async def subscribe() -> None:
        hub.subscribe()

    asyncio.run(subscribe())  # the loop closes with the subscription still registered
    hub.publish(_event(1))
    assert hub.stats().subscribers == 0


def test_frames_filter_by_permission_and_send_heartbeats() -> None:
    auditor = Principal(1, "a", Role.AUDITOR, "user")
    operator = Principal(2, "o", Role.OPERATOR, "user")

    async def frames(who: Principal) -> list[str]:
        hub = EventHub()
        sub = hub.subscribe()
        hub.publish(_event(1))
        hub.publish_message("secret", {"x": 1}, Permission.AUDIT_READ)
        out: list[str] = []
        gen = event_frames(sub, who, heartbeat_s=0.01)
        out.append(await gen.__anext__())  # greeting
        out.append(await gen.__anext__())
        out.append(await gen.__anext__())
        hub.close()
        out.extend([f async for f in gen])
        return out

    op = asyncio.run(frames(operator))
    assert op[0].startswith("retry: 5000")
    assert op[1].startswith("id: ") and "-1\nevent: alert\ndata: {" in op[1]
    assert op[2] == ": heartbeat\n\n"  # the audit-only message was not sent
    assert all("secret" not in f for f in op)
    aud = asyncio.run(frames(auditor))
    assert "event: secret" in aud[1] and all("event: alert" not in f for f in aud)


def _drain(sub: Any) -> list[int]:
    out: list[int] = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait().data["id"])
    return out


def test_a_returning_subscriber_gets_what_it_missed_once_and_in_order() -> None:
    async def run() -> dict[str, list[int]]:
        hub = EventHub(replay_size=3)
        first = hub.subscribe()
        for i in range(1, 6):
            hub.publish(_event(i))
        await asyncio.sleep(0)  # let the loop deliver
        seen = _drain(first)
        assert seen == [1, 2, 3, 4, 5]
        last_id = f"{hub.epoch}-2"
        first.close()  # the stream broke after the client had read message 2
        back = hub.subscribe(last_id)
        hub.publish(_event(6))
        await asyncio.sleep(0)
        # an id from before a server restart; 3 has left the replay buffer (size 3)
        other_epoch = hub.subscribe("deadbeef-2")
        garbage = hub.subscribe("not-an-id")
        fresh = hub.subscribe()
        return {
            "back": _drain(back),
            "restart": _drain(other_epoch),
            "garbage": _drain(garbage),
            "fresh": _drain(fresh),
        }

    got = asyncio.run(run())
    assert got["back"] == [3, 4, 5, 6]  # 3-5 replayed, then 6 live; nothing twice
    assert got["restart"] == [4, 5, 6]  # everything still kept
    assert got["garbage"] == [] and got["fresh"] == []


def test_the_stream_resumes_from_last_event_id(
    api_app: FastAPI, client: TestClient, headers: Headers
) -> None:
    hub = EventHub()
    api_app.state.hub = hub
    hub.publish(_event(1))
    hub.publish(_event(2))
    sent = {**headers(Role.OPERATOR), "Last-Event-ID": f"{hub.epoch}-1"}
    result: dict[str, Any] = {}

    def listen() -> None:
        result["r"] = client.get("/api/v1/events/stream", headers=sent)

    t = threading.Thread(target=listen)
    t.start()
    deadline = time.monotonic() + 10
    while hub.stats().subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.publish(_event(3))
    hub.close()
    t.join(10)
    r = result["r"]
    assert r.status_code == 200
    ids = [json.loads(line[6:])["id"] for line in r.text.splitlines() if line.startswith("data: ")]
    assert ids == [2, 3]
    assert f"id: {hub.epoch}-2\n" in r.text


def test_format_message_hides_media_paths() -> None:
    msg = HubMessage(9, "alert", _event(4).to_json())
    frame = format_message(msg)
    head, data = frame.rstrip("\n").rsplit("data: ", 1)
    assert head == "id: 9\nevent: alert\n"
    payload = json.loads(data)
    assert payload["snapshot_url"] == "/api/v1/alerts/4/snapshot.jpg"
    assert "snapshot_path" not in payload and "face/e1" not in frame
    assert payload["label"] == "possible match" and payload["subject_name"] == "Jane Roe"


def test_stream_endpoint_delivers_alerts_and_reviews(
    api_app: FastAPI, client: TestClient, headers: Headers
) -> None:
    hub = EventHub()
    api_app.state.hub = hub
    result: dict[str, Any] = {}

    def listen() -> None:
        r = client.get("/api/v1/events/stream", headers=headers(Role.OPERATOR))
        result["status"] = r.status_code
        result["type"] = r.headers.get("content-type", "")
        result["text"] = r.text

    op_headers = headers(Role.OPERATOR)  # created here: the thread must not hit the DB first
    assert op_headers
    t = threading.Thread(target=listen)
    t.start()
    deadline = time.monotonic() + 10
    while hub.stats().subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.stats().subscribers == 1
    hub.publish(_event(5))
    hub.publish_message("alert.reviewed", {"id": 5, "status": "confirmed"})
    hub.close()  # events already published are still delivered before the end
    t.join(10)
    assert not t.is_alive()
    assert result["status"] == 200
    assert result["type"].startswith("text/event-stream")
    text = result["text"]
    assert "event: alert\n" in text and '"id":5' in text
    assert "event: alert.reviewed\n" in text and '"status":"confirmed"' in text
    assert hub.stats().subscribers == 0


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.AUDITOR, Role.ADMIN, Role.SCRAPER])
def test_only_live_viewers_get_the_stream(client: TestClient, headers: Headers, role: Role) -> None:
    assert client.get("/api/v1/events/stream", headers=headers(role)).status_code == 403


def test_stream_without_hub_is_503(api_app: FastAPI, client: TestClient, headers: Headers) -> None:
    api_app.state.hub = None
    r = client.get("/api/v1/events/stream", headers=headers(Role.OPERATOR))
    assert r.status_code == 503
