"""A job's backfills on its page over HTTP: the form's preview and start, the list with its
progress, cancel as a whole, CSRF and scope, and a bad time named."""

from __future__ import annotations

from datetime import UTC, timedelta

from tests.api.conftest import Api, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tests.dashboard.test_jobs import PASSWORD, admin_client
from tickwork.domain.access import LOCAL, Role


def form_time(site: Api, minutes_ago: int) -> str:
    """A ``datetime-local`` value (read as UTC) on a 5-minute boundary."""
    now = site.clock.now().astimezone(UTC).replace(second=0, microsecond=0)
    at = now - timedelta(minutes=now.minute % 5 + minutes_ago)
    return at.strftime("%Y-%m-%dT%H:%M")


async def test_backfill_form_list_and_cancel(site_any: Api) -> None:
    site = site_any
    await define(site, "ping")  # every 5 minutes
    async with browser(site) as client:
        csrf = await admin_client(site, client)
        page = await client.get("/jobs/ping")
        assert 'action="/jobs/ping/backfill"' in page.text and "No backfills." in page.text
        form = {"csrf": csrf, "from": form_time(site, 60), "to": form_time(site, 40)}

        preview = await client.post("/jobs/ping/backfill", data={**form, "action": "preview"})
        assert preview.status_code == 200, preview.text
        assert "5 fire(s) in the range; it would create 5 job(s), already present 0" in (
            preview.text
        )
        assert await site.ctx.service.list_backfills("ping") == []

        start = await client.post("/jobs/ping/backfill", data={**form, "action": "start"})
        assert start.status_code == 303 and start.headers["location"] == "/jobs/ping#backfills"
        (made,) = await site.ctx.service.list_backfills("ping")
        assert (made.created, made.requested_by, made.overlap.value) == (5, "ada", "queue")
        shown = (await client.get("/jobs/ping")).text.split('id="backfills"', 1)[1]
        assert "0 / 5" in shown and f'aria-label="Cancel backfill {made.id}"' in shown

        # The same range again: nothing new, so no second backfill.
        await client.post("/jobs/ping/backfill", data={**form, "action": "start"})
        assert len(await site.ctx.service.list_backfills("ping")) == 1

        no_csrf = await client.post(f"/backfills/{made.id}/cancel", data={})
        assert no_csrf.status_code == 403
        cancel = await client.post(f"/backfills/{made.id}/cancel", data={"csrf": csrf})
        assert cancel.status_code == 303
        after = await site.ctx.service.get_backfill(made.id)
        assert after.state == "cancelled" and after.counts.cancelled == 5
        shown = (await client.get("/jobs/ping")).text.split('id="backfills"', 1)[1]
        assert "cancelled" in shown and "Cancel backfill" not in shown

        bad = await client.post(
            "/jobs/ping/backfill", data={**form, "from": "last week", "action": "start"}
        )
        assert bad.status_code == 422 and "from" in bad.text and "is not a time" in bad.text


async def test_a_viewer_gets_no_backfill_form(site: Api) -> None:
    await define(site, "ping")
    await site.ctx.accounts.create_user("vera", Role.READ_ONLY, PASSWORD, actor=LOCAL)
    async with browser(site) as client:
        assert (await log_in(client, "vera", PASSWORD)).status_code == 303
        page = await client.get("/jobs/ping")
        assert "/backfill" not in page.text and "No backfills." in page.text
        refused = await client.post(
            "/jobs/ping/backfill",
            data={
                "csrf": csrf_of(page.text),
                "from": form_time(site, 60),
                "to": form_time(site, 40),
            },
        )
        assert refused.status_code == 403
