"""Log lines that say which job, run, processor or request they belong to (D12), as text or as
one JSON object per line.

Who knows an ID puts it in the log context (``log_context``): the launcher the processor's, the
worker a job's while it runs, the API's middleware a request's. The context is a context
variable, so asyncio tasks and the threads that run sync tasks (``contextvars.copy_context``)
carry it into every line logged on their behalf, whichever logger writes it. Fields given as
``extra=`` on a call win over the context (the worker's line for a failed run names its run).
Standard ``logging`` only: nothing here is imported by a producer that does not log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from tickwork.errors import ConfigError

# The IDs a line may carry, in the order they are written.
CONTEXT_FIELDS = ("task", "job_id", "run_id", "attempt", "processor", "request_id")
# Record attributes worth a field of their own when a call gives them (``extra=``).
EXTRA_FIELDS = ("error_class",)
# Text lines leave out the processor, the same on every line of a process (its start line
# names it); JSON lines, read from many processes at once, keep it.
_TEXT_FIELDS = tuple(f for f in (*CONTEXT_FIELDS, *EXTRA_FIELDS) if f != "processor")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_EMPTY: Mapping[str, object] = {}
_context: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "tickwork_log_context", default=_EMPTY
)


def bind(**fields: object) -> contextvars.Token[Mapping[str, object]]:
    """Add ``fields`` (None values ignored) to the log context of the current task or thread
    until ``unbind`` with the token returned."""
    added = {name: value for name, value in fields.items() if value is not None}
    return _context.set({**_context.get(), **added})


def unbind(token: contextvars.Token[Mapping[str, object]]) -> None:
    _context.reset(token)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """``fields`` in the log context of the lines logged inside the block."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


_CONTEXT_ATTRIBUTE = "tickwork_context"
_factory_installed = False


def capture_context() -> None:
    """Make every record carry the log context of the moment it was made, so that a handler
    that formats it later or elsewhere (a queue, pytest's capture) still sees its IDs. Once
    per process; chains the record factory in place."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        context = _context.get()
        if context:
            setattr(record, _CONTEXT_ATTRIBUTE, context)
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The IDs of a record: its own attributes (``extra=``) over the log context (as captured
    when it was made, else the current one)."""
    context: Mapping[str, object] = record.__dict__.get(_CONTEXT_ATTRIBUTE) or _context.get()
    found: dict[str, object] = {}
    for name in (*CONTEXT_FIELDS, *EXTRA_FIELDS):
        value = record.__dict__.get(name, context.get(name))
        if value is not None and value != "-":
            found[name] = value
    return found


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` with the line's IDs."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = fields_of(record)
        suffix = " ".join(
            f"{name}={_text_value(fields[name])}" for name in _TEXT_FIELDS if name in fields
        )
        if not suffix:
            return line
        # After the message's first line: a traceback, if any, stays below it.
        first, newline, rest = line.partition("\n")
        return f"{first} {suffix}{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``,
    the IDs known, and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(fields_of(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def check_log_format(value: object, *, field: str = "log_format") -> str:
    """A log format's name, lower-cased; ``ConfigError`` naming ``field`` for any other."""
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in LOG_FORMATS:
        raise ConfigError(f"must be one of {', '.join(LOG_FORMATS)}, got {value!r}", field=field)
    assert isinstance(name, str)
    return name


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of a ``check_log_format`` name."""
    return JsonFormatter() if check_log_format(log_format) == "json" else TextFormatter()


def configure_logging(level: str, log_format: str = "text", stream: IO[str] | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level`` in ``log_format``, unless logging was set up
    already (as ``logging.basicConfig``)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    capture_context()
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic narrates each migration step at INFO ("setup plugin ..."): noise for a user who
    # asked for INFO, kept for one who asked for DEBUG.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _text_value(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in "=\"'" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text
