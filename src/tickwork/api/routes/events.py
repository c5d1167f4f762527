"""``GET /api/events``: the core event feed as Server-Sent Events, one subscriber per stream
(see ``tickwork.service.events`` and ``tickwork.api.events``)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tickwork.api.deps import ApiContext, authenticate, bearer_of, get_context
from tickwork.api.errors import ApiError
from tickwork.api.events import sse, visible_to
from tickwork.domain.access import LOCAL, Principal
from tickwork.errors import AuthError, StoreError
from tickwork.service.events import Cursor, EventFeed, Subscription

router = APIRouter(tags=["events"])

# How long a reconnecting EventSource waits (milliseconds), sent once per stream.
RETRY_MS = 2000
EVENT_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "A text/event-stream: events `run.started`, `run.finished`, `job.created`, "
            "`job.changed`, `processor.up`, `processor.down`, each with data "
            "`{type, at, data}` and an id to resume from (`Last-Event-ID`); comments "
            "`: heartbeat <id>` when idle (everything up to that id has been sent)."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class EventStream(StreamingResponse):
    """A streamed response that calls ``on_close`` however it ends, even when the client
    left before the first byte (the generator's own ``finally`` would then never run)."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


async def still_allowed(request: Request, ctx: ApiContext, principal: Principal) -> bool:
    """Whether the caller's credentials still hold (a revoked token ends its stream)."""
    try:
        if principal.token_id is not None:
            credential = bearer_of(request)
            if credential is None:
                return False
            await ctx.accounts.authenticate(credential)
        elif principal == LOCAL:
            return ctx.allow_local and not await ctx.accounts.has_users()
    except AuthError:
        return False
    except StoreError:
        return True  # an outage is not a revocation; the feed keeps retrying
    return True


async def stream(
    feed: EventFeed,
    sub: Subscription,
    allowed: Callable[[], Awaitable[bool]],
    heartbeat_seconds: float,
) -> AsyncIterator[str]:
    """The SSE text of a subscription: events as they come, a heartbeat comment after
    ``heartbeat_seconds`` of silence (when ``allowed()`` still holds; else the stream ends)."""
    try:
        yield f"retry: {RETRY_MS}\n\n: connected {feed.cursor.encode()}\n\n"
        while True:
            try:
                event = await asyncio.wait_for(anext(sub), heartbeat_seconds)
            except TimeoutError:
                if not await allowed():
                    yield "event: error\ndata: credentials no longer valid\n\n"
                    return
                # Nothing is waiting for this client: it has everything up to the cursor.
                yield f": heartbeat {feed.cursor.encode()}\n\n"
                continue
            except StopAsyncIteration:
                return  # dropped for falling behind; the client resumes with Last-Event-ID
            yield sse(event)
    finally:
        sub.close()


@router.get("/api/events", status_code=200, response_class=EventStream, responses=EVENT_STREAM_DOC)
async def events(
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="resume after this event id"),
    ] = None,
) -> EventStream:
    """Live events the caller's scopes allow (``jobs:read`` for job, run and processor events);
    any valid credentials may connect. Events come from polling the store every 0.5 s, so
    they cover every process of the store."""
    principal = await authenticate(request)
    ctx = get_context(request)
    feed = ctx.events
    if feed is None:
        raise ApiError(503, "unavailable", "live events are off in this process")
    since = None if last_event_id is None else Cursor.decode(last_event_id, field="Last-Event-ID")
    sub = await feed.subscribe(visible_to(principal), since=since)
    content = stream(
        feed,
        sub,
        functools.partial(still_allowed, request, ctx, principal),
        ctx.event_heartbeat_seconds,
    )
    return EventStream(content, sub.close)
