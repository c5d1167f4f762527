"""Column lists and row mappers agree with the tables, and every dialect's raw statements agree with
them: what a hot path selects, returns and inserts is what the one mapper of its table expects.
Round trips through the raw paths and the Core queries give the same domain objects."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from tickwork.domain.jobs import (
    Completion,
    ErrorClass,
    Job,
    JobState,
    NewJob,
    Outcome,
    ResourceScope,
    ResourceUse,
    RunStatus,
    TriggeredBy,
)
from tickwork.domain.queries import RunQuery
from tickwork.store import activity, rows
from tickwork.store import rollups as store_rollups
from tickwork.store.postgres import queue as pg_queue
from tickwork.store.schema import (
    error_rollups,
    jobs,
    key_rollups,
    limiters,
    missed_fires,
    rollups,
    runs,
    series_rollups,
)
from tickwork.store.sqlite import queue as sqlite_queue
from tickwork.store.sqlstore import SqlStore

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MAPS = [
    rows.JOBS,
    rows.RUNS,
    rows.PROCESSORS,
    rows.USERS,
    rows.TOKENS,
    rows.AUDIT,
    activity.RUN_EVENTS,
    activity.MISSED_FIRES,
]


def statements(module: ModuleType) -> dict[str, str]:
    """The module's SQL statements (its upper-case string constants that read or write)."""
    found = {
        name: value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str)
    }
    return {n: s for n, s in found.items() if re.search(r"\b(SELECT|UPDATE|INSERT)\b", s)}


def column_list(text: str) -> list[str]:
    return [c.strip().split(".")[-1] for c in text.split(",") if c.strip()]


def inserted(sql: str) -> tuple[str, list[str]] | None:
    match = re.search(r"INSERT INTO (\w+)\s*\(([^)]*)\)", sql)
    return None if match is None else (match.group(1), column_list(match.group(2)))


TABLES = {
    t.name: t
    for t in (
        jobs,
        runs,
        limiters,
        missed_fires,
        rollups,
        key_rollups,
        error_rollups,
        series_rollups,
    )
}
ROLLUP_COLUMNS = {
    rollups.name: store_rollups.ROLLUP_COLUMNS,
    key_rollups.name: store_rollups.KEY_ROLLUP_COLUMNS,
    error_rollups.name: store_rollups.ERROR_ROLLUP_COLUMNS,
    series_rollups.name: store_rollups.SERIES_ROLLUP_COLUMNS,
}


@pytest.mark.parametrize("table_map", MAPS, ids=lambda m: m.table.name)
def test_each_map_lists_table_columns_in_table_order(table_map: rows.TableMap[object]) -> None:
    names = [c.name for c in table_map.table.c]
    assert list(table_map.columns) == [n for n in names if n in table_map.columns]
    fields = {f.name for f in dataclasses.fields(table_map._cls)}  # type: ignore[arg-type]
    assert set(table_map.columns) <= fields
    assert table_map.select_list == ", ".join(table_map.columns)


@pytest.mark.parametrize("module", [sqlite_queue, pg_queue], ids=["sqlite", "postgres"])
def test_hot_path_statements_return_the_job_column_list(module: ModuleType) -> None:
    """Each RETURNING names existing columns; one that returns rows to map returns exactly the
    job column list (in a CTE, a statement may return the few columns the next one needs)."""
    whole = 0
    for name, sql in statements(module).items():
        for found in re.finditer(r"\bRETURNING\s+([\w.,\s]+?)\s*(?:\)|\Z)", sql.strip()):
            cols = column_list(found.group(1))
            assert set(cols) <= {c.name for c in jobs.c} | {c.name for c in runs.c}, name
            # The run rows a completion returns feed its next CTE (each task's latest run).
            if len(cols) > 3 and "status" not in cols:
                assert cols == list(rows.JOBS.columns), name
                whole += 1
    assert whole >= 2  # the one-statement claim and the claim of admitted IDs


@pytest.mark.parametrize("module", [sqlite_queue, pg_queue], ids=["sqlite", "postgres"])
def test_hot_path_inserts_name_existing_columns_with_one_value_each(module: ModuleType) -> None:
    checked = 0
    for name, sql in statements(module).items():
        found = inserted(sql)
        if found is None:
            continue
        table_name, cols = found
        table = TABLES[table_name]
        assert set(cols) <= {c.name for c in table.c}, name
        assert len(cols) == len(set(cols)), name
        if table is jobs:
            assert cols[: len(rows.NEW_JOB_COLUMNS)] == list(rows.NEW_JOB_COLUMNS), name
        if table is runs:
            assert cols[-len(rows.RUN_INSERT_COLUMNS) :] == list(rows.RUN_INSERT_COLUMNS), name
        if table.name in ROLLUP_COLUMNS:
            assert cols == list(ROLLUP_COLUMNS[table.name]), name
        checked += 1
    assert checked >= 2


