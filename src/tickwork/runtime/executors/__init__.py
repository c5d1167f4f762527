"""Executors: run one attempt of a Python, HTTP or shell task and report an Outcome."""

from tickwork.runtime.executors.http import HttpExecutor
from tickwork.runtime.executors.output import (
    DEFAULT_OUTPUT_LIMIT_BYTES,
    OutputTail,
    cap_output,
)
from tickwork.runtime.executors.python import PythonExecutor, resolve_callable
from tickwork.runtime.executors.shell import SHELL_KILL_GRACE_SECONDS, run_shell

__all__ = [
    "DEFAULT_OUTPUT_LIMIT_BYTES",
    "SHELL_KILL_GRACE_SECONDS",
    "HttpExecutor",
    "OutputTail",
    "PythonExecutor",
    "cap_output",
    "resolve_callable",
    "run_shell",
]
