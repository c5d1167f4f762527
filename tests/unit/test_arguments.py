"""How a job's arguments come from its caller's and its definition's, and the signature check
(``domain.arguments``): pure, no store."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest

from tickwork.domain.arguments import check_call, check_json, combine, signature_of
from tickwork.errors import ConfigError


def hello(name: str, greeting: str = "hi") -> None: ...


def mixed(a: int, /, b: int, *rest: int, c: int, d: int = 0, **extra: int) -> None: ...


def sig(func: Callable[..., Any]) -> inspect.Signature:
    found = signature_of(func)
    assert found is not None
    return found


def test_caller_args_replace_the_definitions_and_kwargs_merge_over_them() -> None:
    defined = ((), {"name": "auditor"})
    # The case: a positional argument binds `name`, so the definition's is dropped.
    assert combine(*defined, ["x"], {}, sig(hello)) == (["x"], {})
    assert combine(*defined, [], {}, sig(hello)) == ([], {"name": "auditor"})
    assert combine(*defined, [], {"name": "x"}, sig(hello)) == ([], {"name": "x"})
    assert combine(*defined, [], {"greeting": "yo"}, sig(hello)) == (
        [],
        {"name": "auditor", "greeting": "yo"},
    )
    both = ((), {"name": "auditor", "greeting": "yo"})
    assert combine(*both, ["x"], {}, sig(hello)) == (["x"], {"greeting": "yo"})
    assert combine(*both, ["x", "hey"], {}, sig(hello)) == (["x", "hey"], {})
    assert combine(("a",), {}, ["b"], {}, sig(hello)) == (["b"], {})
    assert combine(("a",), {"greeting": "yo"}, [], {}, sig(hello)) == (["a"], {"greeting": "yo"})
    # Without a signature nothing tells which parameter a positional argument binds.
    assert combine(*defined, ["x"], {}, None) == (["x"], {"name": "auditor"})


def test_positional_args_bind_only_positional_parameters() -> None:
    # b is bound by position; a is too, but as positional-only its name goes to **extra.
    defined = {"a": 1, "b": 2, "c": 3, "rest": 4}
    assert combine((), defined, [1, 2, 3], {}, sig(mixed)) == (
        [1, 2, 3],
        {"a": 1, "c": 3, "rest": 4},
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "field", "message"),
    [
        ([], {"nme": "x"}, "kwargs", "unexpected keyword argument 'nme'"),
        ([], {}, "kwargs", "missing argument 'name'"),
        (["x", "y", "z"], {}, "args", "too many positional arguments: 3 given, at most 2"),
        (["x"], {"name": "y"}, "kwargs", "multiple values for argument 'name'"),
    ],
)
def test_mismatches_name_the_argument(
    args: list[Any], kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_call(sig(hello), args, kwargs)
    assert caught.value.field == field
    assert message in caught.value.reason
    assert "(the task takes: name, greeting=...)" in caught.value.reason


def test_the_parameters_shown_keep_their_markers() -> None:
    with pytest.raises(ConfigError) as caught:
        check_call(sig(mixed), [], {})
    assert "(the task takes: a, /, b, *rest, c, d=..., **extra)" in caught.value.reason


def test_every_kind_of_parameter() -> None:
    check_call(sig(mixed), [1, 2, 3, 4], {"c": 5, "anything": 6, "a": 7})  # a: into **extra
    check_call(sig(mixed), [1], {"b": 2, "c": 3})
    for args, kwargs, message in [
        ([], {"b": 2, "c": 3}, "missing argument 'a'"),
        ([], {"a": 1, "b": 2, "c": 3}, "missing argument 'a'"),  # a goes to **extra
        ([1, 2], {}, "missing argument 'c'"),  # keyword-only
        ([1, 2], {"b": 2, "c": 3}, "multiple values for argument 'b'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_call(sig(mixed), args, kwargs)


def test_positional_only_parameters_given_by_name() -> None:
    def only(a: int, /) -> None: ...

    with pytest.raises(ConfigError) as caught:
        check_call(sig(only), [], {"a": 1})
    assert "argument 'a' is positional-only: give it in args (the task takes: a, /)" in str(
        caught.value
    )


def test_partial_allows_missing_parameters_only() -> None:
    check_call(sig(hello), [], {"greeting": "yo"}, partial=True)
    with pytest.raises(ConfigError, match="unexpected keyword argument 'nme'"):
        check_call(sig(hello), [], {"nme": "x"}, partial=True)


def test_callables_without_a_signature_are_not_checked() -> None:
    assert signature_of(print) is not None
    assert signature_of(max) is None  # Python cannot tell: callers skip the check


def test_arguments_must_be_plain_json() -> None:
    check_json([1, "a", None, [True, {"x": 1.5}]], {"k": {"n": [1]}})
    check_json([{1: "int keys become strings"}, HTTPStatus.OK], {})  # what JSON encodes
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ConfigError, match="args: must be JSON"):
        check_json(deep, {})
    for args, kwargs, field in [
        ([object()], {}, "args"),
        ([], {"when": math.nan}, "kwargs"),
        ([math.inf], {}, "args"),
    ]:
        with pytest.raises(ConfigError) as caught:
            check_json(args, kwargs)
        assert caught.value.field == field and "must be JSON" in caught.value.reason
