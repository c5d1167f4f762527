"""An older tickwork against a schema a newer one migrated: ``tickwork db upgrade`` and every
command that opens the store refuse with a message that says what to do, on both backends."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.integration.support import cli
from tickwork.store import create_store
from tickwork.store import migrate as migrations


def _from_the_future(url: str) -> str:
    newer = f"{int(migrations.HEAD_REVISION) + 1:04d}"
    engine = create_store(url).engine
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = :v"), {"v": newer}
        )
    engine.dispose()
    return newer


def test_an_older_tickwork_refuses_a_newer_schema(db_url: str, tmp_path: Path) -> None:
    newer = _from_the_future(db_url)
    for args in (["db", "upgrade"], ["jobs", "list"], ["run"]):
        done = cli([*args, "--database-url", db_url], tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert f"at revision {newer}, newer than this version of tickwork knows" in done.stderr
        assert "Traceback" not in done.stderr
    # Nothing was changed.
    done = cli(["db", "current", "--database-url", db_url], tmp_path)
    assert done.stdout == f"current: {newer}; newest: {migrations.HEAD_REVISION}\n"


def test_is_newer_reads_revision_numbers() -> None:
    head = int(migrations.HEAD_REVISION)
    assert migrations.is_newer(f"{head + 1:04d}")
    assert not migrations.is_newer(migrations.HEAD_REVISION)
    assert not migrations.is_newer("0001")
    assert not migrations.is_newer(None)
