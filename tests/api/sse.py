"""A small Server-Sent Events reader for the tests of ``GET /api/events``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

# How long a test waits for one frame before it fails (the stream is live: frames come within
# a poll interval or a heartbeat).
FRAME_TIMEOUT = 15.0


@dataclass(frozen=True)
class Frame:
    """One SSE frame: an event (``event``/``data``/``id``), or a comment."""

    event: str | None = None
    id: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        assert self.data is not None
        body: dict[str, Any] = json.loads(self.data)
        return body

    @property
    def cursor_runs(self) -> int:
        """The runs component of a heartbeat's cursor (``heartbeat R-J-A``)."""
        assert self.comment is not None and self.comment.startswith("heartbeat ")
        return int(self.comment.split()[1].split("-")[0])


class SseReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()
        self.frames: list[Frame] = []

    async def _next(self) -> Frame | None:
        fields: dict[str, str] = {}
        comments: list[str] = []
        async for line in self._lines:
            if line == "":
                if fields or comments:
                    return Frame(
                        event=fields.get("event"),
                        id=fields.get("id"),
                        data=fields.get("data"),
                        comment=" ".join(comments) if comments else None,
                    )
                continue
            if line.startswith(":"):
                comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        return None

    async def next(self) -> Frame | None:
        """The next frame, or None when the stream ended."""
        frame = await asyncio.wait_for(self._next(), FRAME_TIMEOUT)
        if frame is not None:
            self.frames.append(frame)
        return frame

    async def until(self, done: Callable[[Frame], bool]) -> Frame:
        """Read frames until one satisfies ``done``; fails if the stream ends first or after
        ``FRAME_TIMEOUT`` (heartbeats alone do not keep it waiting)."""
        async with asyncio.timeout(FRAME_TIMEOUT):
            while True:
                frame = await self.next()
                assert frame is not None, f"stream ended; last frames: {self.frames[-5:]}"
                if done(frame):
                    return frame

    def events(self, kind: str | None = None) -> list[Frame]:
        return [f for f in self.frames if f.event is not None and kind in (None, f.event)]
