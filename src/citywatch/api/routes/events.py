"""``GET /events/stream``: live alerts as Server-Sent Events, for principals with live view.

Each message is ``event: alert`` (or ``alert.reviewed``) with an ``id`` and one line of JSON
``data``; a comment line (``: heartbeat``) every few seconds keeps proxies from closing an idle
stream.  Messages are filtered per subscriber by the permission each carries (deny by default).
The stream ends when the client goes away or the hub closes (server shutdown).  A client that
reconnects with ``Last-Event-ID`` first gets the messages it missed that the hub still keeps.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import StreamingResponse

from citywatch.api.hub import EventHub, HubMessage, Subscription
from citywatch.api.schemas import API, ERRORS
from citywatch.api.security import Permission, Principal, requires

router = APIRouter(prefix="/events", tags=["events"], responses=ERRORS)

DEFAULT_HEARTBEAT_S = 15.0
SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream of server-sent events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    503: {"description": "No live events on this server"},
}


def format_message(message: HubMessage) -> str:
    """One SSE frame.  JSON holds no raw newlines, so ``data`` is a single line."""
    data = dict(message.data)
    if message.event == "alert" and data.get("snapshot_path"):
        data["snapshot_url"] = f"{API}/alerts/{data.get('id')}/snapshot.jpg"
    data.pop("snapshot_path", None)  # media paths stay on the server
    body = json.dumps(data, separators=(",", ":"), default=str)
    return f"id: {message.event_id}\nevent: {message.event}\ndata: {body}\n\n"


async def event_frames(
    sub: Subscription, principal: Principal, heartbeat_s: float
) -> AsyncIterator[str]:
    """What the stream sends: a greeting, then messages and heartbeats until the hub closes."""
    try:
        yield "retry: 5000\n: connected\n\n"
        while True:
            try:
                message = await sub.get(timeout=heartbeat_s)
            except EOFError:
                return
            if message is None:
                yield ": heartbeat\n\n"
            elif principal.may(message.permission):
                yield format_message(message)
    finally:
        sub.close()


def _last_event_id(request: Request) -> str | None:
    """The ``Last-Event-ID`` header (browsers send it when they reconnect), bounded."""
    value = request.headers.get("last-event-id")
    return value[:64] if value else None


@router.get("/stream", response_class=StreamingResponse, responses=SSE)
async def stream(
    request: Request,
    principal: Annotated[Principal | None, Depends(requires(Permission.LIVE_VIEW))],
) -> StreamingResponse:
    """Live alerts and reviews (``text/event-stream``)."""
    hub = getattr(request.app.state, "hub", None)
    if not isinstance(hub, EventHub) or principal is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no live events on this server")
    heartbeat = float(getattr(request.app.state, "sse_heartbeat_s", DEFAULT_HEARTBEAT_S))
    return StreamingResponse(
        event_frames(hub.subscribe(_last_event_id(request)), principal, heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
