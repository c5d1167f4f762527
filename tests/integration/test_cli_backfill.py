"""``tickwork backfill`` (and ``list``, ``cancel``): real subprocesses on a real SQLite file
whose definitions come from a tickwork.toml."""

from __future__ import annotations

from pathlib import Path

from tests.integration.support import cli, cli_json

CONFIG = """
[tickwork]
database_url = "{url}"

[[jobs]]
name = "nightly"
command = "true"
schedule = "0 3 * * *"
timezone = "Europe/Berlin"

[[jobs]]
name = "adhoc"
command = "true"
"""
# Clocks go back in Berlin on 2026-10-25: 03:00 is 01:00 UTC before, 02:00 UTC after.
RANGE = ["--from", "2026-10-23T00:00Z", "--to", "2026-10-26T23:59Z"]


def test_backfill_list_cancel(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "tickwork.toml").write_text(CONFIG.format(url=sqlite_url))
    assert cli(["db", "upgrade"], tmp_path).returncode == 0
    dry = cli_json(["backfill", "nightly", *RANGE, "--dry-run"], tmp_path)
    assert dry["fires"] == [
        "2026-10-23T01:00:00+00:00",
        "2026-10-24T01:00:00+00:00",
        "2026-10-25T02:00:00+00:00",
        "2026-10-26T02:00:00+00:00",
    ]
    assert (dry["dry_run"], dry["created"], dry["present"], dry["backfill"]) == (
        True,
        4,
        0,
        None,
    )
    made = cli(["backfill", "nightly", *RANGE], tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == (
        "backfill 1: 4 fire(s) of 'nightly' in the range; created 4 job(s), already present 0"
    )
    again = cli(["backfill", "nightly", *RANGE, "--overlap", "allow"], tmp_path)
    assert "created 0 job(s), already present 4" in again.stdout

    (listed,) = cli_json(["backfill", "list", "nightly"], tmp_path)
    assert (listed["id"], listed["state"], listed["pending"], listed["overlap"]) == (
        1,
        "running",
        4,
        "queue",
    )
    assert listed["requested_by"].startswith("cli:")
    table = cli(["backfill", "list"], tmp_path, {"COLUMNS": "200"})
    assert "nightly" in table.stdout and "running" in table.stdout

    cancelled = cli_json(["backfill", "cancel", "1"], tmp_path)
    assert cancelled["cancelled_jobs"] == 4 and cancelled["backfill"]["state"] == "cancelled"
    twice = cli(["backfill", "cancel", "1"], tmp_path)
    assert twice.returncode == 2 and "cancelled already" in twice.stderr

    for args, message in [
        (["backfill", "adhoc", *RANGE], "job 'adhoc': schedule: has no schedule"),
        (["backfill", "nope", *RANGE], "no job named 'nope'"),
        (
            ["backfill", "nightly", "--from", "2026-10-27T00:00Z", "--to", "2026-10-26T00:00Z"],
            "from: 2026-10-27T00:00:00+00:00 is not before to",
        ),
        (
            ["backfill", "nightly", "--from", "yesterday", "--to", "2026-10-26T00:00Z"],
            "from: invalid ISO 8601 time 'yesterday'",
        ),
        (["backfill", "nightly", *RANGE, "--max", "3"], "holds 4 fires of 'nightly'"),
        (["backfill", "nightly", *RANGE, "--overlap", "skip"], "overlap: skip does not apply"),
    ]:
        done = cli(args, tmp_path)
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
