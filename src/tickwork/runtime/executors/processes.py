"""Child processes in their own process group, for the executors that run them (shell commands,
isolated Python): starting one with its pipes on the event loop, reaping it with ``wait4`` for
its resource use, signalling its group.

Why not ``loop.subprocess_exec``: asyncio reaps its children itself with ``waitpid``, which
throws away the kernel's account of what the process used. Here a thread per child waits with
``os.wait4`` (as asyncio's threaded watcher does with ``waitpid``), which hands back the
child's CPU time and peak RSS, including the descendants it waited for. While the child runs,
the RSS of its whole tree is sampled from ``/proc`` (where there is one) at growing intervals,
so that processes running side by side (a pipeline) count together.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from tickwork.domain.jobs import ResourceScope, ResourceUse

MIB = 1024 * 1024
# ru_maxrss is in KiB on Linux and in bytes on macOS.
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
_HAS_PROC = os.path.exists("/proc/self/status")
# The first sample comes soon (short commands), later ones ever less often (long ones).
FIRST_SAMPLE_SECONDS = 0.02
MAX_SAMPLE_SECONDS = 0.25


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class ChildProtocol(Protocol):
    """What a child's owner hears, as asyncio's ``SubprocessProtocol`` would: data of fd 1
    and 2, the exit, and ``connection_lost`` once it exited and every pipe closed."""

    def pipe_data_received(self, fd: int, data: bytes) -> None: ...

    def process_exited(self) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class _Pipe(asyncio.Protocol):
    def __init__(self, owner: GroupChild, fd: int) -> None:
        self._owner = owner
        self._fd = fd

    def data_received(self, data: bytes) -> None:
        self._owner.protocol.pipe_data_received(self._fd, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._pipe_closed(self._fd)


def _pipe_of(child: GroupChild, fd: int) -> Callable[[], _Pipe]:
    return lambda: _Pipe(child, fd)


async def spawn_group(
    protocol: ChildProtocol,
    argv: Sequence[str],
    *,
    stdin: int,
    cwd: str | None,
    env: Mapping[str, str] | None,
) -> GroupChild:
    """Start ``argv`` as the leader of a new session and process group (so that a timeout or a
    cancel can signal it and all it started), stdout and stderr piped to ``protocol``;
    ``stdin`` is ``subprocess.PIPE`` or ``subprocess.DEVNULL``. Raises OSError if it cannot
    start (a missing cwd or program, fork failing)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()  # fork and exec are the child's CPU time: count their wall too
    popen = subprocess.Popen(
        list(argv),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    child = GroupChild(loop, popen, protocol, started)
    try:
        if popen.stdin is not None:
            child._pipes[0], _ = await loop.connect_write_pipe(_pipe_of(child, 0), popen.stdin)
        for fd, pipe in ((1, popen.stdout), (2, popen.stderr)):
            assert pipe is not None
            child._pipes[fd], _ = await loop.connect_read_pipe(_pipe_of(child, fd), pipe)
    except BaseException:
        # Cancelled while connecting: leave nothing of it behind, and reap what was killed.
        signal_group(child.pid, signal.SIGKILL)
        child.close()
        child._start_reaper()
        raise
    child._start_reaper()
    return child


class GroupChild:
    """A started child (see ``spawn_group``): its pipes, its exit and what it used."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        popen: subprocess.Popen[bytes],
        protocol: ChildProtocol,
        started: float,
    ) -> None:
        self._loop = loop
        self._popen = popen
        self.protocol = protocol
        self.pid = popen.pid
        self._pipes: dict[int, asyncio.BaseTransport] = {}
        self._open_pipes = 3 if popen.stdin is not None else 2
        self.returncode: int | None = None
        self._usage: resource.struct_rusage | None = None
        self._parent_peak = 0
        self._started = started
        self._ended: float | None = None
        self._finished = False
        self._tree = TreeSampler(self.pid)
        self._sampler: asyncio.Task[None] | None = (
            loop.create_task(self._tree.run()) if _HAS_PROC else None
        )

    def get_pid(self) -> int:
        return self.pid

    def get_returncode(self) -> int | None:
        return self.returncode

    def get_pipe_transport(self, fd: int) -> asyncio.BaseTransport | None:
        return self._pipes.get(fd)

    def close(self) -> None:
        """Close the pipes; a child still running is killed (its group is the caller's to
        signal). It is reaped all the same."""
        for pipe in self._pipes.values():
            pipe.close()
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)

    def resources(self, reported_peak: int | None = None) -> ResourceUse | None:
        """The child's CPU time (its own and that of the descendants it waited for) and the
        peak memory of its tree (``TreeSampler``, or ``wait4``'s peak when above the worker's
        own); None before it was reaped. A child too short-lived to be sampled and smaller
        than the worker has no memory figure."""
        usage = self._usage
        if usage is None or self._ended is None:
            return None
        peak = max(self._tree.peak_bytes, reported_peak or 0)
        # A child starts out with its parent's peak (the kernel keeps it across fork and exec),
        # so wait4's figure tells only when it is above the worker's own.
        waited = usage.ru_maxrss * _MAXRSS_UNIT
        if waited > self._parent_peak:
            peak = max(peak, waited)
        return ResourceUse.measured(
            ResourceScope.PROCESS,
            usage.ru_utime + usage.ru_stime,
            self._ended - self._started,
            peak / MIB if peak else None,
        )

    def _start_reaper(self) -> None:
        threading.Thread(target=self._reap, name=f"tickwork-reap-{self.pid}", daemon=True).start()

    def _reap(self) -> None:
        try:
            _, status, usage = os.wait4(self.pid, 0)
        except ChildProcessError:  # reaped by someone else: the exit status is lost
            status, usage = None, None
        if status is not None:  # even if the loop is gone: Popen must not wait or warn itself
            self._popen.returncode = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._exited, status, usage)

    def _exited(self, status: int | None, usage: resource.struct_rusage | None) -> None:
        self._ended = time.monotonic()
        if self._sampler is not None:
            self._sampler.cancel()
        self._usage = usage
        self._parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _MAXRSS_UNIT
        self.returncode = 255 if status is None else os.waitstatus_to_exitcode(status)
        self._popen.returncode = self.returncode  # Popen must not wait or warn itself
        self.protocol.process_exited()
        self._try_finish()

    def _pipe_closed(self, fd: int) -> None:
        self._open_pipes -= 1
        self._try_finish()

    def _try_finish(self) -> None:
        if self._finished or self.returncode is None or self._open_pipes > 0:
            return
        self._finished = True
        self.protocol.connection_lost(None)


class TreeSampler:
    """The peak memory of a process and its descendants, from ``/proc``: the largest sum of
    their RSS over the samples (shared pages count in each process, as ``ps`` shows them), or
    the largest high-water mark of one of them (``VmHWM``: it catches a peak between two
    samples), whichever is larger."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_bytes = 0

    async def run(self) -> None:
        delay = FIRST_SAMPLE_SECONDS
        while True:
            await asyncio.sleep(delay)
            self.sample()
            delay = min(delay * 2, MAX_SAMPLE_SECONDS)

    def sample(self) -> None:
        total = 0
        highest = 0
        for pid in self._tree():
            try:
                rss, hwm = _memory_of(_read_text(f"/proc/{pid}/status"))
            except (OSError, ValueError):
                continue  # exited between the listing and the read
            total += rss
            highest = max(highest, hwm)
        self.peak_bytes = max(self.peak_bytes, total, highest)

    def _tree(self) -> list[int]:
        found = [self.pid]
        i = 0
        while i < len(found):
            pid = found[i]
            i += 1
            try:
                threads = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in threads:
                try:
                    children = _read_text(f"/proc/{pid}/task/{tid}/children")
                except OSError:
                    continue
                found.extend(int(c) for c in children.split())
        return found


def own_peak_bytes() -> int | None:
    """This process's peak RSS since its exec (``VmHWM``: unlike ``ru_maxrss``, free of the
    parent's figure); None without ``/proc``."""
    try:
        _, hwm = _memory_of(_read_text("/proc/self/status"))
    except (OSError, ValueError):
        return None
    return hwm or None


def _memory_of(status: str) -> tuple[int, int]:
    """``VmRSS`` and ``VmHWM`` of a ``/proc/<pid>/status`` text, in bytes (0 if absent: a
    kernel thread or a zombie)."""
    rss = hwm = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return rss, hwm


def _read_text(path: str) -> str:
    with open(path) as f:
        return f.read()
