"""Sending a notification to a channel: Slack and the generic webhook over httpx, e-mail over
SMTP (the standard library's ``smtplib`` in a thread; see docs/decisions.md).

A failed delivery raises ``DeliveryError`` with an ``ErrorClass``: retryable (network, timeout,
rate limit, 5xx, SMTP 4xx) or not (4xx answers, refused login, SMTP 5xx, a broken
configuration), in the terms the engine's retry policy already uses. No message names a
channel's secret: Slack's webhook URL is its token, so errors never show the URL.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from tickwork.clock import Clock, SystemClock
from tickwork.domain.alert_states import Notification
from tickwork.domain.channels import Channel, EmailChannel, SlackChannel, SmtpSecurity
from tickwork.domain.jobs import RETRYABLE, ErrorClass
from tickwork.domain.policies import RETRY_AFTER_STATUSES, parse_retry_after, status_error_class
from tickwork.errors import TickworkError
from tickwork.runtime.notify.messages import email_message, slack_payload, webhook_body
from tickwork.runtime.notify.signing import SIGNATURE_HEADER, signature_header
from tickwork.version import __version__

if TYPE_CHECKING:
    # Imported when a first webhook is posted: a CLI command that never sends one does not
    # pay for httpx's import (~0.1 s).
    import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0
_ANSWER_SHOWN = 200  # characters of a refusing answer kept in the error


class DeliveryError(TickworkError):
    """A notification did not reach a channel; ``retryable`` says whether to try again."""

    def __init__(
        self,
        channel: str,
        message: str,
        *,
        error_class: ErrorClass,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(f"channel {channel!r}: {message}")
        self.channel = channel
        self.error_class = error_class
        self.retry_after_seconds = retry_after_seconds

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE


class Notifier:
    """Delivers notifications; one pooled HTTP client for the webhooks of a process."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        clock: Clock | None = None,
        client: httpx.AsyncClient | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._base_url = base_url
        self._clock = clock or SystemClock()
        self._owns_client = client is None
        self._client = client
        self._ssl = ssl_context
        self._timeout = timeout_seconds

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        """The pooled client, made at the first post."""
        if self._client is None:
            import httpx

            # A redirect means a moved endpoint: report it rather than post the alert elsewhere.
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        return self._client

    async def send(self, channel: Channel, notification: Notification) -> None:
        """Deliver ``notification`` to ``channel``; ``DeliveryError`` if it was not accepted."""
        if isinstance(channel, SlackChannel):
            payload = slack_payload(notification, self._base_url)
            await self._post(channel.name, channel.webhook_url.reveal(), json=payload, slack=True)
        elif isinstance(channel, EmailChannel):
            await self.send_email(channel, email_message(notification, channel, self._base_url))
        else:
            body = webhook_body(notification, self._base_url)
            stamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature_header(channel.secret.reveal(), stamp, body),
            }
            await self._post(channel.name, channel.url, content=body, headers=headers)

    async def send_email(self, channel: EmailChannel, message: EmailMessage) -> None:
        """Send ``message`` (to the recipients of its own headers) over the channel's SMTP
        settings; ``DeliveryError`` if it was not accepted."""
        await asyncio.to_thread(_send_mail, channel, message, self._ssl, self._timeout)

    async def _post(
        self,
        name: str,
        url: str,
        *,
        json: object = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        slack: bool = False,
    ) -> None:
        import httpx

        sent = {"User-Agent": f"tickwork/{__version__}", **(headers or {})}
        try:
            response = await self._http().post(url, json=json, content=content, headers=sent)
        except httpx.TimeoutException:
            raise DeliveryError(name, "timed out", error_class=ErrorClass.TIMEOUT) from None
        except httpx.TransportError as exc:
            # httpx's message may quote the URL, which for Slack is the secret: name the type.
            raise DeliveryError(
                name, f"cannot connect ({type(exc).__name__})", error_class=ErrorClass.NETWORK
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        # Slack answers 4xx with a short reason ("invalid_payload", "no_service", ...).
        answer = response.text[:_ANSWER_SHOWN].strip()
        what = "Slack" if slack else "the receiver"
        if 300 <= status < 400:
            message = f"{what} answered {status} (a redirect: the URL has moved)"
            raise DeliveryError(name, message, error_class=ErrorClass.CONFIG)
        wait = None
        if status in RETRY_AFTER_STATUSES:
            wait = parse_retry_after(response.headers.get("retry-after"), self._clock.now())
        raise DeliveryError(
            name,
            f"{what} answered {status}" + (f": {answer}" if answer else ""),
            error_class=status_error_class(status),
            retry_after_seconds=wait,
        )


def _send_mail(
    channel: EmailChannel,
    message: EmailMessage,
    context: ssl.SSLContext | None,
    timeout: float,
) -> None:
    """One SMTP session (blocking; run in a thread): connect, secure, log in, send."""
    context = context or ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if channel.security is SmtpSecurity.TLS:
            smtp = smtplib.SMTP_SSL(channel.host, channel.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(channel.host, channel.port, timeout=timeout)
        with smtp:
            if channel.security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=context)
            if channel.username is not None and channel.password is not None:
                smtp.login(channel.username, channel.password.reveal())
            refused = smtp.send_message(message)
    except smtplib.SMTPException as exc:
        raise _smtp_error(channel.name, exc) from None
    except ssl.SSLError as exc:
        # A certificate that does not verify, or TLS spoken to a plain port: fix the settings.
        reason = f"TLS failed: {exc.reason or type(exc).__name__}"
        raise DeliveryError(channel.name, reason, error_class=ErrorClass.CONFIG) from None
    except TimeoutError:
        raise DeliveryError(channel.name, "timed out", error_class=ErrorClass.TIMEOUT) from None
    except OSError as exc:
        reason = f"cannot connect to {channel.host}:{channel.port}: {exc.strerror or exc}"
        raise DeliveryError(channel.name, reason, error_class=ErrorClass.NETWORK) from None
    if refused:
        # The others got it: trying again would send them a second copy.
        addresses = ", ".join(sorted(refused))
        reason = f"refused recipients: {addresses}"
        raise DeliveryError(channel.name, reason, error_class=ErrorClass.VALIDATION)


def _smtp_error(name: str, exc: smtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(name, "login refused", error_class=ErrorClass.AUTH)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(name, f"not supported: {exc}", error_class=ErrorClass.CONFIG)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(name, "the server disconnected", error_class=ErrorClass.NETWORK)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = any(400 <= code < 500 for code in codes)
        addresses = ", ".join(sorted(exc.recipients))
        return DeliveryError(
            name,
            f"all recipients refused: {addresses}",
            error_class=ErrorClass.SERVER_ERROR if transient else ErrorClass.VALIDATION,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        # 4xx: a transient refusal (greylisting, a full queue); 5xx: a permanent one.
        raw = exc.smtp_error
        answer = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        transient = 400 <= exc.smtp_code < 500
        return DeliveryError(
            name,
            f"SMTP {exc.smtp_code}: {answer[:_ANSWER_SHOWN]}",
            error_class=ErrorClass.SERVER_ERROR if transient else ErrorClass.VALIDATION,
        )
    return DeliveryError(name, f"SMTP error: {exc}", error_class=ErrorClass.UNKNOWN)
