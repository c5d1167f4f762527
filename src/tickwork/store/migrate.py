"""Schema migrations: the newest revision, reading a database's revision, and bringing a
database to the newest schema with Alembic, programmatically."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tickwork.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

# The newest migration in migrations/versions. Known here so that checking a database's schema
# needs neither Alembic nor its scripts; tests/store/test_migrations.py keeps it equal to
# Alembic's head.
HEAD_REVISION = "0017"
VERSION_TABLE = "tickwork_alembic_version"
REVISION_SQL = f"SELECT version_num FROM {VERSION_TABLE}"
_SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    # Alembic costs ~0.3 s to import: only migrating (and `tickwork db current`) pays for it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str | None:
    """The head of the migration scripts, as Alembic sees it."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def read_revision(conn: Connection) -> str | None:
    """The schema revision recorded in the database; None if it has no tickwork tables."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(sa.text(REVISION_SQL)).scalar()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return read_revision(conn)


def is_newer(revision: str | None) -> bool:
    """Whether a database's schema ``revision`` comes from a newer tickwork than this one
    (revisions are numbered in order: a number past ``HEAD_REVISION``)."""
    return revision is not None and revision.isdigit() and int(revision) > int(HEAD_REVISION)


def newer_schema_message(revision: str, where: str) -> str:
    return (
        f"the tickwork schema in {where} is at revision {revision}, newer than this version"
        f" of tickwork knows (its newest is {HEAD_REVISION}): a newer tickwork migrated it;"
        " install that version (or newer) here too, tickwork never downgrades a schema"
    )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction per migration run;
    ``SchemaError`` if the database's schema is newer than this tickwork."""
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        current = read_revision(conn)
        if is_newer(current):
            assert current is not None
            raise SchemaError(newer_schema_message(current, engine.url.render_as_string()))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == HEAD_REVISION


def has_tables(engine: Engine) -> bool:
    return bool(sa.inspect(engine).get_table_names())
