"""Opening a store: processes and the Python API prepare it (an embedded SQLite file is created
and migrated on the spot), every other caller opens an existing, current one and changes
nothing. Real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tickwork.errors import SchemaError, StoreError
from tickwork.store import migrate
from tickwork.store.engines import create_engine
from tickwork.store.open import existing_revision, open_existing_store, prepare_store


async def test_prepare_creates_and_migrates_an_embedded_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    store = prepare_store(url)
    try:
        assert migrate.current_revision(store.engine) == migrate.HEAD_REVISION
        assert await store.list_tasks() == []
    finally:
        await store.close()
    assert existing_revision(url) == migrate.HEAD_REVISION


async def test_prepare_migrates_an_outdated_embedded_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0001")
    engine.dispose()
    store = prepare_store(url)
    await store.close()
    assert existing_revision(url) == migrate.HEAD_REVISION


def test_open_existing_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(SchemaError, match=f"no tickwork database at {path} "):
        open_existing_store(f"sqlite:///{path}")
    with pytest.raises(SchemaError, match="no tickwork database"):
        existing_revision(f"sqlite:///{path}")
    assert list(tmp_path.iterdir()) == []


def test_open_existing_refuses_an_outdated_file_and_leaves_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0002")
    engine.dispose()
    with pytest.raises(SchemaError, match="at revision 0002, this version of tickwork needs"):
        open_existing_store(url)
    assert existing_revision(url) == "0002"


def test_in_memory_sqlite_has_no_tables_to_open() -> None:
    with pytest.raises(SchemaError, match="no tickwork tables in the in-memory SQLite database"):
        open_existing_store("sqlite://")


def test_not_a_database_is_a_schema_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database, just text that is long enough to have a header" * 4)
    with pytest.raises(SchemaError, match="is not a tickwork database"):
        open_existing_store(f"sqlite:///{text}")


async def test_open_existing_opens_a_current_database(db_url: str) -> None:
    store = open_existing_store(db_url)
    try:
        assert await store.list_tasks() == []
    finally:
        await store.close()


@pytest.mark.postgres
def test_a_server_database_is_never_migrated(empty_pg_url: str) -> None:
    url = sa.make_url(empty_pg_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    for opener in (prepare_store, open_existing_store):
        with pytest.raises(
            SchemaError, match=r"no tickwork tables in postgresql://\S+:\*\*\*@"
        ) as e:
            opener(url)
        assert "s3cret" not in str(e.value)
    assert existing_revision(url) is None
    engine = create_engine(url)
    try:
        assert not migrate.has_tables(engine)
        migrate.upgrade(engine, "0002")
    finally:
        engine.dispose()
    with pytest.raises(SchemaError, match="at revision 0002"):
        prepare_store(url)


@pytest.mark.postgres
def test_an_unreachable_server_is_a_store_error_not_a_schema_error(pg_base_url: str) -> None:
    url = sa.make_url(pg_base_url).set(port=1).render_as_string(hide_password=False)
    with pytest.raises(StoreError) as e:
        open_existing_store(url)
    assert not isinstance(e.value, SchemaError)


def test_postgres_without_its_driver_names_the_extra(tmp_path: Path) -> None:
    """psycopg is the ``postgres`` extra: a process where it cannot be imported refuses a
    PostgreSQL URL with the way to install it (exit status 2), and SQLite still works."""
    import subprocess
    import sys

    program = (
        "import sys; sys.modules['psycopg'] = None\n"  # as if not installed: import fails
        "from tickwork.cli import main\n"
        "sys.argv = ['tickwork', 'db', 'upgrade', '--database-url', sys.argv[1]]\n"
        "main()\n"
    )
    pg = subprocess.run(
        [sys.executable, "-c", program, "postgresql://nobody@127.0.0.1:9/none"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pg.returncode == 2, pg.stderr
    assert "pip install 'tickwork[postgres]'" in pg.stderr and "Traceback" not in pg.stderr
    lite = subprocess.run(
        [sys.executable, "-c", program, f"sqlite:///{tmp_path / 'tw.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lite.returncode == 0, lite.stderr
