"""Delivering notifications to real receivers on 127.0.0.1: a Slack-like webhook, a webhook that
verifies the signature, an SMTP server with STARTTLS or TLS and a login; and the errors of a
receiver that refuses or is down, classified as retryable or not."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.runtime.receivers import (
    HOOK_SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    closed_port,
    http_receiver,
    make_certificate,
    smtp_server,
)
from tickwork.clock import FakeClock, SystemClock
from tickwork.domain.alert_states import NoticeKind, Notification
from tickwork.domain.channels import (
    EmailChannel,
    Secret,
    SlackChannel,
    SmtpSecurity,
    WebhookChannel,
)
from tickwork.domain.jobs import ErrorClass
from tickwork.runtime.notify import SIGNATURE_HEADER, DeliveryError, Notifier, verify_signature
from tickwork.runtime.notify.signing import signature_header

AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
BASE = "https://tickwork.example.com"
FIRING = Notification(
    kind=NoticeKind.FIRING,
    rule="nightly-failing",
    subject="task:reports.nightly",
    at=AT,
    why="3 consecutive failures",
    since=AT - timedelta(minutes=5),
    details={
        "task": "reports.nightly",
        "status": "failed",
        "run_id": "run_42",
        "error": "ValueError: <bad> & worse",
    },
)
RESOLVED = Notification(
    kind=NoticeKind.RESOLVED,
    rule="nightly-failing",
    subject="task:reports.nightly",
    at=AT,
    why="recovered",
    since=AT - timedelta(hours=1),
    lasted_seconds=3600,
    details={"task": "reports.nightly", "status": "succeeded", "run_id": "run_43"},
)


@pytest.fixture
async def notifier() -> AsyncIterator[Notifier]:
    sender = Notifier(base_url=BASE, clock=FakeClock(AT), timeout_seconds=5)
    yield sender
    await sender.aclose()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


async def test_slack_gets_block_kit_with_job_error_and_run_link(notifier: Notifier) -> None:
    with http_receiver("slack") as (url, received):
        channel = SlackChannel("ops", Secret(f"{url}/services/T0/B0/token"))
        await notifier.send(channel, FIRING)
    path, headers, _ = received.requests[0]
    assert path == "/services/T0/B0/token"
    assert headers["content-type"] == "application/json"
    payload = received.json()
    assert payload["text"] == "[FIRING] nightly-failing on task:reports.nightly"
    blocks = payload["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions", "context"]
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*Job*\nreports.nightly" in fields
    assert blocks[2]["text"]["text"] == "```ValueError: &lt;bad&gt; &amp; worse```"
    assert blocks[3]["elements"][0]["url"] == f"{BASE}/runs/run_42"


async def test_slack_refusals_are_classified(notifier: Notifier) -> None:
    with http_receiver("slack") as (url, _):
        # A 4xx answer (Slack's invalid_payload, no_service) will not change: not retryable.
        with pytest.raises(DeliveryError) as gone:
            await notifier.send(SlackChannel("ops", Secret(f"{url}/x/gone")), FIRING)
        with pytest.raises(DeliveryError) as busy:
            await notifier.send(SlackChannel("ops", Secret(f"{url}/x/busy")), FIRING)
        with pytest.raises(DeliveryError) as broken:
            await notifier.send(SlackChannel("ops", Secret(f"{url}/x/broken")), FIRING)
    assert str(gone.value) == "channel 'ops': Slack answered 404: no_service"
    assert (gone.value.error_class, gone.value.retryable) == (ErrorClass.VALIDATION, False)
    assert (busy.value.error_class, busy.value.retryable) == (ErrorClass.RATE_LIMIT, True)
    assert busy.value.retry_after_seconds == 7
    assert (broken.value.error_class, broken.value.retryable) == (ErrorClass.SERVER_ERROR, True)


async def test_an_invalid_payload_is_refused_by_the_slack_receiver() -> None:
    # The receiver really checks the shape: a body without blocks gets 400 invalid_payload.
    import httpx

    with http_receiver("slack") as (url, _):
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{url}/hook", json={"text": "no blocks"})
    assert (answer.status_code, answer.text) == (400, "invalid_payload")


async def test_a_receiver_that_is_down_is_retryable_and_the_url_is_not_shown(
    notifier: Notifier,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/services/T0/B0/s3cr3t"
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(SlackChannel("ops", Secret(url)), FIRING)
    assert caught.value.retryable and caught.value.error_class is ErrorClass.NETWORK
    assert "s3cr3t" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


async def test_a_receiver_that_comes_back_gets_the_same_notification(notifier: Notifier) -> None:
    port = closed_port()
    channel = SlackChannel("ops", Secret(f"http://127.0.0.1:{port}/services/T0/B0/t"))
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(channel, FIRING)
    assert caught.value.retryable
    with http_receiver("slack", port) as (_, received):
        await notifier.send(channel, FIRING)
    assert received.json()["text"] == "[FIRING] nightly-failing on task:reports.nightly"


async def test_webhook_is_signed_and_verified_by_the_receiver() -> None:
    # The receiver checks the timestamp against its own clock, so this sender uses the real one.
    clock = SystemClock()
    notifier = Notifier(base_url=BASE, clock=clock, timeout_seconds=5)
    stamp = int(clock.now().timestamp())
    with http_receiver("hook") as (url, received):
        await notifier.send(WebhookChannel("hook", f"{url}/in", Secret(HOOK_SECRET)), RESOLVED)
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(WebhookChannel("hook", f"{url}/in", Secret("wrong")), RESOLVED)
    await notifier.aclose()
    assert caught.value.error_class is ErrorClass.AUTH and not caught.value.retryable
    _, headers, _ = received.requests[0]
    signed = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER.lower()].split(","))
    assert int(signed["t"]) >= stamp and len(signed["v1"]) == 64
    document = received.json(0)
    assert document["type"] == "tickwork.alert" and document["kind"] == "resolved"
    assert document["lasted_seconds"] == 3600
    assert document["run_url"] == f"{BASE}/runs/run_43"
    assert document["details"]["task"] == "reports.nightly"


def test_verify_signature_rules() -> None:
    body, stamp = b'{"a":1}', 1_700_000_000
    header = signature_header("k", stamp, body)
    assert verify_signature("k", header, body, stamp + 10)
    assert not verify_signature("k", header, body + b" ", stamp)  # the body changed
    assert not verify_signature("other", header, body, stamp)  # another secret
    assert not verify_signature("k", header, body, stamp + 301)  # too old: a replay
    assert not verify_signature("k", None, body, stamp)
    assert not verify_signature("k", f"t={stamp}", body, stamp)
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature("k", rotated, body, stamp)


@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
async def test_email_over_tls_with_login_has_text_and_html(
    certificate: tuple[Path, Path], security: SmtpSecurity
) -> None:
    cert, key = certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    with smtp_server(cert, key, implicit_tls=security is SmtpSecurity.TLS) as (port, mailbox):
        channel = EmailChannel(
            "mail",
            host="127.0.0.1",
            port=port,
            security=security,
            username=SMTP_USER,
            password=Secret(SMTP_PASSWORD),
            sender="tickwork@example.com",
            to=("ops@example.com", "dev@example.com"),
        )
        sender = Notifier(base_url=BASE, ssl_context=trusting, timeout_seconds=5)
        await sender.send(channel, FIRING)
        await sender.aclose()
    assert mailbox.logins == [SMTP_USER]
    mail_from, recipients, message = mailbox.messages[0]
    assert (mail_from, recipients) == (
        "tickwork@example.com",
        ["ops@example.com", "dev@example.com"],
    )
    assert message["Subject"] == "[FIRING] nightly-failing on task:reports.nightly"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    plain = text.get_content()
    assert "Job:      reports.nightly" in plain
    assert "ValueError: <bad> & worse" in plain
    assert f"Run: {BASE}/runs/run_42" in plain
    markup = html.get_content()
    assert "ValueError: &lt;bad&gt; &amp; worse" in markup
    assert f'href="{BASE}/runs/run_42"' in markup
    assert "<style" not in markup  # inline styles only


async def test_email_errors_are_classified(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    trusting = ssl.create_default_context(cafile=str(cert))
    sender = Notifier(ssl_context=trusting, timeout_seconds=5)
    base = {"host": "127.0.0.1", "sender": "t@example.com", "to": ("o@example.com",)}
    with smtp_server(cert, key, implicit_tls=False) as (port, _):
        bad_login = EmailChannel("m", port=port, username="x", password=Secret("no"), **base)  # type: ignore[arg-type]
        with pytest.raises(DeliveryError) as login:
            await sender.send(bad_login, FIRING)
        untrusted = Notifier(timeout_seconds=5)  # the system's CAs do not know the test's
        with pytest.raises(DeliveryError) as tls:
            await untrusted.send(EmailChannel("m", port=port, **base), FIRING)  # type: ignore[arg-type]
        await untrusted.aclose()
    with pytest.raises(DeliveryError) as down:
        await sender.send(EmailChannel("m", port=closed_port(), **base), FIRING)  # type: ignore[arg-type]
    await sender.aclose()
    assert (login.value.error_class, login.value.retryable) == (ErrorClass.AUTH, False)
    assert "no" not in str(login.value).split(": ", 1)[1].split()
    assert (tls.value.error_class, tls.value.retryable) == (ErrorClass.CONFIG, False)
    assert (down.value.error_class, down.value.retryable) == (ErrorClass.NETWORK, True)
