"""The processors page: processors live then stopped, pausing and the run-time settings."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Api
from tests.dashboard.conftest import browser
from tests.dashboard.people import field_errors, person, send
from tickwork.domain.access import AuditQuery, Role
from tickwork.service.queries import ProcessorInfo


async def _processor(site: Api, pid: int, *, stopped: bool = False) -> str:
    now = site.clock.now()
    info = ProcessorInfo(
        id=f"host-{pid}",
        role="scheduler+worker",
        host="box",
        pid=pid,
        version="9.9.9",
        started_at=now - timedelta(minutes=pid),
        heartbeat_at=now,
        stopped_at=now if stopped else None,
    )
    await site.store.heartbeat(info)
    return info.id


async def test_live_processors_come_before_the_stopped_ones(site: Api) -> None:
    live = await _processor(site, 11)
    stopped = await _processor(site, 22, stopped=True)
    async with browser(site) as client:
        page = await client.get("/processors")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Processors</h1>" in html
    assert html.index(live) < html.index("Stopped processors") < html.index(stopped)
    assert html.index("<details>") < html.index(stopped)  # folded away
    assert "scheduler, worker" in html and "9.9.9" in html
    assert "Pause processing" in html and "Save settings" in html  # local mode may act


async def test_pause_resume_and_settings_are_audited_with_the_user(site_any: Api) -> None:
    site = site_any
    async with person(site, "ada", Role.ADMIN) as ada:
        paused = await send(ada, "/processors/pause")
        assert paused.status_code == 303
        assert (await site.ctx.control.get()).paused
        page = await ada.get("/processors")
        assert "Resume processing" in page.text and "Pause processing" not in page.text
        saved = await send(
            ada,
            "/processors",
            {"batch_size": "5", "max_concurrent_jobs": "", "default_timeout_seconds": "2m"},
        )
        assert saved.status_code == 303, saved.text
        assert (await send(ada, "/processors/resume")).status_code == 303
        page = await ada.get("/processors")
    control = await site.ctx.control.get()
    assert not control.paused
    assert control.batch_size == 5 and control.default_timeout_seconds == 120
    assert control.max_concurrent_jobs is None
    assert 'value="2m"' in page.text  # the form shows what is set
    entries = await site.ctx.service.audit_log(AuditQuery(actor="ada", limit=10))
    assert [e.action for e in entries][:3] == [
        "processor.resume",
        "config.update",
        "processor.pause",
    ]


async def test_bad_settings_are_shown_next_to_their_field(site: Api) -> None:
    async with person(site, "ada", Role.OPERATOR) as ada:
        for form, field in (
            ({"batch_size": "0"}, "batch_size"),
            ({"batch_size": "many"}, "batch_size"),
            ({"max_concurrent_jobs": "10001"}, "max_concurrent_jobs"),
            ({"default_timeout_seconds": "soon"}, "default_timeout_seconds"),
            ({"default_timeout_seconds": "0s"}, "default_timeout_seconds"),
        ):
            page = await send(ada, "/processors", form)
            assert page.status_code == 422, page.text
            errors = field_errors(page.text)
            assert list(errors) == [field], (form, errors)
            assert errors[field]
            value = next(iter(form.values()))
            assert f'value="{value}"' in page.text  # what was typed stays to be corrected
    assert await site.ctx.control.get() == type(await site.ctx.control.get())()


async def test_a_viewer_sees_no_controls_and_its_posts_are_refused(site: Api) -> None:
    async with person(site, "vic", Role.READ_ONLY) as vic:
        page = await vic.get("/processors")
        assert page.status_code == 200
        for control in (
            "Pause processing",
            "Resume processing",
            "Save settings",
            '<form method="post" action="/processors',
        ):
            assert control not in page.text
        for path, data in (
            ("/processors/pause", {}),
            ("/processors/resume", {}),
            ("/processors", {"batch_size": "3"}),
        ):
            refused = await send(vic, path, data)
            assert refused.status_code == 403, path
    control = await site.ctx.control.get()
    assert not control.paused and control.batch_size is None
