"""Capping of captured task output (stdout, stderr, response bodies) to a bounded tail."""

from __future__ import annotations

from tickwork.domain.processors import DEFAULT_OUTPUT_LIMIT_BYTES


def _render(tail: bytes, dropped: int) -> str:
    text = tail.decode("utf-8", errors="replace")
    if dropped <= 0:
        return text
    return f"[... {dropped} bytes truncated ...]\n{text}"


def cap_output(data: bytes, limit: int) -> str:
    """``data`` as text; over ``limit`` bytes only the last ``limit`` are kept, after a marker.

    The tail is kept because the end of a log (the error, the summary) is what explains a run.
    """
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace")
    # data[-0:] would be the whole buffer, hence the explicit empty tail.
    tail = data[-limit:] if limit > 0 else b""
    return _render(tail, len(data) - len(tail))


class OutputTail:
    """Collects a stream chunk by chunk, holding at most about twice ``limit`` bytes."""

    __slots__ = ("_buf", "_limit", "total")

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT_BYTES) -> None:
        self._limit = max(limit, 0)
        self._buf = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buf += chunk
        # Trimming only past 2x the limit keeps the copy cost amortised per byte.
        if len(self._buf) > 2 * self._limit:
            del self._buf[: len(self._buf) - self._limit]

    def text(self) -> str:
        tail = bytes(self._buf[-self._limit :]) if self._limit > 0 else b""
        return _render(tail, self.total - len(tail))
