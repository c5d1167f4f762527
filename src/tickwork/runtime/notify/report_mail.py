"""The weekly report as people read it: one template (``templates/report.html``) drawn as an
e-mail (a whole document, inline styles and tables only: what mail clients render alike; no
script, no external asset) or as a fragment for the dashboard's frame (classes instead of
styles, as its Content-Security-Policy allows no inline style); a text part; the message.

How a figure is written (a rate, a duration, a change) is decided here once, for both parts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Literal

from markupsafe import Markup

from tickwork.domain.durations import format_duration
from tickwork.domain.report import Report

if TYPE_CHECKING:
    from jinja2 import Environment

Mode = Literal["mail", "page"]
MAIL: Mode = "mail"
PAGE: Mode = "page"

# Each element's look in the e-mail; the page gets the class ``rp-<name>`` instead (its rules
# are in the dashboard's stylesheet).
_STYLES = {
    "body": "margin:0;padding:16px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;"
    "font-size:14px;color:#222;",
    "sheet": "max-width:960px;margin:0 auto;background:#ffffff;border:1px solid #dde;"
    "padding:16px 20px;",
    "title": "margin:0 0 4px;font-size:20px;",
    "range": "margin:0 0 16px;color:#555;",
    "h2": "margin:20px 0 8px;font-size:16px;border-bottom:1px solid #dde;padding-bottom:4px;",
    "summary": "border-collapse:collapse;margin:0 0 8px;",
    "figure": "padding:6px 18px 6px 0;vertical-align:top;",
    "label": "display:block;color:#666;font-size:12px;",
    "value": "display:block;font-size:18px;font-weight:bold;",
    "table": "border-collapse:collapse;width:100%;font-size:13px;",
    "th": "text-align:left;padding:4px 8px;border-bottom:2px solid #ccd;color:#444;"
    "font-weight:bold;white-space:nowrap;",
    "td": "padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top;",
    "num": "padding:4px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap;",
    "bad": "color:#b42318;font-weight:bold;",
    "good": "color:#1e7a34;",
    "muted": "color:#777;",
    "code": "font-family:Consolas,Menlo,monospace;font-size:12px;",
    "note": "margin:4px 0 0;color:#666;font-size:12px;",
    "footer": "margin:20px 0 0;color:#777;font-size:12px;",
}


@functools.cache
def _environment() -> Environment:
    """The templates' environment, made at the first render (not at every CLI start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("tickwork.runtime.notify", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# Changes smaller than this are "unchanged": bucketed durations are within a factor of √2.
_STEADY = 0.05


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    html: str
    text: str


def rate(value: float | None) -> str:
    """A success rate: "97.5%", "100%", or "—" without runs that succeeded or failed."""
    if value is None:
        return "—"
    text = f"{value * 100:.1f}".removesuffix(".0")
    return f"{text}%"


def share(value: float | None) -> str:
    """An uptime: "99.95%", rounded down so that a check down for a minute of a week never
    shows "100%"; "—" when nothing was expected."""
    if value is None:
        return "—"
    hundredths = math.floor(value * 10_000 + 1e-9)
    text = f"{hundredths / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)


def change(value: float | None) -> str:
    """A change against the period before: "+35%", "−12%", "±0%", or "—" without one."""
    if value is None:
        return "—"
    if abs(value) < _STEADY:
        return "±0%"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value) * 100:.0f}%"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def moment(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def expected(value: int | None, exact: bool) -> str:
    return "—" if value is None else count(value) if exact else f"≥{count(value)}"


def subject_of(report: Report) -> str:
    first, last = report.start.strftime("%d %b"), report.end.strftime("%d %b %Y")
    parts = [f"{count(report.runs)} runs", f"{rate(report.success_rate)} succeeded"]
    if report.missed:
        parts.append(f"{count(report.missed)} missed fires")
    if report.incident_count:
        parts.append(f"{count(report.incident_count)} incidents")
    return f"tickwork report {first} – {last}: {', '.join(parts)}"


