"""`tickwork prune [--dry-run] [--json]` as a real command on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.integration.support import cli, cli_json
from tests.store import retention_rows as rr
from tickwork.store import schema as s
from tickwork.store.engines import create_engine

CONFIG = """
[retention]
runs_days = 10
keep_last_runs = 1
"""


def seed(url: str) -> sa.Engine:
    engine = create_engine(url)
    old = datetime.now(UTC) - timedelta(days=20)
    jobs = [rr.job(i, "a", "succeeded", 0) for i in (1, 2, 3)]
    runs = [rr.run(i, i, "a", 0) for i in (1, 2, 3)]
    for i, (job, run) in enumerate(zip(jobs, runs, strict=True)):
        job["finished_at"] = run["started_at"] = run["finished_at"] = old + timedelta(hours=i)
    rr.insert(engine, s.jobs, jobs)
    rr.insert(engine, s.runs, runs)
    return engine


def test_dry_run_then_prune(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "tickwork.toml").write_text(CONFIG)
    engine = seed(sqlite_url)
    try:
        db = ["--database-url", sqlite_url]
        dry = cli_json(["prune", "--dry-run", *db], tmp_path)
        assert dry["dry_run"] is True and dry["removed"]["runs"] == 2
        assert dry["removed"]["jobs"] == 2 and dry["total"] == 4
        assert rr.ids(engine, s.runs) == {1, 2, 3}

        done = cli(["prune", *db], tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("removed 4 row(s) in ")
        assert "  runs: 2\n" in done.stdout and "  jobs: 2\n" in done.stdout
        assert rr.ids(engine, s.runs) == {3} and rr.ids(engine, s.jobs) == {3}

        audit = cli_json(["audit", "--action", "retention.prune", *db], tmp_path)
        assert [e["actor"].startswith("cli:") for e in audit] == [True]
        assert audit[0]["after"]["removed"]["runs"] == 2

        again = cli_json(["prune", *db], tmp_path)
        assert again["total"] == 0 and again["skipped"] is False
    finally:
        engine.dispose()


def test_bad_retention_config_and_flags(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "tickwork.toml").write_text("[retention]\nbatch_size = 0\n")
    done = cli(["prune", "--database-url", sqlite_url], tmp_path)
    assert done.returncode == 2
    assert done.stderr == "error: retention.batch_size: must be 1..1000, got 0\n"
    (tmp_path / "tickwork.toml").write_text("")
    env = {"TICKWORK_RETENTION_RUNS_DAYS": "soon"}
    done = cli(["prune", "--database-url", sqlite_url], tmp_path, env)
    assert done.returncode == 2
    assert done.stderr == "error: TICKWORK_RETENTION_RUNS_DAYS: expected a number, got 'soon'\n"
    done = cli(["prune", "--dry", "--database-url", sqlite_url], tmp_path)
    assert done.returncode == 2 and "--dry" in done.stderr
