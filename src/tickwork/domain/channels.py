"""Where alert notifications go: Slack incoming webhooks, e-mail over SMTP, a signed webhook.

Secrets (webhook URLs, which carry Slack's token; passwords; signing keys) are ``Secret``
values: their ``repr``/``str`` never show the value, so a channel can be logged, printed or put
in an error message as it is. Only the sender calls ``reveal()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from tickwork.errors import ConfigError

_HIDDEN: Final = "<secret>"
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


class Secret:
    """A string that does not show itself; ``reveal()`` gives it to the one who sends."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_HIDDEN!r})"

    def __str__(self) -> str:
        return _HIDDEN

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling (a job argument, a process boundary) keeps the value; only display hides it.
        return (Secret, (self._value,))


class ChannelKind(StrEnum):
    SLACK = "slack"
    EMAIL = "email"
    WEBHOOK = "webhook"


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # plain SMTP: a relay on localhost only


@dataclass(frozen=True)
class SlackChannel:
    name: str
    webhook_url: Secret
    kind: ChannelKind = ChannelKind.SLACK

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_url(self.webhook_url.reveal(), "webhook_url")


@dataclass(frozen=True)
class EmailChannel:
    name: str
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: Secret | None = None
    kind: ChannelKind = ChannelKind.EMAIL

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.host.strip():
            raise ConfigError("expected a host name", field="host")
        if not 0 < self.port < 65536:
            raise ConfigError(f"expected a port in 1..65535, got {self.port}", field="port")
        if not self.to:
            raise ConfigError("expected at least one recipient", field="to")
        for key, address in (("from", self.sender), *(("to", a) for a in self.to)):
            if not _ADDRESS.fullmatch(address):
                raise ConfigError(f"not an e-mail address: {address!r}", field=key)
        if (self.username is None) != (self.password is None):
            raise ConfigError("username and password go together", field="username")


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: str
    secret: Secret
    kind: ChannelKind = ChannelKind.WEBHOOK

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_url(self.url, "url")


Channel = SlackChannel | EmailChannel | WebhookChannel


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise ConfigError(f"a channel name is 1-64 letters, digits or '_.-', got {name!r}")


def _check_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The URL may hold a token: say what is wrong without showing it.
        raise ConfigError("expected an http(s) URL", field=field)
