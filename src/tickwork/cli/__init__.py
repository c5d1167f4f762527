"""The ``tickwork`` command: ``main()`` is the console script; the commands are in ``main``
(next, enqueue, jobs), ``serve`` (run, worker, scheduler, api), ``ops`` and ``accounts``.

A command lives for a fraction of a second, and most of that is importing: hundreds of
thousands of objects that stay alive until the process ends. CPython's cyclic garbage collector
would walk them again and again while importing, and once more at exit, for nothing (a third
of `tickwork jobs list`). So the collector is off while a command runs; the long-running
commands turn it back on (``serve.py``).
"""

from __future__ import annotations

import gc
import os
import sys
from importlib import import_module


def main() -> None:
    gc.disable()
    # Task paths like "examples.tasks:fn" are relative to where tickwork is started.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    import_module("tickwork.cli.main")  # defines the commands
    from tickwork.cli.commands import app

    try:
        app()
    finally:
        gc.freeze()  # exit without one more walk over every object


def collect_garbage_again() -> None:
    """For a command that keeps running (a server): what was imported so far is frozen (the
    collector never walks it again), and the collector is back on for what comes."""
    gc.freeze()
    gc.enable()
