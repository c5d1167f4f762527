"""Commands that use a database never create or migrate one (issue 9, item 10).

Only `run`, `worker`, `scheduler`, `api` and `db upgrade` may: every other command names the
missing, empty or outdated database in one line, exits with status 2, and leaves everything as
it was. Real subprocesses on real SQLite files and a real PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer

from tests.integration.support import cli
from tickwork.cli.main import app
from tickwork.store import migrate
from tickwork.store.engines import create_engine

# The commands that may create or migrate a database.
CREATORS = {("run",), ("worker",), ("scheduler",), ("api",), ("db", "upgrade")}
# Every other command, with arguments that get it as far as the database.
USERS_OF_A_DATABASE = {
    ("jobs", "list"): [],
    ("jobs", "show"): ["job"],
    ("jobs", "history"): ["job"],
    ("jobs", "trigger"): ["job"],
    ("jobs", "enable"): ["job"],
    ("jobs", "disable"): ["job"],
    ("jobs", "pause"): ["job", "--reason", "deploy"],
    ("jobs", "resume"): ["job"],
    ("jobs", "get"): ["1"],
    ("jobs", "cancel"): ["1"],
    ("jobs", "retry"): ["1"],
    ("jobs", "queue"): [],
    ("jobs", "events"): ["1"],
    ("jobs", "undo-reschedule"): ["job"],
    ("backfill", "run"): ["job", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z"],
    ("backfill", "list"): [],
    ("backfill", "cancel"): ["1"],
    ("enqueue",): ["job"],
    ("next",): ["--job", "job"],
    ("explain",): ["job"],
    ("load",): [],
    ("status",): [],
    ("reset-stuck",): ["--older-than", "5m"],
    ("prune",): ["--dry-run"],
    ("missed",): [],
    ("stats",): [],
    ("failures", "retry"): ["0123456789abcdef"],
    ("failures", "discard"): ["0123456789abcdef"],
    ("db", "current"): [],
    ("users", "create"): ["ann", "--role", "admin", "--no-password"],
    ("users", "list"): [],
    ("users", "disable"): ["ann"],
    ("users", "enable"): ["ann"],
    ("users", "set-role"): ["ann", "admin"],
    ("tokens", "create"): ["ann", "--scope", "admin"],
    ("tokens", "list"): [],
    ("tokens", "revoke"): ["1"],
    ("audit",): [],
    ("alerts", "list"): [],
    ("alerts", "history"): [],
    ("alerts", "ack"): ["rule", "task:job"],
    ("alerts", "mute"): ["rule", "--until", "1h"],
    ("alerts", "test"): ["channel"],
    ("report",): [],
    ("checks", "create"): ["backup"],
    ("checks", "list"): [],
    ("checks", "show"): ["backup"],
    ("checks", "pause"): ["backup"],
    ("checks", "resume"): ["backup"],
    ("checks", "ping"): ["backup"],
    ("checks", "delete"): ["backup"],
}
UPGRADE = '(run "tickwork db upgrade" first)'


def command_paths(group: object, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in getattr(group, "commands", {}).items():
        if hasattr(command, "commands"):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_command_is_either_a_creator_or_checked_here() -> None:
    # A new command must say which it is: this test fails until it is listed.
    commands = set(command_paths(typer.main.get_command(app)))
    assert commands == CREATORS | set(USERS_OF_A_DATABASE)


@pytest.mark.parametrize("command", sorted(USERS_OF_A_DATABASE), ids=" ".join)
def test_a_missing_sqlite_file_is_reported_and_not_created(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "typo.db"
    done = cli(
        [*command, *USERS_OF_A_DATABASE[command], "--database-url", f"sqlite:///{typo}"], tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f'error: no tickwork database at {typo} (run "tickwork db upgrade" or "tickwork run"'
        " first)\n"
    )
    assert list(tmp_path.iterdir()) == []  # no file, no -wal, no -shm


def test_a_relative_sqlite_path_is_named_in_full(tmp_path: Path) -> None:
    done = cli(["jobs", "list", "--database-url", "sqlite:///typo.db"], tmp_path)
    assert done.returncode == 2
    assert f"no tickwork database at {tmp_path / 'typo.db'} " in done.stderr
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.parametrize("command", [("jobs", "list"), ("users", "create"), ("enqueue",)])
def test_a_sqlite_file_of_something_else_is_left_alone(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = digest(other)
    done = cli(
        [*command, *USERS_OF_A_DATABASE[command], "--database-url", f"sqlite:///{other}"], tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == f"error: no tickwork tables in {other} {UPGRADE}\n"
    assert digest(other) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # still not in WAL mode


def test_an_outdated_schema_is_reported_not_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0002")
    engine.dispose()
    done = cli(["jobs", "list", "--database-url", url], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"error: the tickwork schema in {db} is at revision 0002, this version of tickwork needs"
        f' {migrate.HEAD_REVISION} (run "tickwork db upgrade")\n'
    )
    current = cli(["db", "current", "--database-url", url], tmp_path)
    assert current.stdout == f"current: 0002; newest: {migrate.HEAD_REVISION}\n"
    # What the message says to do works, and then the command does.
    assert cli(["db", "upgrade", "--database-url", url], tmp_path).returncode == 0
    listed = cli(["jobs", "list", "--database-url", url, "--json"], tmp_path)
    assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed.stderr


def test_db_current_reads_what_is_there(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    done = cli(["db", "current", "--database-url", f"sqlite:///{empty}"], tmp_path)
    assert (done.returncode, done.stdout) == (
        0,
        f"current: none; newest: {migrate.HEAD_REVISION}\n",
    )


def test_run_still_creates_the_embedded_database(tmp_path: Path) -> None:
    # The creators are untouched: `db upgrade` makes the file that the others then use.
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert cli(["db", "upgrade", "--database-url", url], tmp_path).returncode == 0
    done = cli(["jobs", "list", "--database-url", url, "--json"], tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def with_password(url: str, password: str) -> str:
    # The test server trusts local connections, so any password is accepted and ignored.
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


@pytest.mark.postgres
def test_a_postgres_database_without_tables_is_named_without_its_password(
    tmp_path: Path, empty_pg_url: str
) -> None:
    url = with_password(empty_pg_url, "hunter2-secret")
    shown = sa.make_url(url).render_as_string(hide_password=True)
    for args in (["jobs", "list"], ["users", "create", "ann", "--role", "admin", "--no-password"]):
        done = cli([*args, "--database-url", url], tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == f"error: no tickwork tables in {shown} {UPGRADE}\n"
        assert "hunter2" not in done.stdout + done.stderr
    # Processes do not migrate a server database either: the same message, not a traceback.
    done = cli(["worker", "--database-url", url], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: no tickwork tables in {shown} {UPGRADE}"
    engine = create_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        assert not migrate.has_tables(engine)
    finally:
        engine.dispose()
