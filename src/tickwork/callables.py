"""Resolving ``package.module:attr`` paths to the objects they name (tasks, guards, apps).

Below the use cases and the runtime alike: definitions are checked against the function a path
names before they are written, and workers call it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tickwork.errors import ConfigError

# How a path is resolved: ``resolve_callable``, or an app's own (its registered functions
# first); None where functions cannot or need not be imported (a producer, the API).
Resolver = Callable[[str], Callable[..., Any]]


def import_object(path: str, *, what: str = "task", field: str = "task") -> Any:
    """The object named by ``package.module:attr`` (``attr`` may be dotted, ``Class.method``)."""
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ConfigError(
            f"cannot import {what} {path!r}: expected 'package.module:name'", field=field
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        # Also errors raised while the module runs: either way the object cannot be used.
        raise ConfigError(
            f"cannot import {what} {path!r}: {type(exc).__name__}: {exc}", field=field
        ) from exc
    owner = module_name
    for name in attr_path.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError as exc:
            raise ConfigError(
                f"cannot import {what} {path!r}: {owner!r} has no attribute {name!r}",
                field=field,
            ) from exc
        owner = f"{owner}.{name}"
    return obj


def resolve_callable(path: str) -> Callable[..., Any]:
    """The callable named by ``package.module:attr`` (``attr`` may be dotted, ``Class.method``)."""
    obj = import_object(path)
    if not callable(obj):
        raise ConfigError(
            f"cannot import task {path!r}: {type(obj).__name__} object is not callable",
            field="task",
        )
    return obj  # type: ignore[no-any-return]
