"""A job's call arguments: how a caller's combine with its task definition's, and whether the
task's signature accepts them (checked when a job is made, so a mismatch never becomes a run)."""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tickwork.errors import ConfigError

_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
_BY_NAME = (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)
_STRICT_JSON = json.JSONEncoder(allow_nan=False)  # NaN and Infinity are not JSON


def signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    """The call signature of ``func``, or None where Python cannot tell (some builtins)."""
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def combine(
    defined_args: Sequence[Any],
    defined_kwargs: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    signature: inspect.Signature | None,
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments a job calls its task with; the caller's override the definition's.

    Positional ``args`` given by the caller replace the definition's as a whole; the caller's
    ``kwargs`` are merged over the definition's; and a definition kwarg naming a parameter that
    the caller's positional args already bind is dropped. That last rule needs ``signature``:
    without it (the task cannot be imported here) the definition's kwargs are all kept.
    """
    if not args:
        return list(defined_args), {**defined_kwargs, **kwargs}
    if not defined_kwargs:
        return list(args), dict(kwargs)
    taken = _bound_by_position(signature, len(args), by_name_too=True)
    merged = {k: v for k, v in defined_kwargs.items() if k not in taken}
    merged.update(kwargs)
    return list(args), merged


def check_call(
    signature: inspect.Signature,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    partial: bool = False,
) -> None:
    """``ConfigError`` naming the argument unless a call with ``args`` and ``kwargs`` binds to
    ``signature``; ``partial``: parameters may still be missing (a definition's defaults)."""
    params = signature.parameters
    positional = [p for p in params.values() if p.kind in _POSITIONAL]
    var_positional = any(p.kind is _P.VAR_POSITIONAL for p in params.values())
    var_keyword = any(p.kind is _P.VAR_KEYWORD for p in params.values())
    if len(args) > len(positional) and not var_positional:
        raise ConfigError(
            f"too many positional arguments: {len(args)} given, at most {len(positional)}"
            f" accepted {_takes(signature)}",
            field="args",
        )
    by_position = _bound_by_position(signature, len(args))
    for name in kwargs:
        param = params.get(name)
        by_name = param is not None and param.kind in _BY_NAME
        if by_name and name in by_position:
            raise ConfigError(
                f"multiple values for argument {name!r}: given by position and by name"
                f" {_takes(signature)}",
                field="kwargs",
            )
        if not by_name and not var_keyword:
            if param is not None and param.kind is _P.POSITIONAL_ONLY:
                raise ConfigError(
                    f"argument {name!r} is positional-only: give it in args {_takes(signature)}",
                    field="kwargs",
                )
            raise ConfigError(
                f"unexpected keyword argument {name!r} {_takes(signature)}", field="kwargs"
            )
    if not partial:
        for p in params.values():
            required = p.default is _P.empty and p.kind not in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
            given = p.name in by_position or (p.kind in _BY_NAME and p.name in kwargs)
            if required and not given:
                raise ConfigError(
                    f"missing argument {p.name!r} {_takes(signature)}", field="kwargs"
                )
    # The interpreter's own rule has the last word, should the checks above miss a case.
    try:
        (signature.bind_partial if partial else signature.bind)(*args, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{exc} {_takes(signature)}", field="args") from None


def check_json(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """``ConfigError`` unless the arguments are plain JSON: jobs keep them in the store, and an
    isolated task's child process receives them as JSON."""
    for field, value in (("args", args), ("kwargs", kwargs)):
        if not value or _plain(value):
            continue
        try:
            _STRICT_JSON.encode(value)  # the rule; _plain only spares it the common cases
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigError(
                f"must be JSON (strings, numbers, booleans, null, lists, objects): {exc}",
                field=field,
            ) from None


def _plain(value: Any) -> bool:
    """True for values that are certainly plain JSON (a quick look, about a third of the time
    of encoding them on an enqueue's hot path); False means "ask the encoder"."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    try:
        if kind is list or kind is tuple:
            return all(_plain(item) for item in value)
        if kind is dict:
            return all(type(k) is str and _plain(item) for k, item in value.items())
    except RecursionError:
        return False
    return False


def _bound_by_position(
    signature: inspect.Signature | None, count: int, *, by_name_too: bool = False
) -> set[str]:
    """The parameters that the first ``count`` positional arguments bind (``by_name_too``:
    only those a keyword could also bind, i.e. not positional-only)."""
    if signature is None or count == 0:
        return set()
    bound = [p for p in signature.parameters.values() if p.kind in _POSITIONAL][:count]
    return {p.name for p in bound if not by_name_too or p.kind in _BY_NAME}


def _takes(signature: inspect.Signature) -> str:
    """The parameters as ``def`` shows them (``/`` and ``*`` included), without annotations
    and with defaults elided (they may be long, or not meant to be shown)."""
    params = [
        p.replace(annotation=_P.empty, default=_P.empty if p.default is _P.empty else _ELIDED)
        for p in signature.parameters.values()
    ]
    return f"(the task takes: {str(inspect.Signature(params))[1:-1] or 'no arguments'})"


class _Elided:
    def __repr__(self) -> str:
        return "..."


_ELIDED = _Elided()
