"""What a command or a producer loads (issue 9, item 12): only what it uses.

Loading FastAPI, uvicorn, SQLAlchemy and Alembic for every command made each one take ~1.6 s.
These tests look at ``sys.modules`` of a real process at exit, not at the clock: the time is
measured by bench/bench_cli.py, with the figures in the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.support import cli

API = {"fastapi", "uvicorn", "starlette", "prometheus_client"}
STORE = {"sqlalchemy", "alembic", "psycopg"}

# A process that runs `code` and prints, at exit, the top-level packages it loaded.
REPORT = """
import atexit, sys

def report():
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)

atexit.register(report)
"""

# The `tickwork` console script, with the report.
COMMAND = (
    REPORT
    + """
from tickwork.cli import main
main()
"""
)

PRODUCER = (
    REPORT
    + """
import sys
from tickwork import Tickwork

app = Tickwork(sys.argv[1])

@app.task
def send(to: str) -> None: ...

if sys.argv[2:] == ["define"]:  # as a worker process does when it starts
    from tickwork.domain.tasks import TaskSource
    app.call(lambda s: s.sync_definitions(app.definitions, [TaskSource.CODE]))
else:
    assert send.enqueue("a@example.com") >= 1
"""
)


def loaded(code: str, args: list[str], cwd: Path) -> set[str]:
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(done.stderr.strip().splitlines()[-1].split())


def test_a_producer_never_loads_the_rest_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    first = loaded(PRODUCER, [url, "define"], tmp_path)  # creates and migrates the file
    assert "sqlalchemy" in first and "alembic" in first  # the test sees what loads
    assert not first & API
    enqueued = loaded(PRODUCER, [url], tmp_path)
    assert "sqlalchemy" in enqueued
    # A current schema is recognised without Alembic; SQLite needs no PostgreSQL driver.
    assert not enqueued & (API | {"alembic", "psycopg"})


@pytest.mark.parametrize(
    "args",
    [["--help"], ["jobs", "--help"], ["run", "--help"], ["next", "@daily", "-n", "2"]],
    ids=" ".join,
)
def test_help_and_next_load_no_store_and_no_api(tmp_path: Path, args: list[str]) -> None:
    modules = loaded(COMMAND, args, tmp_path)
    assert "typer" in modules
    assert not modules & (API | STORE)
    # Help is plain text: rich (and markdown-it, pygments) is for tables only.
    assert "rich" not in modules


def test_reading_a_sqlite_store_loads_no_api_no_alembic_no_postgres_driver(
    tmp_path: Path, sqlite_url: str
) -> None:
    assert cli(["jobs", "list", "--database-url", sqlite_url], tmp_path).returncode == 0
    modules = loaded(COMMAND, ["jobs", "list", "--database-url", sqlite_url], tmp_path)
    assert "sqlalchemy" in modules and "rich" in modules
    assert not modules & (API | {"alembic", "psycopg"})


def test_a_bad_command_loads_nothing_heavy(tmp_path: Path) -> None:
    # Exit status 2 from Typer itself: the usage error comes before any command code.
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, "jobs", "lisst"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    modules = set(done.stderr.strip().splitlines()[-1].split())
    assert not modules & (API | STORE)
