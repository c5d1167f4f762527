"""`tickwork users`, `tickwork tokens` and `tickwork audit` as real subprocesses on a SQLite
file: a token is printed once and never listed, revoking works, the audit log says who did
what (``cli:<OS user>``), and bad input is one line on stderr with exit status 2."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.support import TICKWORK, cli, cli_json

PASSWORD = "a long enough password"


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    return {"TICKWORK_DATABASE_URL": sqlite_url}


def cli_stdin(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TICKWORK, *args],
        cwd=cwd,
        env={**os.environ, **env},
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_users_tokens_and_audit(tmp_path: Path, env: dict[str, str]) -> None:
    created = cli_stdin(
        ["users", "create", "alice", "--role", "operator", "--password-stdin", "--json"],
        tmp_path,
        env,
        PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    assert '"role": "operator"' in created.stdout
    cli_json(["users", "create", "robot", "--role", "read_only", "--no-password"], tmp_path, env)

    made = cli(
        ["tokens", "create", "alice", "--scope", "jobs:read", "--scope", "jobs:trigger"],
        tmp_path,
        env,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("tw_") and "\n" not in secret
    assert "not shown again" in made.stderr and secret not in made.stderr
    as_json = cli_json(
        ["tokens", "create", "robot", "--scope", "jobs:read", "--name", "ci", "--expires", "30d"],
        tmp_path,
        env,
    )
    assert as_json["token"].startswith(f"tw_{as_json['id']}_")
    assert as_json["user"] == "robot" and as_json["name"] == "ci" and as_json["expires_at"]

    # Listing never shows a secret.
    listed = cli(["tokens", "list"], tmp_path, env)
    listed_json = cli(["tokens", "list", "--json"], tmp_path, env)
    for done in (listed, listed_json):
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout and as_json["token"] not in done.stdout
        assert secret.split("_", 2)[2] not in done.stdout
    tokens = cli_json(["tokens", "list", "--user", "robot"], tmp_path, env)
    assert [t["name"] for t in tokens] == ["ci"] and "token" not in tokens[0]

    revoked = cli_json(["tokens", "revoke", str(as_json["id"])], tmp_path, env)
    assert revoked["revoked_at"] is not None
    cli_json(["users", "set-role", "alice", "read_only"], tmp_path, env)
    disabled = cli_json(["users", "disable", "robot"], tmp_path, env)
    assert disabled["disabled_at"] is not None
    users = cli_json(["users", "list"], tmp_path, env)
    assert [(u["name"], u["role"], u["disabled_at"] is None) for u in users] == [
        ("alice", "read_only", True),
        ("robot", "read_only", False),
    ]

    actor = f"cli:{getpass.getuser()}"
    entries = cli_json(["audit"], tmp_path, env)
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (actor, "user.update", "robot"),
        (actor, "user.update", "alice"),
        (actor, "token.revoke", str(as_json["id"])),
        (actor, "token.create", str(as_json["id"])),
        (actor, "token.create", secret.split("_")[1]),
        (actor, "user.create", "robot"),
        (actor, "user.create", "alice"),
    ]
    assert entries[1]["before"] == {"role": "operator"} and entries[1]["after"] == {
        "role": "read_only"
    }
    everything = cli(["audit", "--limit", "1000"], tmp_path, env).stdout + str(entries)
    assert secret not in everything and PASSWORD not in everything
    only_tokens = cli_json(
        ["audit", "--action", "token.", "--target", str(as_json["id"])], tmp_path, env
    )
    assert [e["action"] for e in only_tokens] == ["token.revoke", "token.create"]
    table = cli(["audit", "--target-type", "user", "--actor", actor], tmp_path, env)
    assert table.returncode == 0 and "user.create" in table.stdout
    assert "token.create" not in table.stdout


@pytest.fixture(scope="module")
def two_users(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One database for the bad-input cases (none of them writes): an admin and a viewer."""
    cwd = tmp_path_factory.mktemp("bad-input")
    env = {"TICKWORK_DATABASE_URL": f"sqlite:///{cwd / 'tw.db'}"}
    assert cli(["db", "upgrade"], cwd, env).returncode == 0
    cli_json(["users", "create", "admin1", "--role", "admin", "--no-password"], cwd, env)
    cli_json(["users", "create", "viewer", "--role", "read_only", "--no-password"], cwd, env)
    return cwd, env


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["users", "create", "x", "--role", "boss", "--no-password"], "unknown role 'boss'"),
        (["users", "create", "no good", "--role", "admin", "--no-password"], "invalid name"),
        (["users", "create", "x", "--role", "admin"], "--password-stdin or --no-password"),
        (["users", "set-role", "nobody", "admin"], "no user named 'nobody'"),
        (["users", "disable", "nobody"], "no user named 'nobody'"),
        (["tokens", "create", "admin1", "--scope", "jobs:nope"], "unknown scope 'jobs:nope'"),
        (["tokens", "create", "admin1", "--scope", "admin", "--expires", "soon"], "expires"),
        (["tokens", "create", "viewer", "--scope", "jobs:write"], "may not hold jobs:write"),
        (["tokens", "create", "nobody", "--scope", "jobs:read"], "no user named 'nobody'"),
        (["tokens", "revoke", "424242"], "no token with ID 424242"),
        (["audit", "--limit", "0"], "limit"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    two_users: tuple[Path, dict[str, str]], args: list[str], needle: str
) -> None:
    cwd, env = two_users
    # Not a terminal: a password is never asked for, so a missing flag is an error, not a hang.
    done = cli_stdin(args, cwd, env, "")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert needle in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


def test_short_password_from_stdin_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    done = cli_stdin(
        ["users", "create", "alice", "--role", "admin", "--password-stdin"],
        tmp_path,
        env,
        "short\n",
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: password: must be at least 12 characters, got 5"
    assert cli_json(["users", "list"], tmp_path, env) == []
