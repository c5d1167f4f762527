"""The alerts page (``/alerts``), the checks pages (``/checks``, ``/checks/{name}``) and the
overview's firing alerts, over HTTP on both backends: what each role sees, the actions of an
operator (acknowledge, mute, unmute, pause, resume) and an admin (create, with errors next to
the fields), all refused (403) to a read-only user even with a valid CSRF token."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.api.conftest import Api
from tests.dashboard.people import field_errors, person, send
from tickwork.config.alerts import alerts_from_table
from tickwork.domain.access import AuditQuery, Role
from tickwork.domain.alert_records import AlertKey
from tickwork.domain.alert_states import Status
from tickwork.runtime.evaluator import Evaluator
from tickwork.service.checks import PingRequest

RULES = {
    "rules": [
        {"name": "checks-down", "kind": "check_down", "channels": ["ops"]},
        {"name": "quiet", "kind": "timeout", "channels": ["ops"]},
    ],
    "channels": {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s" * 16}},
}


async def _down_check(site: Api) -> None:
    """A check that went down, and the rule about it firing (as an evaluator stored it)."""
    settings = alerts_from_table(RULES, {})
    site.ctx.service.ctx.alerts = settings  # the process's [alerts]
    checks = site.ctx.service.checks
    made = await checks.create({"name": "db-backup", "period": "1h", "grace": "10m"})
    await checks.create({"name": "fine", "period": "1d"})
    await checks.ping(PingRequest(body=b"dumped\n3 GB"), uuid=made.check.uuid)
    await checks.ping(PingRequest(), name="fine")
    site.clock.advance(2 * 3600)
    evaluator = Evaluator(site.store, settings, clock=site.clock)
    # No delivery here: the rule's notices would be jobs; this page only shows states.
    await evaluator.evaluate()
    states = await site.store.alert_states()
    assert states[AlertKey("checks-down", "check:db-backup")].status is Status.FIRING


async def test_operator_sees_and_acts_on_alerts_and_checks(site_any: Api) -> None:
    site = site_any
    await _down_check(site)
    async with person(site, "olga", Role.OPERATOR) as olga:
        overview = (await olga.get("/")).text
        assert "Firing alerts (1)" in overview and "checks-down</a> on check:db-backup" in overview
        assert "Checks down (1)" in overview and 'href="/checks/db-backup"' in overview
        page = await olga.get("/alerts")
        assert page.status_code == 200, page.text
        html = page.text
        assert 'href="/alerts"' in html and 'href="/checks"' in html  # in the navigation
        # The rule with a firing subject comes first; its subject links to the check.
        assert html.index('id="rule-checks-down"') < html.index('id="rule-quiet"')
        assert 'href="/checks/db-backup">check:db-backup</a>' in html
        assert "no ping since" in html and "Acknowledge" in html
        acked = await send(
            olga, "/alerts/ack", {"rule": "checks-down", "subject": "check:db-backup"}
        )
        assert acked.status_code == 303 and acked.headers["location"] == "/alerts?done=ack"
        after = (await olga.get("/alerts?done=ack")).text
        assert "acknowledged by olga" in after and "Acknowledged: no reminders" in after
        muted = await send(
            olga, "/alerts/mute", {"rule": "checks-down", "subject": "check:db-backup", "for": "4h"}
        )
        assert muted.headers["location"] == "/alerts?done=mute"
        state = (await site.store.alert_states())[AlertKey("checks-down", "check:db-backup")]
        assert state.muted_until == site.clock.now() + timedelta(hours=4)
        whole = await send(olga, "/alerts/mute", {"rule": "quiet", "for": "1d"})
        assert whole.status_code == 303
        assert "muted</span> until" in (await olga.get("/alerts")).text
        off = await send(olga, "/alerts/mute", {"rule": "quiet", "for": "off"})
        assert off.headers["location"] == "/alerts?done=unmute"
        bad = await send(olga, "/alerts/mute", {"rule": "quiet", "for": "forever"})
        assert bad.status_code == 422
        history = (await olga.get("/alerts")).text
        assert "ok → firing" in history and "acknowledged by olga" in history

        checks = (await olga.get("/checks")).text
        assert checks.index("db-backup") < checks.index("fine")  # down first
        assert "New check" not in checks  # an operator may not create checks
        paused = await send(olga, "/checks/db-backup/pause", {"from": "list"})
        assert paused.headers["location"] == "/checks?done=paused"
        one = (await olga.get("/checks/db-backup")).text
        assert "Resume" in one and "paused" in one
        resumed = await send(olga, "/checks/db-backup/resume")
        assert resumed.headers["location"] == "/checks/db-backup?done=resumed"
        detail = (await olga.get(resumed.headers["location"])).text
        made = await site.ctx.service.checks.get("db-backup")
        assert f"/ping/{made.check.uuid}" in detail
        assert "dumped\n3 GB" in detail and "Recent pings" in detail
    actions = [e.action for e in await site.ctx.service.audit_log(AuditQuery(actor="olga"))]
    for action in ("alert.ack", "alert.mute", "alert.unmute", "check.pause", "check.resume"):
        assert action in actions


async def test_admin_creates_checks_with_errors_next_to_fields(site: Api) -> None:
    async with person(site, "ada", Role.ADMIN) as ada:
        page = (await ada.get("/checks")).text
        assert "New check" in page and "No checks yet." in page
        wrong = await send(ada, "/checks", {"name": "Bad Name", "period": "1h"})
        assert wrong.status_code == 422
        assert set(field_errors(wrong.text)) == {"name"}
        assert 'value="1h"' in wrong.text  # the form comes back as sent
        both = await send(ada, "/checks", {"name": "x", "period": "1h", "cron": "0 3 * * *"})
        assert field_errors(both.text).keys() == {"cron"}
        zone = await send(ada, "/checks", {"name": "x", "cron": "0 3 * * *", "timezone": "Mars"})
        assert field_errors(zone.text).keys() == {"timezone"}
        grace = await send(ada, "/checks", {"name": "x", "grace": "soon"})
        assert field_errors(grace.text).keys() == {"grace"}
        made = await send(
            ada, "/checks", {"name": "nightly", "cron": "0 3 * * *", "tags": "db, backups"}
        )
        assert (
            made.status_code == 303 and made.headers["location"] == "/checks/nightly?done=created"
        )
        shown = (await ada.get(made.headers["location"])).text
        assert "Check created" in shown and "cron 0 3 * * * (UTC)" in shown
        assert "tags db, backups" in shown
        taken = await send(ada, "/checks", {"name": "nightly"})
        assert taken.status_code == 409 and "exists" in field_errors(taken.text)["name"]


async def test_read_only_users_see_no_controls_and_are_refused(site_any: Api) -> None:
    site = site_any
    await _down_check(site)
    async with person(site, "rita", Role.READ_ONLY) as rita:
        alerts = (await rita.get("/alerts")).text
        checks = (await rita.get("/checks")).text
        check = (await rita.get("/checks/db-backup")).text
        for html in (alerts, checks, check):
            assert not re.search(r'<form method="post" action="/(alerts|checks)', html), html
        assert "check:db-backup" in alerts and "db-backup" in checks
        for path, data in (
            ("/alerts/ack", {"rule": "checks-down", "subject": "check:db-backup"}),
            ("/alerts/mute", {"rule": "checks-down", "for": "1h"}),
            ("/checks/db-backup/pause", {}),
            ("/checks/db-backup/resume", {}),
            ("/checks", {"name": "sneaky"}),
        ):
            refused = await send(rita, path, data)
            assert refused.status_code == 403, (path, refused.text)
    state = (await site.store.alert_states())[AlertKey("checks-down", "check:db-backup")]
    assert state.acked_by is None and state.muted_until is None
    assert [v.check.name for v in await site.ctx.service.checks.list_all()] == ["db-backup", "fine"]
    assert (await site.ctx.service.checks.get("db-backup")).check.paused_at is None


async def test_unknown_checks_and_missing_fields(site: Api) -> None:
    async with person(site, "ada", Role.ADMIN) as ada:
        assert (await ada.get("/checks/nope")).status_code == 404
        missing = await send(ada, "/alerts/ack", {"rule": "x"})
        assert missing.status_code == 422
