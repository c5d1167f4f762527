"""Shared fixtures: stores on real SQLite files and on real PostgreSQL databases.

PostgreSQL tests need TICKWORK_TEST_PG_URL (e.g. postgresql://postgres@127.0.0.1:5432/test).
Without it they skip with that reason, unless TICKWORK_REQUIRE_PG=1 (CI), where they fail.
Each PostgreSQL test gets its own database cloned from a migrated template (fast, isolated).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tickwork.store import SqlStore, create_store
from tickwork.store import migrate as migrations

PG_URL_ENV = "TICKWORK_TEST_PG_URL"
REQUIRE_PG_ENV = "TICKWORK_REQUIRE_PG"
PG_REPORT_ENV = "TICKWORK_PG_REPORT"
# One template per test session, so parallel sessions on one server do not drop each other's.
TEMPLATE_DB = f"tickwork_test_template_{os.getpid()}"

_pg_passed = 0


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


@pytest.fixture(scope="session")
def pg_base_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    required = os.environ.get(REQUIRE_PG_ENV) == "1"
    if not url:
        if required:
            pytest.fail(f"{REQUIRE_PG_ENV}=1 but {PG_URL_ENV} is not set")
        pytest.skip(
            f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql://postgres@127.0.0.1/test)"
        )
    try:
        with _admin_engine(url).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        if required:
            pytest.fail(f"PostgreSQL at {PG_URL_ENV} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL_ENV} is unreachable: {exc}")
    return url


@pytest.fixture(scope="session")
def pg_template(pg_base_url: str) -> Iterator[str]:
    """A database migrated once per session, cloned by every PostgreSQL test."""
    admin = _admin_engine(pg_base_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (TEMPLATE_DB,),
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{TEMPLATE_DB}"')
    url = sa.make_url(pg_base_url).set(database=TEMPLATE_DB).render_as_string(hide_password=False)
    store = create_store(url)
    migrations.upgrade(store.engine)
    store.engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    admin.dispose()


def _scratch_pg_database(base_url: str, template: str | None) -> Iterator[str]:
    """A database created for one test (from ``template`` if given), dropped afterwards."""
    name = f"tickwork_{'t' if template else 'e'}_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base_url)
    with admin.connect() as conn:
        clone = f' TEMPLATE "{template}"' if template else ""
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{clone}')
    yield sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg_url(pg_base_url: str, pg_template: str) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database for this test."""
    yield from _scratch_pg_database(pg_base_url, TEMPLATE_DB)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh, migrated SQLite file for this test."""
    url = f"sqlite:///{tmp_path / 'tickwork.db'}"
    store = create_store(url)
    migrations.upgrade(store.engine)
    store.engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database of each backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    s = create_store(db_url)
    await s.open()
    yield s
    await s.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _pg_passed
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _pg_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get(PG_REPORT_ENV)
    # Under pytest-xdist the controller sees every worker's reports; workers must not write.
    if path and not hasattr(session.config, "workerinput"):
        Path(path).write_text(f"{_pg_passed}\n")


@pytest.fixture
def empty_pg_url(pg_base_url: str) -> Iterator[str]:
    """The URL of a fresh, EMPTY (never migrated) PostgreSQL database for this test."""
    yield from _scratch_pg_database(pg_base_url, None)


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """The URL of a fresh, EMPTY (never migrated) SQLite file for this test."""
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh EMPTY database of each backend (for migration tests)."""
    name = "empty_sqlite_url" if request.param == "sqlite" else "empty_pg_url"
    url: str = request.getfixturevalue(name)
    return url
