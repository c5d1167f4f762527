"""Checking a job's call arguments against its task's function where this process can import
it: the signatures resolved once per path, and the call shapes known to fit."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from tickwork.callables import Resolver
from tickwork.domain.arguments import check_call, check_json, combine, signature_of
from tickwork.domain.tasks import PythonTarget, TaskDefinition
from tickwork.errors import ConfigError

# Call shapes known to fit their task's signature, remembered per process (a bound on memory).
MAX_REMEMBERED_SHAPES = 10_000


class CallCheck:
    """Shared by every use case of a process (``Context.calls``)."""

    def __init__(self, resolve: Resolver | None) -> None:
        self._resolve = resolve
        # Python tasks' signatures by path; None: cannot be imported in this process (or has
        # no signature), so arguments go unchecked.
        self._signatures: dict[str, inspect.Signature | None] = {}
        self._fitting: set[tuple[Any, ...]] = set()

    def arguments(
        self, defn: TaskDefinition, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """The arguments a job of ``defn`` is called with (``domain.arguments.combine``: the
        caller's override the definition's), checked against the task's signature where this
        process can import it; ``ConfigError`` naming the job and the argument otherwise."""
        signature = self.signature(defn)
        combined, named = combine(defn.args, defn.kwargs, args, kwargs, signature)
        try:
            check_json(args, kwargs)  # the definition's were checked when written
            if signature is not None:
                # Whether a call fits depends on how many args and which kwargs it has only:
                # a shape that fitted once is not checked again (bulk enqueues repeat one).
                shape = (id(signature), len(combined), *named)
                if shape not in self._fitting:
                    check_call(signature, combined, named)
                    if len(self._fitting) >= MAX_REMEMBERED_SHAPES:
                        self._fitting.clear()
                    self._fitting.add(shape)
        except ConfigError as exc:
            raise exc.for_job(defn.name) from None
        return combined, named

    def check_watchdog(self, alarm: TaskDefinition) -> None:
        """The ``on_deadline`` task is called with ``job_id`` and ``task`` (``NewJob.watchdog``)."""
        signature = self.signature(alarm)
        if signature is None:
            return
        try:
            check_call(signature, [], {"job_id": 0, "task": ""})
        except ConfigError as exc:
            raise ConfigError(
                f"job {alarm.name!r} cannot be called with job_id and task: {exc.reason}",
                field="on_deadline",
            ) from None

    def signature(self, defn: TaskDefinition) -> inspect.Signature | None:
        """The signature of a Python task's function, resolved once per path; None for other
        kinds, without a resolver, or when it cannot be imported here (e.g. a CLI on a host
        without the task's code): its arguments are then checked when it runs."""
        if self._resolve is None or not isinstance(defn.target, PythonTarget):
            return None
        path = defn.target.path
        if path not in self._signatures:
            try:
                self._signatures[path] = signature_of(self._resolve(path))
            except ConfigError:
                self._signatures[path] = None
        return self._signatures[path]
