"""Shell executor against real /bin/sh processes: output, exits, signals, timeouts, cancel."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

import tickwork.runtime.executors.shell as shell_module
from tickwork.domain.jobs import ErrorClass, RunStatus
from tickwork.domain.tasks import ShellTarget
from tickwork.runtime.executors.shell import run_shell


def is_gone(pid: int) -> bool:
    """Exited, or a zombie nobody reaps (containers often run without an init that reaps)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


async def wait_gone(pid: int, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        await asyncio.sleep(0.02)
    return is_gone(pid)


async def read_pid(path: Path, seconds: float = 2.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            return int(text)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no pid written to {path}")


async def test_success_captures_stdout() -> None:
    outcome = await run_shell(ShellTarget("echo hello"), None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.exit_code == 0
    assert outcome.output == "hello\n"


async def test_stderr_follows_stdout_and_nonzero_exit_fails() -> None:
    outcome = await run_shell(ShellTarget("echo out; echo err >&2; exit 3"), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_type == "ExitCode"
    assert outcome.error_message == "command exited with status 3"
    assert outcome.error_class is ErrorClass.UNKNOWN
    assert outcome.exit_code == 3
    assert outcome.output == "out\n--- stderr ---\nerr\n"


async def test_unknown_command_exits_127() -> None:
    outcome = await run_shell(ShellTarget("no-such-command-tickwork"), 5.0)
    assert outcome.exit_code == 127
    assert outcome.output is not None and "--- stderr ---" in outcome.output


async def test_killed_by_signal_reports_negative_code_and_name() -> None:
    outcome = await run_shell(ShellTarget("kill -TERM $$"), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.exit_code == -signal.SIGTERM
    assert outcome.error_message is not None and "SIGTERM" in outcome.error_message


async def test_big_output_keeps_the_tail_with_a_marker() -> None:
    command = "yes 0123456789 | head -c 1000000; printf THE-END"
    outcome = await run_shell(ShellTarget(command), 10.0, output_limit=1000)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    assert outcome.output.startswith("[... 999007 bytes truncated ...]\n")
    assert outcome.output.endswith("THE-END")
    assert len(outcome.output.split("\n", 1)[1]) == 1000


async def test_big_output_on_both_pipes_does_not_deadlock() -> None:
    command = "head -c 2000000 /dev/zero >&2 & head -c 2000000 /dev/zero; wait"
    outcome = await run_shell(ShellTarget(command), 10.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    assert outcome.output.count("truncated") == 2


async def test_env_is_merged_over_the_environment_and_cwd_is_used(tmp_path: Path) -> None:
    target = ShellTarget(
        'echo "$TICKWORK_X" "$(pwd)"; command -v sh',
        cwd=str(tmp_path),
        env={"TICKWORK_X": "from-env"},
    )
    outcome = await run_shell(target, 5.0)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    first, second = outcome.output.splitlines()
    assert first == f"from-env {tmp_path.resolve()}"
    assert second.endswith("sh")  # PATH still came from os.environ


async def test_missing_cwd_is_a_config_failure(tmp_path: Path) -> None:
    outcome = await run_shell(ShellTarget("true", cwd=str(tmp_path / "missing")), 5.0)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error_class is ErrorClass.CONFIG


async def test_timeout_kills_the_whole_group_including_grandchildren(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = f"echo started; sleep 100 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    outcome = await run_shell(ShellTarget(command), 0.3)
    assert time.monotonic() - started < shell_module.SHELL_KILL_GRACE_SECONDS
    assert outcome.status is RunStatus.TIMEOUT
    assert outcome.error_class is ErrorClass.TIMEOUT
    assert outcome.output == "started\n"
    assert await wait_gone(int(pid_file.read_text()))


async def test_timeout_escalates_to_sigkill_for_children_ignoring_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell_module, "SHELL_KILL_GRACE_SECONDS", 0.2)
    pid_file = tmp_path / "pid"
    command = f"trap '' TERM; sleep 100 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    outcome = await run_shell(ShellTarget(command), 0.3)
    assert time.monotonic() - started < 2
    assert outcome.status is RunStatus.TIMEOUT
    assert await wait_gone(int(pid_file.read_text()))


async def test_background_child_holding_the_pipes_does_not_stall_the_run() -> None:
    outcome = await run_shell(ShellTarget("sleep 30 & echo $!"), None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output is not None
    pid = int(outcome.output.split()[0])
    os.kill(pid, signal.SIGKILL)  # it was deliberately left running; clean up
    assert await wait_gone(pid)


async def test_cancel_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = f"sleep 100 & echo $! > {pid_file}; wait"
    task = asyncio.create_task(run_shell(ShellTarget(command), None))
    pid = await read_pid(pid_file)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_gone(pid)
