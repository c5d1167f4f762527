"""Migrations on both backends: a migrated database equals ``tickwork.store.schema``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tickwork.store import (
    migrate,
    schema_alerting,  # noqa: F401 - its tables join the metadata
)
from tickwork.store.engines import create_engine
from tickwork.store.schema import metadata

FRESH_SCHEMA = "tickwork_fresh"


def _compare_default(
    context: Any,
    inspected: Any,
    metadata_column: Any,
    inspected_default: Any,
    metadata_default: Any,
    rendered: Any,
) -> bool | None:
    # PostgreSQL has no '=' for json, so Alembic's own comparison of a JSON default fails:
    # compare the SQL text of the default instead.
    if isinstance(metadata_column.type, sa.JSON):
        arg = getattr(metadata_default, "arg", metadata_default)
        wanted = getattr(arg, "text", arg)
        return (inspected_default or "").split("::")[0] != wanted
    return None


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[sa.Engine]:
    eng = create_engine(empty_db_url)
    yield eng
    eng.dispose()


def _diffs(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": _compare_default}
        )
        found = compare_metadata(ctx, metadata)
    # The version table belongs to Alembic, not to our metadata.
    return [d for d in found if not (d[0] == "remove_table" and d[1].name == migrate.VERSION_TABLE)]


def _where(options: dict[str, Any]) -> str | None:
    clause = options.get("postgresql_where", options.get("sqlite_where"))
    if clause is None:
        return None
    text = clause.text if isinstance(clause, sa.TextClause) else str(clause)
    # SQLite gives back the DDL text verbatim; only layout and redundant parentheses may differ.
    return re.sub(r"[\s()]", "", text).lower()


def _indexes(engine: sa.Engine, schema: str | None) -> dict[str, tuple[Any, ...]]:
    inspector = sa.inspect(engine)
    out: dict[str, tuple[Any, ...]] = {}
    for table in sorted(metadata.tables):
        for ix in inspector.get_indexes(table, schema=schema):
            out[ix["name"]] = (
                table,
                tuple(ix["column_names"]),
                bool(ix["unique"]),
                tuple(sorted((ix.get("column_sorting") or {}).items())),
                _where(ix.get("dialect_options", {})),
            )
    return out


def _fresh_copy(engine: sa.Engine, tmp_path: Path) -> tuple[sa.Engine, str | None]:
    """The same database built straight from the metadata (``create_all``), next to ``engine``."""
    if engine.dialect.name == "sqlite":
        fresh = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        metadata.create_all(fresh)
        return fresh, None
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{FRESH_SCHEMA}"')
        metadata.create_all(conn.execution_options(schema_translate_map={None: FRESH_SCHEMA}))
    return engine, FRESH_SCHEMA


def test_upgrade_matches_metadata(engine: sa.Engine, tmp_path: Path) -> None:
    migrate.upgrade(engine)
    assert _diffs(engine) == []


def test_partial_indexes_match_metadata(engine: sa.Engine, tmp_path: Path) -> None:
    # compare_metadata ignores index predicates (postgresql_where / sqlite_where) and, on
    # SQLite, sort order: compare what the database reflects for a migrated schema with a
    # schema created from the metadata directly, on the same backend.
    migrate.upgrade(engine)
    fresh, schema = _fresh_copy(engine, tmp_path)
    try:
        migrated = _indexes(engine, None)
        assert migrated == _indexes(fresh, schema)
        assert migrated["ix_tickwork_jobs_pending"][4] is not None
        assert migrated["ix_tickwork_jobs_running"][4] is not None
        assert migrated["ix_tickwork_tasks_next_fire"][4] is not None
    finally:
        if fresh is not engine:
            fresh.dispose()


def test_downgrade_to_base_then_upgrade_again(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) <= {migrate.VERSION_TABLE}
    assert not migrate.is_current(engine)
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
    assert _diffs(engine) == []


def test_is_current_false_before_true_after(engine: sa.Engine) -> None:
    assert not migrate.has_tables(engine)
    assert migrate.current_revision(engine) is None
    assert not migrate.is_current(engine)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.is_current(engine)
    assert migrate.has_tables(engine)


def test_head_revision_constant_is_alembics_head() -> None:
    # Opening a store compares the database's revision with the constant, without Alembic:
    # a new migration must move the constant too.
    assert migrate.head_revision() == migrate.HEAD_REVISION
