"""The weekly report end to end, in real subprocesses on a real SQLite file, e-mailed to a real
SMTP server (aiosmtpd on 127.0.0.1): ``tickwork report`` as text, JSON, an HTML file and
``--send``; the built-in task ``tickwork.report`` synced by ``tickwork run`` from [report]
and delivered by its worker; a bad [report] refused with the field named."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.integration.support import cli, cli_json, start_tickwork, stop, wait_for
from tests.runtime.receivers import Mailbox, closed_port
from tests.service.report_data import ReportPage, seed
from tickwork.domain.checks import CheckSource, CheckSpec, new_check, ping_of
from tickwork.store import create_store
from tickwork.store.checking import PingWrite

RECIPIENTS = ["ops@example.com", "cto@example.com"]


@pytest.fixture
def mailbox() -> Iterator[tuple[int, Mailbox]]:
    """A plain SMTP server on 127.0.0.1 (a relay without TLS, as ``security = "none"``)."""
    box = Mailbox()
    port = closed_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


def write_config(
    tmp_path: Path, port: int, url: str, schedule: str = "0 9 * * MON"
) -> dict[str, str]:
    (tmp_path / "tickwork.toml").write_text(
        f"""
[alerts]
base_url = "https://tw.example.com"

[alerts.channels.mail]
type = "email"
host = "127.0.0.1"
port = {port}
security = "none"
from = "tickwork@example.com"
to = ["alerts@example.com"]

[report]
recipients = {json.dumps(RECIPIENTS)}
channel = "mail"
schedule = "{schedule}"
"""
    )
    return {"TICKWORK_DATABASE_URL": url}


def parts(message: EmailMessage) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_content()
    return found


@pytest.fixture
def seeded(tmp_path: Path, sqlite_url: str, mailbox: tuple[int, Mailbox]) -> dict[str, str]:
    env = write_config(tmp_path, mailbox[0], sqlite_url)

    async def fill() -> None:
        store = create_store(env["TICKWORK_DATABASE_URL"])
        await store.open()
        try:
            now = datetime.now(UTC)
            await seed(store, now)
            # A heartbeat check pinged 80 minutes ago (every hour, grace 10 min): down now.
            spec = CheckSpec("db-backup", period_seconds=3600, grace_seconds=600)
            check = new_check(spec, CheckSource.API, now - timedelta(hours=2))
            await store.create_check(check)
            ping = ping_of(None, now - timedelta(minutes=80))
            await store.record_ping(PingWrite(ping, uuid=check.uuid))
        finally:
            await store.close()

    asyncio.run(fill())
    return env


def test_cli_text_json_html_and_send(
    seeded: dict[str, str], tmp_path: Path, mailbox: tuple[int, Mailbox]
) -> None:
    text = cli(["report"], tmp_path, seeded)
    assert text.returncode == 0, text.stderr
    assert "Runs: 21   Success rate: 85.7%" in text.stdout and "Missed fires: 2" in text.stdout
    assert "HEARTBEAT CHECKS" in text.stdout
    body = cli_json(["report", "--since", "7d"], tmp_path, seeded)
    assert body["totals"]["runs"] == 21 and [f["count"] for f in body["failures"]] == [2, 1]

    done = cli(["report", "--html", "week.html"], tmp_path, seeded)
    assert done.returncode == 0, done.stderr
    page = ReportPage((tmp_path / "week.html").read_text())
    assert page.figures["runs"] == "21" and page.rows["job"]["hourly"]["missed"] == "2"
    # Job links point at the dashboard of [alerts] base_url.
    assert 'href="https://tw.example.com/jobs/hourly"' in (tmp_path / "week.html").read_text()

    _, box = mailbox
    sent = cli(["report", "--send"], tmp_path, seeded)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("sent to 2 recipient(s) through mail: tickwork report")
    [(sender, to, message)] = box.messages
    assert sender == "tickwork@example.com" and to == RECIPIENTS
    assert message["Subject"].startswith("tickwork report") and "21 runs" in message["Subject"]
    found = parts(message)
    assert set(found) == {"text/plain", "text/html"}
    assert "Runs: 21" in found["text/plain"]
    assert ReportPage(found["text/html"]).figures["success_rate"] == "85.7%"

    both = cli(["report", "--html", "x.html", "--send"], tmp_path, seeded)
    assert both.returncode == 2 and "choose one" in both.stderr
    bad = cli(["report", "--since", "7 weeks"], tmp_path, seeded)
    assert bad.returncode == 2 and "since" in bad.stderr
    audit = cli_json(["audit", "--action", "report.send"], tmp_path, seeded)
    assert len(audit) == 1 and audit[0]["after"]["recipients"] == 2


def test_the_builtin_task_sends_the_report(
    seeded: dict[str, str], tmp_path: Path, mailbox: tuple[int, Mailbox]
) -> None:
    _, box = mailbox
    proc = start_tickwork(["run"], tmp_path, seeded)
    try:
        job = wait_for(lambda: _get_job(tmp_path, seeded))
        assert job["schedule"] == "0 9 * * MON" and job["source"] == "builtin"
        triggered = cli(["jobs", "trigger", "tickwork.report"], tmp_path, seeded)
        assert triggered.returncode == 0, triggered.stderr
        wait_for(lambda: box.messages, timeout=30)
    finally:
        output = stop(proc)
    [(_, to, message)] = box.messages
    assert to == RECIPIENTS and set(parts(message)) == {"text/plain", "text/html"}
    # The process's own report has the checks' uptime (the launcher hands it their source).
    row = ReportPage(parts(message)["text/html"]).rows["check"]["db-backup"]
    assert row["status"] == "down" and row["uptime"].endswith("%") and row["late"] == "10m"
    assert "HEARTBEAT CHECKS" in parts(message)["text/plain"]
    assert "report sent to 2 recipient(s) through mail" in json.dumps(
        cli_json(["jobs", "history", "tickwork.report"], tmp_path, seeded)
    ), output


def _get_job(tmp_path: Path, env: dict[str, str]) -> dict[str, object] | None:
    done = cli(["jobs", "show", "tickwork.report", "--json"], tmp_path, env)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_a_bad_report_table_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    env = write_config(tmp_path, closed_port(), sqlite_url)
    text = (tmp_path / "tickwork.toml").read_text().replace('channel = "mail"', 'channel = "nope"')
    (tmp_path / "tickwork.toml").write_text(text)
    done = cli(["report"], tmp_path, env)
    assert done.returncode == 2
    assert "report.channel" in done.stderr and "nope" in done.stderr