def test_sqlite_placeholders_match_the_inserted_columns() -> None:
    for sql in (
        sqlite_queue.INSERT_JOB_SQL,
        sqlite_queue.INSERT_RUN_SQL,
        sqlite_queue.UPSERT_ROLLUPS_SQL,
        sqlite_queue.UPSERT_KEY_ROLLUPS_SQL,
        sqlite_queue.UPSERT_ERROR_ROLLUPS_SQL,
        sqlite_queue.UPSERT_SERIES_SQL,
    ):
        found = inserted(sql)
        assert found is not None
        values = sql[sql.index("VALUES") :].split(" ON CONFLICT")[0]
        assert len(column_list(values.strip()[len("VALUES") :].strip(" ()\n"))) == len(found[1])


def test_row_builders_fill_their_column_lists() -> None:
    new = NewJob("t", T0, TriggeredBy.API, args=(1,), kwargs={"a": 2}, fire_at=T0)
    assert len(rows.new_job_row(new, T0)) == len(rows.NEW_JOB_COLUMNS)
    assert set(rows.new_job_values(new, T0)) <= {c.name for c in jobs.c}
    done = completion(1)
    assert len(rows.completion_run_row(done)) == len(rows.RUN_INSERT_COLUMNS)
    assert len(rows.completion_update(done)) == len(rows.COMPLETION_UPDATE)
    assert (
        sqlite_queue.DUE_SQL.split("SELECT", 1)[1].lstrip().startswith(", ".join(rows.DUE_COLUMNS))
    )


def test_mappers_convert_by_column_type_per_codec() -> None:
    epoch = T0.timestamp()
    raw = (
        7, "t", "running", "[1]", '{"a": 2}', 3, "k", None, epoch, 1, 4, "api", None, epoch,
        epoch, None, "w", epoch + 60, None, "alice", 5, None,
    )  # fmt: skip
    job = sqlite_queue.job_from_tuple(raw)
    assert job.state is JobState.RUNNING and job.triggered_by is TriggeredBy.API
    assert job.requested_by == "alice" and job.backfill_id == 5
    assert job.args == [1] and job.kwargs == {"a": 2}
    assert job.scheduled_at == T0 and job.scheduled_at.tzinfo is UTC
    assert job.lease_expires_at == T0 + timedelta(seconds=60) and job.fire_at is None
    # psycopg parses JSON and gives times in the session's zone: the same job, in UTC.
    tokyo = T0.astimezone(ZoneInfo("Asia/Tokyo"))
    pg_row = (
        *raw[:3], [1], {"a": 2}, *raw[5:8], tokyo, *raw[9:13], tokyo, tokyo, None, "w",
        tokyo + timedelta(seconds=60), None, "alice", 5, None,
    )  # fmt: skip
    from_pg = pg_queue.job_from_tuple(pg_row)
    assert from_pg == job and from_pg.scheduled_at.tzinfo is UTC


def completion(job_id: int, job: Job | None = None) -> Completion:
    started = job.started_at if job and job.started_at else T0
    return Completion(
        job_id=job_id,
        task_name="t",
        attempt=job.attempt if job else 1,
        triggered_by=TriggeredBy.API,
        worker_id="w",
        started_at=started,
        finished_at=started + timedelta(seconds=1.5),
        outcome=Outcome(
            RunStatus.FAILED,
            result={"r": [1, None]},
            error_type="ValueError",
            error_class=ErrorClass.VALIDATION,
            error_message="bad",
            traceback="tb",
            exit_code=3,
            output="out",
            metrics={"processed": 2},
        ),
        next_state=JobState.FAILED,
    )


async def test_raw_paths_and_core_queries_read_each_others_rows(store: SqlStore) -> None:
    new = NewJob(
        "t",
        T0,
        TriggeredBy.API,
        args=(1, "x"),
        kwargs={"k": {"n": None}},
        priority=2,
        key="k1",
        fire_at=T0 + timedelta(microseconds=1),
        requested_by="bob",
    )
    [job_id] = await store.enqueue([new], T0)  # raw
    [claimed] = await store.claim("w", 1, T0, 30)  # raw, mapped by the dialect's codec
    assert claimed == await store.get_job(job_id)  # Core, mapped by the same map
    assert claimed.kwargs == {"k": {"n": None}} and claimed.fire_at == new.fire_at
    assert claimed.requested_by == "bob"
    done_attempt = completion(job_id, claimed)
    used = ResourceUse.measured(ResourceScope.PROCESS, 0.75, 1.5, 123.5)
    done_attempt = dataclasses.replace(
        done_attempt,
        outcome=dataclasses.replace(done_attempt.outcome, resources=used),
        requested_by=claimed.requested_by,
    )
    [run_id] = await store.complete([done_attempt])  # raw
    [run] = await store.query_runs(RunQuery(job_id=job_id))  # Core
    assert run == await store.get_run(run_id)
    assert (run.id, run.status, run.error_class) == (
        run_id,
        RunStatus.FAILED,
        ErrorClass.VALIDATION,
    )
    assert (run.result, run.metrics) == ({"r": [1, None]}, {"processed": 2})
    assert run.duration_seconds == 1.5 and run.started_at == claimed.started_at
    assert (run.resource_scope, run.cpu_seconds, run.cpu_percent, run.peak_memory_mb) == (
        ResourceScope.PROCESS,
        0.75,
        50.0,
        123.5,
    )
    assert run.requested_by == "bob"
    done = await store.get_job(job_id)
    assert done is not None and done.state is JobState.FAILED and done.last_error == "bad"
