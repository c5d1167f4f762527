"""The queue, a queued job's page and a run's page over HTTP: filters and paging, why jobs
wait, each action (audited with the user), a viewer's page and refused POSTs, bad input."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import httpx

from tests.api.conftest import Api, define
from tests.dashboard.conftest import browser, csrf_of, log_in
from tests.dashboard.queue_support import WORKER, claimed, fail, report
from tickwork.domain.access import LOCAL, AuditQuery, Role
from tickwork.domain.activity import NewRunEvent, RunEventKind
from tickwork.domain.jobs import JobState, NewJob, TriggeredBy
from tickwork.service.jobs import EnqueueRequest

PASSWORD = "correct horse battery"
JOB_LINK = re.compile(r'<td><a href="/queue/(\d+)">')
BUTTONS = ("Cancel</button>", "Retry</button>", "Run now</button>", "Reschedule</button>")


def job_ids(html: str) -> list[int]:
    return [int(i) for i in JOB_LINK.findall(html)]


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">', html)
    return None if found is None else found.group(1).replace("&amp;", "&")


async def as_user(site: Api, client: httpx.AsyncClient, name: str, role: Role) -> str:
    """Log ``client`` in as a new user of ``role``; returns the CSRF token of its session."""
    await site.ctx.accounts.create_user(name, role, PASSWORD, actor=LOCAL)
    assert (await log_in(client, name, PASSWORD)).status_code == 303
    return csrf_of((await client.get("/queue")).text)


async def test_the_queue_filters_and_pages(site_any: Api) -> None:
    site = site_any
    await define(site, "ping", "other")
    svc = site.ctx.service
    later = EnqueueRequest(task_name="ping", delay_seconds=3600)
    ping_ids = await svc.enqueue_many([later] * 120)
    keyed = await svc.enqueue_many(
        [EnqueueRequest(task_name="other", key="tenant-1", delay_seconds=60)] * 3
    )
    async with browser(site) as client:
        first = await client.get("/queue")
        assert first.status_code == 200, first.text
        assert '<a href="/queue" aria-current="page">Queue</a>' in first.text
        seen = job_ids(first.text)
        assert seen == sorted([*ping_ids, *keyed], reverse=True)[:50]
        # Counts per state at the top, and why a job waits: its time has not come.
        assert re.search(r"scheduled</span></a></th><td class=\"num\">123<", first.text)
        assert "waiting for its time" in first.text
        url = next_link(first.text)
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            seen += job_ids(page.text)
            url = next_link(page.text)
        assert seen == sorted([*ping_ids, *keyed], reverse=True)  # each once, newest first

        ping = await client.get("/queue", params={"task": "ping", "state": "pending"})
        pages = [job_ids(ping.text)]
        url = next_link(ping.text)
        assert url is not None and "task=ping" in url and "state=pending" in url
        while url is not None:
            page = await client.get(url)
            pages.append(job_ids(page.text))
            url = next_link(page.text)
        assert [len(p) for p in pages] == [50, 50, 20]
        assert sorted(i for p in pages for i in p) == sorted(ping_ids)

        by_key = await client.get("/queue", params={"key": "tenant-1"})
        assert job_ids(by_key.text) == sorted(keyed, reverse=True)
        running = await client.get("/queue", params={"state": "running"})
        assert job_ids(running.text) == [] and "No job matches these filters" in running.text

        wrong = await client.get("/queue", params={"state": "sleeping"})
        assert wrong.status_code == 422
        assert "unknown state &#39;sleeping&#39;; use one of pending, scheduled" in wrong.text
        unknown = await client.get("/queue", params={"page": "2"})
        assert unknown.status_code == 422 and "unknown query parameter" in unknown.text
        not_an_id = await client.get("/queue", params={"before": "yesterday"})
        assert not_an_id.status_code == 422, not_an_id.text
        assert "before" in not_an_id.text and "integer" in not_an_id.text


async def test_each_action_works_and_is_audited_with_the_user(site_any: Api) -> None:
    site = site_any
    await define(site, "ping")
    svc = site.ctx.service
    job_id = await svc.enqueue(EnqueueRequest(task_name="ping", delay_seconds=3600))
    async with browser(site) as client:
        csrf = await as_user(site, client, "ada", Role.OPERATOR)
        page = await client.get("/queue")
        assert all(b in page.text for b in ("Cancel</button>", "Run now</button>"))

        now_ = await client.post(
            f"/queue/{job_id}/run-now", data={"csrf": csrf, "back": "/queue?task=ping"}
        )
        assert now_.status_code == 303 and now_.headers["location"] == "/queue?task=ping"
        assert (await svc.get_job(job_id)).state is JobState.AVAILABLE

        at = (site.clock.now() + timedelta(days=2)).replace(second=0, microsecond=0)
        moved = await client.post(
            f"/queue/{job_id}/reschedule",
            data={"csrf": csrf, "at": at.strftime("%Y-%m-%dT%H:%M")},
        )
        assert moved.status_code == 303 and moved.headers["location"] == f"/queue/{job_id}"
        job = await svc.get_job(job_id)
        assert job.state is JobState.SCHEDULED and job.scheduled_at == at.astimezone(UTC)

        bad = await client.post(
            f"/queue/{job_id}/reschedule", data={"csrf": csrf, "at": "next tuesday"}
        )
        assert bad.status_code == 422
        assert "&#39;next tuesday&#39; is not a time; use YYYY-MM-DDTHH:MM (UTC)" in bad.text
        assert 'value="next tuesday"' in bad.text and 'aria-invalid="true"' in bad.text
        empty = await client.post(f"/queue/{job_id}/reschedule", data={"csrf": csrf, "at": ""})
        assert empty.status_code == 422 and "give the new time" in empty.text
        assert (await svc.get_job(job_id)).scheduled_at == at

        retry_pending = await client.post(f"/queue/{job_id}/retry", data={"csrf": csrf})
        assert retry_pending.status_code == 409
        assert "only a finished job can be retried" in retry_pending.text

        cancelled = await client.post(f"/queue/{job_id}/cancel", data={"csrf": csrf})
        assert cancelled.status_code == 303
        assert (await svc.get_job(job_id)).state is JobState.CANCELLED
        finished = await client.get(f"/queue/{job_id}")
        assert "Retry</button>" in finished.text and "Cancel</button>" not in finished.text

        retried = await client.post(f"/queue/{job_id}/retry", data={"csrf": csrf})
        assert retried.status_code == 303
        new_id = int(retried.headers["location"].rsplit("/", 1)[1])
        new = await client.get(f"/queue/{new_id}")
        assert new.status_code == 200 and "Requested by</dt><dd>ada<" in new.text

    entries = await svc.audit_log(AuditQuery(limit=50))
    mine = [(e.action, e.target) for e in reversed(entries) if e.actor == "ada"]
    assert mine == [
        ("session.login", "ada"),
        ("queue_job.reschedule", str(job_id)),
        ("queue_job.reschedule", str(job_id)),
        ("queue_job.cancel", str(job_id)),
        ("queue_job.retry", str(job_id)),
    ]


async def test_a_viewer_sees_no_button_and_every_post_is_refused(site: Api) -> None:
    await define(site, "ping")
    svc = site.ctx.service
    pending = await svc.enqueue(EnqueueRequest(task_name="ping", delay_seconds=3600))
    job = await claimed(site, "ping")
    await fail(site, job)
    (run,) = await svc.runs_of_job(job.id)
    async with browser(site) as client:
        csrf = await as_user(site, client, "vic", Role.READ_ONLY)
        for path in ("/queue", f"/queue/{pending}", f"/queue/{job.id}", f"/runs/{run.id}"):
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert not any(b in page.text for b in BUTTONS), path
            assert 'type="datetime-local"' not in page.text
        for action, target in (
            ("cancel", pending),
            ("run-now", pending),
            ("retry", job.id),
        ):
            refused = await client.post(f"/queue/{target}/{action}", data={"csrf": csrf})
            assert refused.status_code == 403, action
            assert "lacks the scope &#39;jobs:trigger&#39;" in refused.text
        refused = await client.post(
            f"/queue/{pending}/reschedule", data={"csrf": csrf, "at": "2030-01-01T00:00"}
        )
        assert refused.status_code == 403
    assert (await svc.get_job(pending)).state is JobState.SCHEDULED
    assert [j.id for j in await svc.list_jobs()] == sorted([pending, job.id], reverse=True)


async def test_the_job_page(site_any: Api) -> None:
    site = site_any
    await define(site, "ping")
    now = site.clock.now()
    new = NewJob(
        "ping",
        now + timedelta(hours=1),
        TriggeredBy.API,
        args=[1, "two"],
        kwargs={"region": "eu"},
        key="tenant-9",
        priority=4,
        requested_by="carol",
    )
    (later,) = await site.store.enqueue([new], now)
    job = await claimed(site, "ping", max_attempts=2)
    await fail(site, job, retry=True)
    (run,) = await site.ctx.service.runs_of_job(job.id)
    async with browser(site) as client:
        page = await client.get(f"/queue/{later}")
        assert page.status_code == 200, page.text
        text = page.text
        assert '<a href="/jobs/ping">ping</a>' in text
        assert "&#34;two&#34;" in text and "&#34;region&#34;: &#34;eu&#34;" in text
        assert "<code>tenant-9</code>" in text and "Requested by</dt><dd>carol<" in text
        assert "waiting for its time" in text and "No run has ended yet." in text
        retrying = await client.get(f"/queue/{job.id}")
        assert f'<a href="/runs/{run.id}">{run.id}</a>' in retrying.text
        assert "waiting for a retry backoff" in retrying.text
        assert "Attempts</dt><dd>1 of 2<" in retrying.text
        assert (await client.get("/queue/424242")).status_code == 404


async def test_the_run_page_of_a_failed_run(site_any: Api) -> None:
    site = site_any
    await define(site, "ping")
    job = await claimed(site, "ping")
    await report(site, job, site.clock.now())
    await fail(site, job, seconds=2)
    (run,) = await site.ctx.service.runs_of_job(job.id)
    async with browser(site) as client:
        page = await client.get(f"/runs/{run.id}")
        assert page.status_code == 200, page.text
        text = page.text
        assert "ValueError" in text and "bad row 17" in text
        assert "Stack trace" in text and "File &#34;sync.py&#34;, line 3" in text
        assert "reading rows" in text  # output
        assert "copied batch of attempt 1" in text and "&#34;rows&#34;: 40" in text
        assert "Last progress:" in text and "3 of 10 (30.0 %)" in text
        assert "share of the worker" in text and "25.0 % of one core" in text
        assert "an in-process task shares the worker's memory" in text
        assert f"<code>{WORKER}</code>" in text and "2s" in text
        assert "Retry</button>" in text  # local mode may do everything
        assert (await client.get("/runs/424242")).status_code == 404


async def test_a_running_retry_shows_its_progress_live(site: Api) -> None:
    await define(site, "ping")
    job = await claimed(site, "ping", max_attempts=3)
    for attempt in (1, 2):
        await fail(site, job, retry=True)
        site.clock.advance(5)
        (job,) = await site.store.claim(WORKER, 1, site.clock.now(), 60)
        assert job.attempt == attempt + 1
    await report(site, job, site.clock.now())
    older = NewRunEvent(
        job.id, 2, "ping", RunEventKind.OUTPUT, site.clock.now(), "older attempt <b>\n"
    )
    piece = NewRunEvent(job.id, 3, "ping", RunEventKind.OUTPUT, site.clock.now(), "row 1 <ok>\n")
    await site.store.add_run_events([older, piece])
    first, second = sorted(await site.ctx.service.runs_of_job(job.id), key=lambda r: r.attempt)
    async with browser(site) as client:
        for path in (f"/runs/{first.id}", f"/queue/{job.id}"):
            page = await client.get(path)
            assert page.status_code == 200, page.text
            live = re.search(
                r'<div id="(run-timeline|job-live)" data-live>(.*?)\n</div>', page.text, re.S
            )
            assert live is not None, path
            region = live.group(2)
            assert "Running now: attempt 3" in region
            assert "copied batch of attempt 3" in region and "3 of 10" in region
            assert (
                "row 1 &lt;ok&gt;" in region and "older attempt" not in region
            )  # its own, escaped
            assert "Stop</button>" in page.text
        timeline = (await client.get(f"/runs/{first.id}")).text
        rows = re.findall(
            r"<tr[^>]*>\s*<td>(.*?)</td>\s*<td>(<span class=\"badge.*?)</td>", timeline
        )
        shown = [(re.sub("<[^>]+>", "", a), re.sub("<[^>]+>", "", b)) for a, b in rows]
        assert shown == [
            ("attempt 1 (this run)", "failed"),
            ("attempt 2", "failed"),
            ("attempt 3", "running"),
        ]
        assert f'<a href="/runs/{second.id}">attempt 2</a>' in timeline and "so far" in timeline


async def test_a_trigger_leads_to_its_job_page(site: Api) -> None:
    await define(site, "ping")
    async with browser(site) as client:
        csrf = csrf_of((await client.get("/queue")).text)
        done = await client.post("/jobs/ping/trigger", data={"csrf": csrf})
        assert done.status_code == 303
        (job,) = await site.ctx.service.list_jobs()
        assert done.headers["location"] == f"/queue/{job.id}"
        page = await client.get(done.headers["location"])
        assert page.status_code == 200 and f"Job {job.id}" in page.text
