"""Real receivers on 127.0.0.1 for alert deliveries: an HTTP server that answers as Slack's
incoming webhooks do or verifies tickwork's webhook signature, and an SMTP server (aiosmtpd)
with STARTTLS or TLS and a login, on a certificate made for the test."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tickwork.runtime.notify import SIGNATURE_HEADER, verify_signature

HOOK_SECRET = "whsec-test-secret"
SMTP_USER, SMTP_PASSWORD = "tickwork", "hunter2"


@dataclass
class Received:
    """What an HTTP receiver got: path, headers and body of each request."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index][2])


def _slack_answer(path: str, body: bytes) -> tuple[int, str, dict[str, str]]:
    # Slack's incoming webhooks answer 200 "ok", or a 4xx with a short reason.
    if path.endswith("/gone"):
        return 404, "no_service", {}
    if path.endswith("/busy"):
        return 429, "rate_limited", {"Retry-After": "7"}
    if path.endswith("/broken"):
        return 500, "internal_error", {}
    try:
        payload = json.loads(body)
    except ValueError:
        return 400, "invalid_payload", {}
    blocks = payload.get("blocks") if isinstance(payload, dict) else None
    if not isinstance(payload.get("text"), str) or not isinstance(blocks, list):
        return 400, "invalid_payload", {}
    if not blocks or not all(isinstance(b, dict) and "type" in b for b in blocks):
        return 400, "invalid_blocks", {}
    return 200, "ok", {}


def _hook_answer(headers: dict[str, str], body: bytes) -> tuple[int, str, dict[str, str]]:
    if verify_signature(HOOK_SECRET, headers.get(SIGNATURE_HEADER.lower()), body, time.time()):
        return 204, "", {}
    return 401, "bad signature", {}


@contextmanager
def http_receiver(kind: str, port: int = 0) -> Iterator[tuple[str, Received]]:
    """A server on 127.0.0.1 (``kind``: ``slack`` or ``hook``); yields its base URL."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            received.requests.append((self.path, headers, body))
            if kind == "slack":
                status, text, extra = _slack_answer(self.path, body)
            else:
                status, text, extra = _hook_answer(headers, body)
            data = text.encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


class Mailbox:
    """The aiosmtpd handler: keeps each message delivered, parsed."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if (login, password) == (SMTP_USER, SMTP_PASSWORD):
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server(cert: Path, key: Path, *, implicit_tls: bool) -> Iterator[tuple[int, Mailbox]]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS (or TLS from the start) and a login."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    port = closed_port()
    options: dict[str, Any] = {"authenticator": mailbox.authenticate}
    if implicit_tls:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; this connection is TLS from its start.
        options["auth_require_tls"] = False
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=port, ssl_context=context, **options
        )
    else:
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            **options,
        )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()
