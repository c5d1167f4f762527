"""Pinning a tickwork process to some CPUs (``--cpus`` / ``TICKWORK_CPUS``).

A Python process runs Python code on one core at a time (the GIL). When a worker hands sync
jobs to its thread pool and results back to its event loop, each hand-off wakes a thread that
the kernel may place on another core; on a virtual machine that wake-up crosses virtual CPUs
and costs far more than the job. Restricted to one CPU, the same hand-offs stay on one core:
measured in docs/benchmarks.md ("One CPU per worker process"). Several worker processes on one
host each take their own CPU.
"""

from __future__ import annotations

import os

from tickwork.errors import ConfigError

FIELD = "--cpus"


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on now (its affinity), or empty where unknown."""
    getter = getattr(os, "sched_getaffinity", None)
    return frozenset(getter(0)) if getter is not None else frozenset()


def _shown(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus)) or "none known"


def parse_cpus(text: str, allowed: frozenset[int] | None = None) -> frozenset[int]:
    """CPU numbers from ``"1"``, ``"0,2"`` or ``"0-3"`` (mixable: ``"0,2-3"``), each one of
    ``allowed`` (default: ``available_cpus()``). ``ConfigError`` naming the part at fault."""
    allowed = available_cpus() if allowed is None else allowed
    cpus: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            first = last = -1
        if first < 0 or last < first:
            raise ConfigError(
                f"{part!r} is not a CPU number or range (e.g. 1, 0,2 or 0-3)", field=FIELD
            )
        cpus.update(range(first, last + 1))
    missing = cpus - allowed
    if missing:
        raise ConfigError(
            f"CPU {_shown(frozenset(missing))} is not available to this process "
            f"(it may use {_shown(allowed)})",
            field=FIELD,
        )
    return frozenset(cpus)


def pin(cpus: frozenset[int]) -> frozenset[int]:
    """Restrict this process to ``cpus`` (returned). Call it before any thread starts: on
    Linux the setting is the calling thread's, and threads started later inherit it."""
    setter = getattr(os, "sched_setaffinity", None)
    if setter is None:
        raise ConfigError("this platform cannot pin a process to CPUs", field=FIELD)
    try:
        setter(0, cpus)
    except OSError as exc:
        why = f"cannot pin to CPU {_shown(cpus)}: {exc.strerror}"
        raise ConfigError(why, field=FIELD) from None
    return cpus
