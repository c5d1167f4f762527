"""``tickwork checks create | list | show | pause | resume | ping | delete``: real subprocesses
over a real SQLite file; errors are one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

from tests.integration.support import cli, cli_json


def test_checks_commands(sqlite_url: str, tmp_path: Path) -> None:
    env = {"TICKWORK_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
    made = cli(
        ["checks", "create", "db-backup", "--cron", "0 3 * * *", "--timezone", "Europe/Berlin",
         "--grace", "30m", "--tag", "backups"],
        tmp_path,
        env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("check db-backup created: ping /ping/")
    assert "cron 0 3 * * * (Europe/Berlin), grace 30m" in made.stdout
    taken = cli(["checks", "create", "db-backup"], tmp_path, env)
    assert taken.returncode == 2 and "exists" in taken.stderr
    bad = cli(["checks", "create", "x", "--period", "1h", "--cron", "* * * * *"], tmp_path, env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: cron:"), bad.stderr

    [check] = cli_json(["checks", "list"], tmp_path, env)
    assert check["status"] == "new" and check["tags"] == ["backups"]
    started = cli_json(["checks", "ping", "db-backup", "start", "--rid", "r1"], tmp_path, env)
    assert started["running"] is True
    done = cli(["checks", "ping", check["uuid"], "0", "--rid", "r1", "--body", "ok"], tmp_path, env)
    assert done.stdout == "check db-backup: success recorded, now up\n", done.stderr
    table = cli(["checks", "list"], tmp_path, env)
    assert "db-backup" in table.stdout and " up " in table.stdout
    shown = cli_json(["checks", "show", "db-backup"], tmp_path, env)
    assert [p["kind"] for p in shown["recent_pings"]] == ["success", "start"]
    assert shown["recent_pings"][0]["body"] == "ok" and shown["recent_pings"][0]["method"] == "CLI"
    text = cli(["checks", "show", "db-backup"], tmp_path, env)
    assert "db-backup: up" in text.stdout and "success" in text.stdout

    paused = cli(["checks", "pause", "db-backup"], tmp_path, env)
    assert paused.stdout == "check db-backup paused\n"
    assert cli_json(["checks", "list"], tmp_path, env)[0]["status"] == "paused"
    resumed = cli(["checks", "resume", "db-backup"], tmp_path, env)
    assert resumed.stdout == "check db-backup resumed: up\n"
    wrong = cli(["checks", "ping", "db-backup", "stop"], tmp_path, env)
    assert wrong.returncode == 2 and "action" in wrong.stderr
    missing = cli(["checks", "pause", "nope"], tmp_path, env)
    assert missing.returncode == 2 and "no check 'nope'" in missing.stderr
    gone = cli(["checks", "delete", "db-backup"], tmp_path, env)
    assert gone.stdout == "check db-backup removed\n"
    empty = cli(["checks", "list"], tmp_path, env)
    assert empty.stdout.startswith("no checks")
