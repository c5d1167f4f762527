"""Running shell tasks: one ``/bin/sh -c`` process group per run, its output and its exit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable

from tickwork.domain.jobs import ErrorClass, Outcome
from tickwork.domain.processors import DEFAULT_OUTPUT_LIMIT_BYTES
from tickwork.domain.tasks import ShellTarget
from tickwork.runtime.activity import CURRENT_RUN, DirectiveScanner, RunScope
from tickwork.runtime.executors.output import OutputTail
from tickwork.runtime.executors.processes import (
    signal_group,
    signal_name,
    spawn_group,
    wait_event,
)

SHELL = "/bin/sh"
SHELL_KILL_GRACE_SECONDS = 2.0
# How long pipes may stay open after the shell exited (a background child still holding them)
# or after the group was killed (a child that left the group) before we stop reading.
SHELL_PIPE_DRAIN_SECONDS = 0.5
STDERR_HEADER = "--- stderr ---\n"


class _ShellProtocol:
    """Keeps the tail of stdout and stderr and signals exit and pipe closure separately: a
    grandchild holding stdout must not stall seeing the shell's own exit."""

    def __init__(
        self,
        limit: int,
        directives: DirectiveScanner | None = None,
        live: Callable[[bytes], None] | None = None,
    ) -> None:
        self.live = live  # the run's output as it comes (pages show it while it runs)
        self.stdout = OutputTail(limit)
        self.stderr = OutputTail(limit)
        self.exited = asyncio.Event()
        self.finished = asyncio.Event()  # exited and every pipe closed
        self.directives = directives  # ``::tickwork`` lines of stdout, within a run

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if self.live is not None:
            self.live(data)
        if fd == 1:
            self.stdout.feed(data)
            if self.directives is not None:
                self.directives.feed(data)
        else:
            self.stderr.feed(data)

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.exited.set()
        self.finished.set()
        if self.directives is not None:
            self.directives.close()

    def output(self) -> str:
        out = self.stdout.text()
        if self.stderr.total == 0:
            return out
        if out and not out.endswith("\n"):
            out += "\n"
        return out + STDERR_HEADER + self.stderr.text()


async def run_shell(
    target: ShellTarget,
    timeout_seconds: float | None,
    *,
    output_limit: int = DEFAULT_OUTPUT_LIMIT_BYTES,
) -> Outcome:
    """Run ``target.command``; stdout and stderr are each capped to their last bytes.

    A background child still holding the pipes after the shell exited is left running; its
    output stops being collected after ``SHELL_PIPE_DRAIN_SECONDS``. Within a run, stdout lines
    starting ``::tickwork`` are the job's progress and events (``runtime.activity``); they stay
    in the output too. The outcome's resources are the shell's process tree's
    (``processes.GroupChild.resources``).
    """
    env = {**os.environ, **target.env} if target.env else None
    emitter = CURRENT_RUN.get()
    scanner = None if emitter is None else DirectiveScanner(emitter)
    live = emitter.output if isinstance(emitter, RunScope) else None
    proto = _ShellProtocol(output_limit, scanner, live)
    try:
        transport = await spawn_group(
            proto, (SHELL, "-c", target.command), stdin=subprocess.DEVNULL, cwd=target.cwd, env=env
        )
    except OSError as exc:
        # A missing or unreadable cwd is a definition problem; e.g. EAGAIN on fork is not.
        config = isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError)
        return Outcome.failure(
            type(exc).__name__,
            f"cannot start command: {exc}",
            error_class=ErrorClass.CONFIG if config else ErrorClass.UNKNOWN,
        )

    pgid = transport.get_pid()
    try:
        try:
            async with asyncio.timeout(timeout_seconds):
                await proto.exited.wait()
        except TimeoutError:
            await _stop_group(pgid, proto)
            assert timeout_seconds is not None  # only a deadline can expire
            return Outcome.timed_out(
                timeout_seconds, output=proto.output(), resources=transport.resources()
            )
        await wait_event(proto.finished, SHELL_PIPE_DRAIN_SECONDS)
    except BaseException:
        # Cancelled (or failing) mid-run: leave nothing of the command behind.
        signal_group(pgid, signal.SIGKILL)
        raise
    finally:
        transport.close()

    code = transport.get_returncode()
    assert code is not None  # set before the protocol's exit event fires
    output = proto.output()
    used = transport.resources()
    if code == 0:
        return Outcome.success(output=output, exit_code=0, resources=used)
    if code < 0:
        return Outcome.failure(
            "Signal",
            f"command was killed by signal {signal_name(-code)}",
            error_class=ErrorClass.UNKNOWN,
            exit_code=code,
            output=output,
            resources=used,
        )
    return Outcome.failure(
        "ExitCode",
        f"command exited with status {code}",
        error_class=ErrorClass.UNKNOWN,
        exit_code=code,
        output=output,
        resources=used,
    )


async def _stop_group(pgid: int, proto: _ShellProtocol) -> None:
    """SIGTERM the whole group, then SIGKILL it once the grace is over or the pipes closed."""
    signal_group(pgid, signal.SIGTERM)
    await wait_event(proto.finished, SHELL_KILL_GRACE_SECONDS)
    # Sent even when the shell is gone: a grandchild may ignore SIGTERM and have closed its
    # copies of our pipes. The group id cannot be reused while such a member is alive.
    signal_group(pgid, signal.SIGKILL)
    await wait_event(proto.finished, SHELL_PIPE_DRAIN_SECONDS)
