"""What makes two failures "the same error": the error's type, its message with the parts that
vary between occurrences (numbers, hex, UUIDs, quoted values) replaced by placeholders, and the
top stack frame of its traceback. The error rollups count failures by this fingerprint."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MESSAGE_LIMIT = 500  # characters of a message kept as a sample, and hashed after normalising
FINGERPRINT_LENGTH = 64

_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_HEX = re.compile(
    r"\b0[xX][0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# A frame line of a Python traceback: '  File "path", line N, in function'.
_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)', re.MULTILINE)


@dataclass(frozen=True)
class ErrorFingerprint:
    fingerprint: str  # hex, FINGERPRINT_LENGTH characters
    message: str  # the normalised message
    frame: str | None  # "file:function" of the top frame, if a traceback named one


def normalise_message(message: str) -> str:
    """Quoted values, UUIDs, hex values and numbers replaced, in that order (a UUID is neither
    hex nor numbers once replaced); whitespace runs made one space."""
    text = message[:MESSAGE_LIMIT]
    text = _QUOTED.sub("<str>", text)
    text = _UUID.sub("<uuid>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUMBER.sub("<n>", text)
    return " ".join(text.split())


def top_frame(traceback: str | None) -> str | None:
    """The innermost frame of a Python traceback (the last one listed, where the error was
    raised) as "file:function", the file relative to its installation directory so that the
    same code deployed elsewhere gives the same frame."""
    if not traceback:
        return None
    frames = _FRAME.findall(traceback)
    if not frames:
        return None
    path, function = frames[-1]
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
            break
    return f"{path}:{function}"


def fingerprint(
    error_type: str | None, message: str | None, traceback: str | None
) -> ErrorFingerprint:
    normalised = normalise_message(message or "")
    frame = top_frame(traceback)
    digest = hashlib.sha256(
        "\x1f".join((error_type or "", normalised, frame or "")).encode()
    ).hexdigest()
    return ErrorFingerprint(digest[:FINGERPRINT_LENGTH], normalised, frame)
