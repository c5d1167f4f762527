"""The pure parts of run activity: checking figures and text, shell directive lines (split across
chunks however the pipe splits them), the feed's cursor (old three-part form accepted), and
``--since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tickwork.domain.activity import (
    MAX_MESSAGE_BYTES,
    clean_data,
    clean_message,
    clean_progress,
    parse_reasons,
)
from tickwork.errors import ConfigError
from tickwork.runtime.activity import DirectiveScanner, event, parse_directive, progress
from tickwork.service.activity import since_of
from tickwork.service.events import Cursor


class Collect:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def progress(self, done: float, total: float | None) -> None:
        self.seen.append(("progress", done, total))

    def event(self, message: str, data: dict[str, Any] | None) -> None:
        self.seen.append(("event", message, data))


STREAM = (
    b"hello\n"
    b"::tickwork progress 1/3\n"
    b"not ::tickwork progress 9/9 (mid-line)\n"
    b"::tickwork event first one\n"
    b'::tickwork event {"message": "json", "n": 2}\n'
    b"::tickwork bogus verb\n"
    b"::tickwork progress x/y\n"
    b"::tickwork progress 3\r\n"
    b"bye\n"
)
EXPECTED = [
    ("progress", 1.0, 3.0),
    ("event", "first one", None),
    ("event", "json", {"n": 2}),
    ("progress", 3.0, None),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 11, 64, len(STREAM)])
def test_directives_are_found_however_the_stream_is_split(size: int) -> None:
    out = Collect()
    scanner = DirectiveScanner(out)
    for i in range(0, len(STREAM), size):
        scanner.feed(STREAM[i : i + size])
    scanner.close()
    assert out.seen == EXPECTED


def test_a_last_directive_without_newline_counts() -> None:
    out = Collect()
    scanner = DirectiveScanner(out)
    scanner.feed(b"x\n::tickwork progress 5/")
    scanner.feed(b"10")
    scanner.close()
    assert out.seen == [("progress", 5.0, 10.0)]


def test_an_overlong_line_is_output_only() -> None:
    out = Collect()
    scanner = DirectiveScanner(out)
    scanner.feed(b"::tickwork event " + b"a" * 10_000)
    scanner.feed(b"b" * 10 + b"\n::tickwork event ok\n")
    assert out.seen == [("event", "ok", None)]


def test_parse_directive_rejects_what_is_not_one() -> None:
    assert parse_directive(b"::tickwork progress -1") is None
    assert parse_directive(b"::tickwork progress inf") is None
    assert parse_directive(b"::tickwork event") is None
    assert parse_directive(b'::tickwork event {"n": 1') is None  # a broken JSON object
    # Text that is not a JSON object is the message itself.
    assert parse_directive(b'::tickwork event ["list"]') == ("event", ('["list"]', None))
    assert parse_directive(b"::tickworkevent x") is None
    assert parse_directive(b"::tickwork progress 2/4") == ("progress", (2.0, 4.0))


def test_checks_of_figures_and_text() -> None:
    with pytest.raises(TypeError):
        clean_progress("1", None)
    with pytest.raises(TypeError):
        clean_progress(True, None)
    with pytest.raises(ValueError):
        clean_progress(float("nan"), None)
    assert clean_progress(3, 10) == (3.0, 10.0)
    assert len(clean_message("é" * 5000).encode()) <= MAX_MESSAGE_BYTES
    assert clean_message("a\x00b") == "a\ufffdb"
    assert clean_data({}) is None
    assert clean_data({"t": datetime(2026, 1, 1, tzinfo=UTC)}) == {"t": "2026-01-01 00:00:00+00:00"}


def test_outside_a_run_they_do_nothing_but_still_check() -> None:
    progress(1, 2)
    event("nothing listens", n=1)
    with pytest.raises(ValueError):
        progress(-5)


def test_cursor_reads_both_forms() -> None:
    new = Cursor(1, 2, 3, 4, 5)
    assert new.encode() == "1-2-3-4-5" and Cursor.decode("1-2-3-4-5") == new
    old = Cursor.decode("7-8-9")
    assert (old.runs, old.jobs, old.audit, old.events, old.missed) == (7, 8, 9, None, None)
    assert old.encode() == "7-8-9-0-0"
    for bad in ("1-2", "1-2-3-4", "a-b-c", "1-2-3-4-5-6"):
        with pytest.raises(ConfigError):
            Cursor.decode(bad)


def test_since() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert since_of("7d", now) == now - timedelta(days=7)
    assert since_of("2026-03-01T00:00:00+00:00", now) == datetime(2026, 3, 1, tzinfo=UTC)
    for bad in ("seven days", "2026-03-01T00:00:00", "99999w"):
        with pytest.raises(ConfigError) as err:
            since_of(bad, now, field="--since")
        assert err.value.field == "--since"


def test_reasons() -> None:
    assert [r.value for r in parse_reasons(["overlap", "paused"])] == ["overlap", "paused"]
    with pytest.raises(ConfigError) as err:
        parse_reasons(["late"])
    assert "no_scheduler" in str(err.value)
