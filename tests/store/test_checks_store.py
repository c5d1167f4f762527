"""The Store contract of heartbeat checks, on SQLite and PostgreSQL: checks by UUID or name,
names unique, pings applied under the row lock (concurrent pings all count), starts paired
with finishes by rid, the newest pings kept, the configuration's checks synced."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tickwork.domain.checks import (
    CheckSource,
    CheckSpec,
    CheckStatus,
    PingKind,
    check_state,
    new_check,
    ping_of,
)
from tickwork.errors import ConflictError
from tickwork.store import SqlStore
from tickwork.store import checks as checks_sql
from tickwork.store.checking import PingWrite

KEEP = 20
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_checks_by_uuid_or_name_with_unique_names(store: SqlStore) -> None:
    spec = CheckSpec("backup", period_seconds=3600, grace_seconds=600, tags=("db",))
    made = await store.create_check(new_check(spec, CheckSource.API, T0))
    assert made is not None
    assert await store.get_check(made.uuid) == made
    assert await store.get_check(made.uuid.upper()) == made  # any UUID spelling
    assert await store.get_check("backup") == made
    assert await store.get_check("nope") is None
    assert await store.create_check(new_check(spec, CheckSource.API, T0)) is None  # name taken
    other = await store.create_check(new_check(CheckSpec("other"), CheckSource.API, T0))
    assert other is not None
    with pytest.raises(ConflictError):
        await store.update_check(other.uuid, dataclasses.replace(spec, grace_seconds=60))
    changed = await store.update_check(
        made.uuid, dataclasses.replace(spec, cron="0 3 * * *", period_seconds=None)
    )
    assert changed is not None and changed.cron == "0 3 * * *" and changed.uuid == made.uuid
    assert [c.name for c in await store.list_checks()] == ["backup", "other"]
    paused = await store.pause_check(made.uuid, at(1))
    assert paused is not None and paused.paused_at == at(1)
    assert check_state(paused, at(2)).status is CheckStatus.PAUSED
    assert await store.delete_check(other.uuid) == other
    assert await store.delete_check(other.uuid) is None
    assert await store.update_check(other.uuid, spec) is None


async def test_pings_apply_pair_by_rid_and_are_kept_newest(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = new_check(CheckSpec("etl", period_seconds=3600), CheckSource.API, T0)
    await store.create_check(check)
    assert await store.record_ping(PingWrite(ping_of(None, at(1)), uuid="0" * 8)) is None
    await store.record_ping(PingWrite(ping_of("start", at(1), rid="a"), uuid=check.uuid))
    await store.record_ping(PingWrite(ping_of("start", at(2), rid="b"), uuid=check.uuid))
    # a's finish is paired with a's start (not the latest, b's), which stays open.
    found = await store.record_ping(
        PingWrite(ping_of("0", at(4), rid="a", body=b"done"), uuid=check.uuid)
    )
    assert found is not None
    before, after, ping = found.before, found.after, found.ping
    assert before.started_at == at(2) and before.last_outcome is None
    assert ping.duration_seconds == 180 and ping.kind is PingKind.SUCCESS and ping.exit_status == 0
    assert after.started_at == at(2) and after.start_rid == "b"
    assert after.last_outcome is PingKind.SUCCESS and after.pings == 3
    found = await store.record_ping(PingWrite(ping_of("3", at(7), rid="b"), name="etl"))
    assert found is not None
    after, ping = found.after, found.ping
    assert ping.duration_seconds == 300 and after.started_at is None
    assert check_state(after, at(8)).status is CheckStatus.DOWN
    pings = await store.check_pings(check.uuid)
    assert [p.kind for p in pings] == [
        PingKind.FAIL,
        PingKind.SUCCESS,
        PingKind.START,
        PingKind.START,
    ]
    assert pings[1].body == "done" and pings[1].body_bytes == 4
    assert [p.id for p in await store.check_pings(check.uuid, before_id=pings[1].id, limit=1)] == [
        pings[2].id
    ]
    # The ceiling made small here: the newest pings stay, the oldest go as new ones come.
    monkeypatch.setattr(checks_sql, "KEEP_PINGS", KEEP)
    for i in range(KEEP + 5):
        await store.record_ping(PingWrite(ping_of("log", at(10 + i)), uuid=check.uuid))
    kept = await store.check_pings(check.uuid, limit=500)
    assert len(kept) == KEEP and kept[0].at == at(10 + KEEP + 4)
    assert (await store.get_check("etl")).pings == KEEP + 9  # type: ignore[union-attr]


async def test_concurrent_pings_all_count_and_create_once(store: SqlStore) -> None:
    made = new_check(CheckSpec("auto"), CheckSource.PING, T0)
    writes = [
        PingWrite(ping_of(None, at(i / 10)), name="auto", create=dataclasses.replace(made))
        for i in range(10)
    ]
    results = await asyncio.gather(*(store.record_ping(w) for w in writes))
    assert all(r is not None for r in results)
    [check] = await store.list_checks()
    assert check.pings == 10 and check.source is CheckSource.PING
    assert check_state(check, at(5)).status is CheckStatus.UP


async def test_sync_adds_updates_and_removes_the_configurations_checks(store: SqlStore) -> None:
    api = await store.create_check(new_check(CheckSpec("mine"), CheckSource.API, T0))
    assert api is not None
    wanted = [
        new_check(
            CheckSpec("nightly", cron="0 3 * * *", timezone="Europe/Berlin"), CheckSource.CONFIG, T0
        ),
        new_check(CheckSpec("mine", period_seconds=60), CheckSource.CONFIG, T0),
    ]
    report = await store.sync_checks(wanted, T0)
    assert report.created == ("nightly",) and report.updated == ("mine",)
    mine = await store.get_check("mine")
    assert mine is not None and mine.uuid == api.uuid and mine.source is CheckSource.CONFIG
    again = await store.sync_checks(wanted, T0)
    assert again.created == again.updated == again.removed == ()
    gone = await store.sync_checks(wanted[:1], T0)
    assert gone.removed == ("mine",)
    assert [c.name for c in await store.list_checks()] == ["nightly"]
