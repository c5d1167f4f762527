"""Dependencies over the adapters: definitions made over the API with ``after`` (an unknown
upstream and a cycle refused by name), the released job's upstream run in the API's and the
CLI's job detail, the job page's dependencies section (linked both ways), the queue page's
"Released by", and the server-rendered graph at ``/dependencies``."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.conftest import HTTP_JOB, Api, add_run
from tests.dashboard.conftest import browser
from tests.integration.support import cli_json
from tickwork.domain.queries import JobQuery
from tickwork.runtime.releaser import Releaser

URL = {"http": {"url": "http://127.0.0.1:9/health"}}


async def released_load(site: Api) -> tuple[int, int]:
    """extract → load, alarm (on failure) → load's job released by extract's run; the load
    job's ID and the run's."""
    svc = site.ctx.service
    await svc.create_task({"name": "extract", **URL})
    await svc.create_task({"name": "load", **URL, "after": ["extract"]})
    await svc.create_task(
        {**HTTP_JOB, "name": "alarm", "after": [{"job": "extract", "on": "failed"}]}
    )
    releaser = Releaser(site.store, clock=site.clock)
    await releaser.run_once(force=True)
    extract_job = await add_run(site, "extract")
    (run,) = await svc.runs_of_job(extract_job)
    result = await releaser.run_once()
    assert result is not None and len(result.released) == 1
    (job,) = await site.store.query_jobs(JobQuery(task_name="load"))
    return job.id, run.id


async def test_api_and_cli_show_which_run_released_a_job(
    site: Api, sqlite_url: str, tmp_path: Path
) -> None:
    job_id, run_id = await released_load(site)
    got = await site.client.get(f"/api/queue/{job_id}")
    assert got.status_code == 200, got.text
    assert got.json()["job"]["released_by_run_id"] == run_id
    assert got.json()["job"]["triggered_by"] == "dependency"
    shown = cli_json(["jobs", "get", str(job_id)], tmp_path, {"TICKWORK_DATABASE_URL": sqlite_url})
    assert shown["released_by_run_id"] == run_id
    env = {"TICKWORK_DATABASE_URL": sqlite_url}
    load = cli_json(["jobs", "show", "load"], tmp_path, env)
    assert load["after"] == [{"job": "extract", "on": "success"}] and load["requires"] == []
    definition = (await site.client.get("/api/jobs/load")).json()
    assert "extract" in str(definition)


async def test_the_api_refuses_an_unknown_upstream_and_a_cycle(site: Api) -> None:
    await site.ctx.service.create_task({"name": "a", **URL})
    await site.ctx.service.create_task({"name": "b", **URL, "after": ["a"]})
    unknown = await site.client.post("/api/jobs", json={"name": "c", **URL, "after": ["nope"]})
    assert unknown.status_code == 422, unknown.text
    assert "unknown job 'nope'" in unknown.text
    loop = await site.client.patch("/api/jobs/a", json={"after": ["b"]})
    assert loop.status_code == 422, loop.text
    assert "dependency cycle a → b → a" in loop.text


async def test_the_dashboard_shows_dependencies_and_the_graph(site: Api) -> None:
    job_id, run_id = await released_load(site)
    async with browser(site) as client:
        load = (await client.get("/jobs/load")).text
        section = load[load.index('id="dependencies"') :]
        section = section[: section.index("</section>")]
        assert '<a href="/jobs/extract">extract</a>' in section
        assert "Downstream</dt><dd>none" in section
        extract = (await client.get("/jobs/extract")).text
        section = extract[extract.index('id="dependencies"') :]
        section = section[: section.index("</section>")]
        assert '<a href="/jobs/load">load</a>' in section
        assert (
            '<a href="/jobs/alarm">alarm</a> <span class="muted">(after failed)</span>' in section
        )
        queued = (await client.get(f"/queue/{job_id}")).text
        assert f'<a href="/runs/{run_id}">run #{run_id}</a>' in queued
        page = await client.get("/dependencies")
        assert page.status_code == 200, page.text
        svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
        assert 'aria-label="Dependencies of 3 jobs: 2 links"' in svg
        assert re.findall(r'<a href="/jobs/([^"]+)">', svg) == ["extract", "alarm", "load"]
        assert svg.count('marker-end="url(#arrow)"') == 2
        assert 'class="dep failed"' in svg
        assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert 'href="/dependencies"' in page.text  # in the navigation
        # The jobs list says what starts a job without a schedule.
        listed = (await client.get("/jobs")).text
        assert ">after extract<" in listed  # load; alarm has a schedule of its own
