"""``GET /live``: the event feed for the dashboard's pages, as Server-Sent Events, under the
session cookie (an ``EventSource`` cannot send a bearer token). The same stream as
``/api/events``; it ends when the session does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from tickwork.api.deps import get_context
from tickwork.api.errors import ApiError
from tickwork.api.events import visible_to
from tickwork.api.routes.events import EventStream, stream
from tickwork.dashboard.web import SESSION_COOKIE, LookerDep, sessions_of
from tickwork.errors import StoreError
from tickwork.service.events import Cursor

router = APIRouter(include_in_schema=False)


@router.get("/live", response_class=EventStream)
async def live(
    request: Request,
    who: LookerDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStream:
    ctx = get_context(request)
    feed = ctx.events
    if feed is None:
        raise ApiError(503, "unavailable", "live events are off in this process")
    since = None if last_event_id is None else Cursor.decode(last_event_id, field="Last-Event-ID")
    sub = await feed.subscribe(visible_to(who.principal), since=since)
    cookie = request.cookies.get(SESSION_COOKIE) or getattr(request.state, "new_session", None)

    async def allowed() -> bool:
        try:
            return await sessions_of(request).resolve(cookie) is not None
        except StoreError:
            return True  # an outage is not a logout; the feed keeps retrying

    return EventStream(stream(feed, sub, allowed, ctx.event_heartbeat_seconds), sub.close)
