"""The audit log page: newest first, paged by entry ID, filtered, with links and diffs."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from tests.dashboard.conftest import browser
from tests.dashboard.people import person
from tickwork.domain.access import NewAuditEntry, Role

ROW_ID = re.compile(r'<tr>\s*<td class="num">(\d+)</td>')
OLDER = re.compile(r'<a href="([^"]+)" rel="next">')


def _ids(html: str) -> list[int]:
    return [int(i) for i in ROW_ID.findall(html)]


async def _entries(site: Api, n: int) -> None:
    now = site.clock.now()
    await site.store.add_audits(
        [
            NewAuditEntry(
                actor="ada" if i % 2 else "bob",
                action="job.update" if i % 3 else "token.create",
                target_type="job" if i % 3 else "token",
                target=f"job-{i}" if i % 3 else str(i),
                at=now,
                before={"schedule": "@hourly"} if i % 3 else None,
                after={"schedule": "@daily"} if i % 3 else {"name": f"t{i}"},
            )
            for i in range(n)
        ]
    )


async def test_pages_go_from_newest_to_oldest_by_entry_id(site_any: Api) -> None:
    site = site_any
    await _entries(site, 120)
    seen: list[int] = []
    async with browser(site) as client:
        url: str | None = "/audit"
        pages = 0
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200, page.text
            ids = _ids(page.text)
            assert ids == sorted(ids, reverse=True)
            assert len(ids) == (50 if pages < 2 else 20)
            seen += ids
            older = OLDER.search(page.text)
            url = older.group(1).replace("&amp;", "&") if older else None
            pages += 1
    assert pages == 3
    assert len(set(seen)) == 120 and seen == sorted(seen, reverse=True)


async def test_filters_links_and_diffs(site_any: Api) -> None:
    site = site_any
    await _entries(site, 12)
    async with browser(site) as client:
        by_actor = await client.get("/audit", params={"actor": "bob"})
        assert len(_ids(by_actor.text)) == 6
        assert "<td>ada</td>" not in by_actor.text
        by_prefix = await client.get("/audit", params={"action": "token."})
        assert len(_ids(by_prefix.text)) == 4
        one = await client.get("/audit", params={"target_type": "job", "target": "job-5"})
        assert len(_ids(one.text)) == 1
        assert '<a href="/jobs/job-5">job-5</a>' in one.text
        assert "<del>@hourly</del>" in one.text and "<ins>@daily</ins>" in one.text
        empty = await client.get("/audit", params={"actor": "nobody", "action": ""})
        assert _ids(empty.text) == [] and "match these filters" in empty.text
        # The filters survive paging.
        await _entries(site, 100)
        paged = await client.get("/audit", params={"actor": "bob"})
        older = OLDER.search(paged.text)
        assert older is not None and "actor=bob" in older.group(1)
        unknown = await client.get("/audit", params={"who": "ada"})
        assert unknown.status_code == 422 and "who" in unknown.text


async def test_a_queue_job_target_links_to_its_page(site: Api) -> None:
    await site.store.add_audits(
        [NewAuditEntry("ada", "queue_job.cancel", "queue_job", "7", site.clock.now())]
    )
    async with browser(site) as client:
        page = await client.get("/audit")
    assert '<a href="/queue/7">7</a>' in page.text


async def test_a_viewer_reads_the_audit_log_but_not_the_users(site: Api) -> None:
    await _entries(site, 3)
    async with person(site, "vic", Role.READ_ONLY) as vic:
        page = await vic.get("/audit")
        assert page.status_code == 200
        assert len(_ids(page.text)) >= 3
        assert 'href="/audit"' in page.text and 'href="/users"' not in page.text
