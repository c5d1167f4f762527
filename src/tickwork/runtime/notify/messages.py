"""A notification as each channel shows it: Slack Block Kit, an e-mail (text and HTML), JSON.

What a message says is decided once (``summary``: a title and labelled lines); each format only
lays it out, escaping what it must.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from tickwork.domain.alert_states import NoticeKind, Notification
from tickwork.domain.channels import EmailChannel
from tickwork.domain.durations import format_duration

# Slack's limits: header text 150 characters, a section's text 3000 (Block Kit reference).
_SLACK_HEADER_MAX = 150
_SLACK_TEXT_MAX = 3000
_ERROR_MAX = 1500
_COLORS = {
    NoticeKind.FIRING: "#c0392b",
    NoticeKind.REALERT: "#c0392b",
    NoticeKind.RESOLVED: "#27ae60",
    NoticeKind.FLAPPING: "#d68910",
}
_EMOJI = {
    NoticeKind.FIRING: ":red_circle:",
    NoticeKind.REALERT: ":red_circle:",
    NoticeKind.RESOLVED: ":large_green_circle:",
    NoticeKind.FLAPPING: ":large_orange_circle:",
}
WEBHOOK_EVENT = "tickwork.alert"


@dataclass(frozen=True)
class Summary:
    """What every format shows: a title, the reason, labelled facts, the error, a run link."""

    title: str
    why: str
    facts: tuple[tuple[str, str], ...]
    error: str | None
    run_url: str | None


def run_url(notification: Notification, base_url: str | None) -> str | None:
    """The dashboard page of the run the notification is about, when both are known."""
    run_id = notification.details.get("run_id")
    if base_url is None or not run_id:
        return None
    return f"{base_url.rstrip('/')}/runs/{run_id}"


def summary(notification: Notification, base_url: str | None) -> Summary:
    facts: list[tuple[str, str]] = []
    task = notification.details.get("task")
    if task:
        facts.append(("Job", task))
    check = notification.details.get("check")
    if check:
        facts.append(("Check", check))
        if base_url is not None:
            facts.append(("Check page", f"{base_url.rstrip('/')}/checks/{quote(check)}"))
    elif task != notification.subject:
        facts.append(("Subject", notification.subject))
    facts.append(("Rule", notification.rule))
    if notification.since is not None:
        facts.append(("Since", _when(notification.since)))
    if notification.lasted_seconds is not None:
        facts.append(("Lasted", format_duration(notification.lasted_seconds)))
    status = notification.details.get("status")
    if status:
        facts.append(("Last run", status))
    error = notification.details.get("error") or None
    if error is not None and len(error) > _ERROR_MAX:
        error = error[: _ERROR_MAX - 1] + "…"
    return Summary(
        title=notification.title,
        why=notification.why,
        facts=tuple(facts),
        error=error,
        run_url=run_url(notification, base_url),
    )


def slack_payload(notification: Notification, base_url: str | None) -> dict[str, Any]:
    """An incoming-webhook body: Block Kit blocks, and ``text`` for notifications' previews."""
    info = summary(notification, base_url)
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{_slack(value)}"} for label, value in info.facts
    ]
    header = f"{_EMOJI[notification.kind]} {info.title}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(header, _SLACK_HEADER_MAX)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(_slack(info.why or "-"), _SLACK_TEXT_MAX)},
            # Slack takes at most 10 fields in a section.
            "fields": fields[:10],
        },
    ]
    if info.error is not None:
        text = f"```{_slack(info.error)}```"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if info.run_url is not None:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open the run"}}
        blocks.append({"type": "actions", "elements": [{**button, "url": info.run_url}]})
    context = f"{notification.kind.value} at {_when(notification.at)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _cut(info.title, _SLACK_TEXT_MAX), "blocks": blocks}


def email_message(
    notification: Notification, channel: EmailChannel, base_url: str | None
) -> EmailMessage:
    """A multipart/alternative message: a text part, then an HTML part with inline styles."""
    info = summary(notification, base_url)
    message = EmailMessage()
    message["Subject"] = info.title
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message["Date"] = format_datetime(notification.at)
    message["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2])
    message.set_content(_email_text(info))
    message.add_alternative(_email_html(info, _COLORS[notification.kind]), subtype="html")
    return message


def webhook_body(notification: Notification, base_url: str | None) -> bytes:
    """The generic webhook's JSON body (UTF-8); it is what the signature covers."""
    document = {
        "type": WEBHOOK_EVENT,
        "kind": notification.kind.value,
        "rule": notification.rule,
        "subject": notification.subject,
        "at": notification.at.isoformat(),
        "why": notification.why,
        "since": None if notification.since is None else notification.since.isoformat(),
        "lasted_seconds": notification.lasted_seconds,
        "details": dict(notification.details),
        "run_url": run_url(notification, base_url),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _email_text(info: Summary) -> str:
    width = max(len(label) for label, _ in info.facts)
    lines = [info.title, "", info.why, ""]
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in info.facts]
    if info.error is not None:
        lines += ["", "Error:", info.error]
    if info.run_url is not None:
        lines += ["", f"Run: {info.run_url}"]
    return "\n".join(lines) + "\n"


def _email_html(info: Summary, color: str) -> str:
    # Inline styles and a table layout: what mail clients render alike.
    cell = "padding:4px 12px 4px 0;vertical-align:top;"
    rows = "".join(
        f'<tr><td style="{cell}color:#666;">{html.escape(label)}</td>'
        f'<td style="{cell}">{html.escape(value)}</td></tr>'
        for label, value in info.facts
    )
    parts = [
        '<!DOCTYPE html><html><body style="font-family:Arial,Helvetica,sans-serif;'
        'font-size:14px;color:#222;margin:0;padding:16px;">',
        f'<h2 style="margin:0 0 8px;padding-left:8px;border-left:4px solid {color};'
        f'font-size:18px;">{html.escape(info.title)}</h2>',
        f'<p style="margin:0 0 12px;">{html.escape(info.why)}</p>',
        f'<table style="border-collapse:collapse;margin:0 0 12px;">{rows}</table>',
    ]
    if info.error is not None:
        parts.append(
            '<pre style="background:#f6f6f6;border:1px solid #ddd;padding:8px;'
            f'white-space:pre-wrap;font-size:12px;">{html.escape(info.error)}</pre>'
        )
    if info.run_url is not None:
        link = html.escape(info.run_url, quote=True)
        parts.append(f'<p><a href="{link}" style="color:#1a5fb4;">Open the run</a></p>')
    parts.append("</body></html>")
    return "".join(parts)


def _slack(text: str) -> str:
    # Slack's mrkdwn gives meaning to these three; everything else is shown as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