def render_html(report: Report, mode: Mode = MAIL, base_url: str | None = None) -> str:
    """The report drawn by the one template: a whole e-mail document (``MAIL``) or the body
    of the dashboard's page (``PAGE``)."""

    def look(*given: str) -> Markup:
        names = [n for n in given if n]
        if not names:
            return Markup("")
        if mode == PAGE:
            return Markup(' class="{}"').format(" ".join(f"rp-{n}" for n in names))
        return Markup(' style="{}"').format("".join(_STYLES[n] for n in names))

    def tone(value: float | None, bad_above: float = 0.0) -> str:
        # A change for the worse is red; one for the better green.
        if value is None or abs(value) < _STEADY:
            return ""
        return "bad" if value > bad_above else "good"

    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            mail=mode == MAIL,
            look=look,
            tone=tone,
            rate=rate,
            share=share,
            seconds=seconds,
            change=change,
            count=count,
            moment=moment,
            expected=expected,
            base_url=None if base_url is None else base_url.rstrip("/"),
            title=subject_of(report),
        )
    )


def render_text(report: Report, base_url: str | None = None) -> str:
    """The text part: the same figures in fixed-width columns."""
    before = format_duration((report.start - report.previous_start).total_seconds())
    lines = [
        subject_of(report),
        f"{moment(report.start)} to {moment(report.end)} (compared with the {before} before)",
        "",
        f"Runs: {count(report.runs)}   Success rate: {rate(report.success_rate)}"
        f"   Expected fires: {count(report.expected)}   Missed fires: {count(report.missed)}",
        f"Queue wait p95: {seconds(report.queue_wait_p95_seconds)}"
        f" ({change(report.queue_wait_change)} against the period before)",
        "",
        "JOBS",
    ]
    header = ("job", "runs", "expected", "missed", "success", "p50", "p95", "p95 change")
    rows: list[tuple[str, ...]] = [
        (
            j.task_name,
            count(j.runs),
            expected(j.expected, j.expected_exact),
            count(j.missed_total),
            rate(j.success_rate),
            seconds(j.p50_seconds),
            seconds(j.p95_seconds),
            change(j.p95_change),
        )
        for j in report.jobs
    ]
    lines += _columns(header, rows) if rows else ["  no jobs ran or were due"]
    lines += ["", "TOP FAILURES"]
    if report.failures:
        for f in report.failures:
            jobs = ", ".join(f"{t} ({n})" for t, n in f.tasks)
            lines.append(f"  {count(f.count)} x {f.error_type or 'Error'}: {f.message}")
            lines.append(f"      jobs: {jobs}; last {moment(f.last_seen)}")
    else:
        lines.append("  no failures")
    lines += ["", "LONGEST INCIDENTS"]
    if report.incidents:
        for i in report.incidents:
            started = moment(i.started_at) if i.started_at else f"before {moment(report.start)}"
            ended = "still firing" if i.ended_at is None else f"resolved {moment(i.ended_at)}"
            lines.append(
                f"  {seconds(i.lasted_seconds)}  {i.rule} on {i.subject}: {started}, {ended}"
            )
    else:
        lines.append("  no incidents")
    if report.paused or report.disabled or report.auto_disabled:
        lines += ["", "PAUSED AND DISABLED JOBS"]
        for p in report.paused:
            until = "until resumed" if p.until is None else f"until {moment(p.until)}"
            lines.append(f"  {p.task_name}: paused by {p.paused_by} ({p.reason}), {until}")
        for a in report.auto_disabled:
            since = "" if a.since is None else f" {moment(a.since)}"
            trial = "trial run queued" if a.trial_queued else "circuit breaker open"
            lines.append(f"  {a.task_name}: auto-disabled{since} ({trial})")
        lines += [f"  {name}: disabled" for name in report.disabled]
    if report.checks:
        lines += ["", "HEARTBEAT CHECKS"]
        rows = [
            (
                c.name,
                c.status,
                share(c.uptime),
                seconds(c.late_seconds or None),
                seconds(c.down_seconds or None),
                seconds(c.paused_seconds or None),
            )
            for c in report.checks
        ]
        lines += _columns(("check", "status", "uptime", "late", "down", "paused"), rows)
    if base_url:
        lines += ["", f"Dashboard: {base_url.rstrip('/')}/report"]
    lines += ["", f"Made {moment(report.generated_at)} by tickwork."]
    return "\n".join(lines) + "\n"


def render(report: Report, base_url: str | None = None) -> RenderedReport:
    """The subject, the e-mail's HTML part and its text part."""
    return RenderedReport(
        subject_of(report), render_html(report, MAIL, base_url), render_text(report, base_url)
    )


def report_message(
    rendered: RenderedReport, sender: str, recipients: tuple[str, ...], at: datetime
) -> EmailMessage:
    """A multipart/alternative message: the text part, then the HTML part."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  " + "  ".join([first, *rest]).rstrip()

    return [line(header), *(line(r) for r in rows)]
