"""The Python API: an application object, the ``@app.task`` decorator, and enqueueing from code."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from tickwork.callables import resolve_callable
from tickwork.config import Settings, load_config
from tickwork.config.api import ApiSettings
from tickwork.config.policies import policies_from_options
from tickwork.domain.access import Principal
from tickwork.domain.durations import parse_duration
from tickwork.domain.limits import RateLimit
from tickwork.domain.tasks import (
    DEFAULT_TIMEZONE,
    PythonTarget,
    RetryPolicy,
    TaskDefinition,
    TaskSource,
)
from tickwork.errors import ConfigError
from tickwork.service.facade import Service
from tickwork.service.jobs import EnqueueRequest

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class EnqueueOptions:
    delay: str | float | None = None
    at: datetime | None = None
    key: str | None = None
    priority: int | None = None
    unique_key: str | None = None
    unique_for: str | float | None = None
    # A duration after the job's time, or a time; on_deadline runs if the job has not
    # succeeded by then.
    deadline: str | float | datetime | None = None
    on_deadline: str | None = None

    def request(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> EnqueueRequest:
        delay = None if self.delay is None else parse_duration(self.delay, field="delay")
        unique_for = (
            None if self.unique_for is None else parse_duration(self.unique_for, field="unique_for")
        )
        deadline_at: datetime | None = None
        deadline_seconds: float | None = None
        if isinstance(self.deadline, datetime):
            deadline_at = self.deadline
        elif self.deadline is not None:
            deadline_seconds = parse_duration(self.deadline, field="deadline")
        return EnqueueRequest(
            task_name=name,
            args=tuple(args),
            kwargs=kwargs,
            at=self.at,
            delay_seconds=delay,
            key=self.key,
            priority=self.priority,
            unique_key=self.unique_key,
            unique_for_seconds=unique_for,
            deadline_seconds=deadline_seconds,
            deadline_at=deadline_at,
            on_deadline=self.on_deadline,
        )


class TaskHandle(Generic[P, R]):
    """What ``@app.task`` returns: still callable as the plain function, plus ``enqueue``."""

    def __init__(self, app: Tickwork, fn: Callable[P, R], definition: TaskDefinition) -> None:
        self.app = app
        self.fn = fn
        self.definition = definition
        self.name = definition.name
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Queue a run now; returns the job ID. From async code use ``enqueue_async``."""
        return self.options().enqueue(*args, **kwargs)

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> int:
        return await self.options().enqueue_async(*args, **kwargs)

    def options(
        self,
        *,
        delay: str | float | None = None,
        at: datetime | None = None,
        key: str | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        unique_for: str | float | None = None,
        deadline: str | float | datetime | None = None,
        on_deadline: str | None = None,
    ) -> BoundEnqueue[P]:
        """Enqueue with options: ``task.options(delay="30s", key="user-7").enqueue(...)``.

        ``unique_key``: while a job of that key is queued or running (or, with ``unique_for``,
        finished that recently), enqueueing returns its ID instead of a new job.
        ``deadline`` (a duration after the job's time, or a datetime) with ``on_deadline`` (a
        task name): that task runs at the deadline, with ``job_id`` and ``task``, unless this
        job has succeeded by then.
        """
        options = EnqueueOptions(
            delay,
            at,
            key,
            priority,
            unique_key,
            unique_for=unique_for,
            deadline=deadline,
            on_deadline=on_deadline,
        )
        return BoundEnqueue(self.app, self.name, options)


class TaskDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> TaskHandle[P, R]: ...


class BoundEnqueue(Generic[P]):
    def __init__(self, app: Tickwork, name: str, options: EnqueueOptions) -> None:
        self._app = app
        self._name = name
        self._options = options

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> int:
        req = self._options.request(self._name, args, dict(kwargs))
        return self._app.call(lambda service: service.enqueue(req))

    async def enqueue_async(self, *args: P.args, **kwargs: P.kwargs) -> int:
        req = self._options.request(self._name, args, dict(kwargs))
        service = await self._app.service_async()
        return await service.enqueue(req)


class Tickwork:
    """A tickwork application: task definitions in code, and the way to run or feed them.

    ``database_url`` and ``config`` (a ``tickwork.toml``) are optional; settings come from the
    file, then ``TICKWORK_*`` variables, then the arguments given here.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        config: str | Path | None = None,
        **settings: Any,
    ) -> None:
        overrides = {"database_url": database_url, **settings}
        self._config = load_config(Path(config) if config else None, overrides=overrides)
        self._definitions: dict[str, TaskDefinition] = {}
        self._functions: dict[str, Callable[..., Any]] = {}
        self._service: Service | None = None
        self._service_loop: asyncio.AbstractEventLoop | None = None
        # How many code definitions the store is known to have (registered or synced): more
        # defined since are registered before the next use of the service.
        self._registered = -1
        self._portal: _Portal | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> Settings:
        return self._config.settings

    @property
    def api_settings(self) -> ApiSettings:
        """The ``[api]`` settings of the config file and ``TICKWORK_API_*`` variables."""
        return self._config.api

    def use_database(self, database_url: str) -> None:
        """Point this app at another store (e.g. ``tickwork run --app ... --database-url``)."""
        self._config = dataclasses.replace(
            self._config, settings=self.settings.replace(database_url=database_url)
        )

    @property
    def definitions(self) -> list[TaskDefinition]:
        """Code definitions first, then those of the config file."""
        return [*self._definitions.values(), *self._config.tasks]

    # --- defining --------------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> TaskHandle[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        schedule: str | None = None,
        timezone: str = ...,
        timeout: str | float | None = None,
        max_retries: int = 0,
        backoff: RetryPolicy | None = None,
        retry_on: Sequence[str | type[BaseException]] = (),
        no_retry_on: Sequence[str | type[BaseException]] = (),
        max_interruptions: int | None = None,
        enabled: bool = True,
        description: str | None = None,
        priority: int = 0,
        tags: Sequence[str] = (),
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        overlap: str | None = None,
        misfire: str | None = None,
        catch_up_window: str | float | None = None,
        catch_up_max: int | None = None,
        rate_limit: str | RateLimit | None = None,
        key_rate_limit: str | RateLimit | None = None,
        key_limit: int | None = None,
        cooldown: str | float | None = None,
        guard: str | None = None,
        isolated: bool = False,
        calendar: str | dict[str, Any] | None = None,
        after: str | Sequence[str | dict[str, str]] | None = None,
        requires: Sequence[dict[str, str]] | None = None,
    ) -> TaskDecorator: ...

    def task(  # type: ignore[misc]  # mypy cannot match a ParamSpec across overloads
        self,
        fn: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        schedule: str | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        timeout: str | float | None = None,
        max_retries: int = 0,
        backoff: RetryPolicy | None = None,
        retry_on: Sequence[str | type[BaseException]] = (),
        no_retry_on: Sequence[str | type[BaseException]] = (),
        max_interruptions: int | None = None,
        enabled: bool = True,
        description: str | None = None,
        priority: int = 0,
        tags: Sequence[str] = (),
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        overlap: str | None = None,
        misfire: str | None = None,
        catch_up_window: str | float | None = None,
        catch_up_max: int | None = None,
        rate_limit: str | RateLimit | None = None,
        key_rate_limit: str | RateLimit | None = None,
        key_limit: int | None = None,
        cooldown: str | float | None = None,
        guard: str | None = None,
        isolated: bool = False,
        calendar: str | dict[str, Any] | None = None,
        after: str | Sequence[str | dict[str, str]] | None = None,
        requires: Sequence[dict[str, str]] | None = None,
    ) -> TaskHandle[P, R] | TaskDecorator:
        """Define a task from a sync or async function, optionally on a schedule.

        Policies (as the keys of a ``[[jobs]]`` table): ``overlap`` (skip, queue, allow,
        replace), ``misfire`` (skip, run_once, catch_up) with ``catch_up_window`` and
        ``catch_up_max``, ``rate_limit`` and ``key_rate_limit`` (``"10 per 1m"``), ``key_limit``,
        ``cooldown``, ``guard`` (``"module:function"``), ``isolated`` and ``calendar`` (the name
        of a ``[calendars.NAME]`` of the config file, or a spec dict). ``None``: the default.
        Dependencies (docs/dependencies.md): ``after`` (job names, or ``{"job": ..., "on":
        "success" | "finished" | "failed"}``) and ``requires`` (``{"job": ..., "since":
        "08:00" | "30m"}``).

        Retries: a failure is retried up to ``max_retries`` times with ``backoff``, except
        auth, validation and config errors (and ``tickwork.Fail``); ``retry_on`` (only these)
        and ``no_retry_on`` (never these) take exception classes or names (see
        ``domain.policies.is_retryable``). ``max_interruptions``: how often a job may lose its
        worker before it fails (default: ``[tickwork] max_interruptions``).
        """

        def register(func: Callable[P, R]) -> TaskHandle[P, R]:
            path = f"{func.__module__}:{func.__qualname__}"
            task_name = name or func.__name__
            try:
                base = backoff or RetryPolicy()
                retry = RetryPolicy(
                    max_retries,
                    base.base_seconds,
                    base.factor,
                    base.cap_seconds,
                    base.jitter,
                    retry_on=error_names(retry_on),
                    no_retry_on=error_names(no_retry_on),
                    max_interruptions=max_interruptions,
                )
                defn = TaskDefinition(
                    name=task_name,
                    target=PythonTarget(path),
                    schedule=schedule,
                    timezone=timezone,
                    timeout_seconds=None
                    if timeout is None
                    else parse_duration(timeout, field="timeout"),
                    retry=retry,
                    enabled=enabled,
                    description=description
                    if description is not None
                    else (func.__doc__ or "").strip().split("\n")[0],
                    priority=priority,
                    tags=tuple(tags),
                    args=tuple(args),
                    kwargs=dict(kwargs or {}),
                    policies=policies_from_options(
                        {
                            "overlap": overlap,
                            "misfire": misfire,
                            "catch_up_window": catch_up_window,
                            "catch_up_max": catch_up_max,
                            "rate_limit": rate_limit,
                            "key_rate_limit": key_rate_limit,
                            "key_limit": key_limit,
                            "cooldown": cooldown,
                            "guard": guard,
                            "isolated": isolated,
                            "calendar": calendar,
                            "after": None if after is None else _listed(after),
                            "requires": None if requires is None else list(requires),
                        },
                        job=task_name,
                        calendars=self._config.calendars,
                        timezone=timezone,
                    ),
                    source=TaskSource.CODE,
                )
            except ConfigError as exc:
                raise exc.for_job(task_name) from None
            if task_name in self._definitions:
                raise ConfigError("defined twice", job=task_name, field="name")
            from tickwork.service.definition_rules import (
                check_definition_arguments,
                validate_definitions,
            )

            validate_definitions([defn], resolve=None)
            check_definition_arguments(defn, func)
            self._definitions[task_name] = defn
            self._functions[path] = func
            return TaskHandle(self, func, defn)

        if fn is not None:
            return register(fn)
        return register  # type: ignore[return-value]  # generic in P and R per call

    def resolve(self, path: str) -> Callable[..., Any]:
        """The function for a task path: registered here first, else imported."""
        func = self._functions.get(path)
        return func if func is not None else resolve_callable(path)

    # --- feeding ---------------------------------------------------------------------------
    def enqueue(
        self,
        task: str,
        *,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        delay: str | float | None = None,
        at: datetime | None = None,
        key: str | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        unique_for: str | float | None = None,
        deadline: str | float | datetime | None = None,
        on_deadline: str | None = None,
    ) -> int:
        """Queue a run of a defined task by name; returns the job ID (see
        ``TaskHandle.options`` for the options)."""
        options = EnqueueOptions(
            delay,
            at,
            key,
            priority,
            unique_key,
            unique_for=unique_for,
            deadline=deadline,
            on_deadline=on_deadline,
        )
        req = options.request(task, args, kwargs or {})
        return self.call(lambda service: service.enqueue(req))

    def call(self, use_case: Callable[[Service], Coroutine[Any, Any, T]]) -> T:
        """Run a service call from synchronous code (not from inside an event loop)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("called from async code: use the *_async variant and await it")
        loop = self._service_loop
        if self._service is not None and loop is not None and loop.is_running():
            call = self._with_service(use_case)
            return asyncio.run_coroutine_threadsafe(call, loop).result()
        with self._lock:
            if self._portal is None:
                self._portal = _Portal()
        return self._portal.run(self._with_service(use_case))

    async def _with_service(self, use_case: Callable[[Service], Coroutine[Any, Any, T]]) -> T:
        return await use_case(await self.service_async())

    async def service_async(self) -> Service:
        """The service of this app on the current event loop (created on first use).

        Before it is first used, the definitions of this app (code and config file) that the
        store lacks are registered, so that a producer that never runs a worker can enqueue,
        trigger and list them on a fresh database; stored ones are left to the sync of the
        processes that run them (``Service.register_missing``)."""
        loop = asyncio.get_running_loop()
        if self._service is None or self._service_loop is not loop:
            from tickwork.launcher import producer_context

            ctx = await producer_context(self.settings, self.resolve, _producer())
            self._service = Service(ctx)
            self._service_loop = loop
            self._registered = -1
        service = self._service
        defined = len(self._definitions)
        if self._registered < defined:
            await service.register_missing(self.definitions)
            self._registered = max(self._registered, defined)
        return service

    # --- running ---------------------------------------------------------------------------
    def run(
        self,
        *,
        roles: frozenset[str] | None = None,
        processor_id: str | None = None,
        api: ApiSettings | None = None,
    ) -> None:
        """Run scheduler and worker (or ``roles``) here until SIGINT/SIGTERM (blocking); with
        ``api``, serve the REST API too."""
        asyncio.run(self.serve(roles=roles, processor_id=processor_id, api=api))

    async def serve(
        self,
        stop: asyncio.Event | None = None,
        *,
        roles: frozenset[str] | None = None,
        processor_id: str | None = None,
        api: ApiSettings | None = None,
    ) -> None:
        """Run scheduler and worker (or ``roles``) on the current event loop until ``stop``;
        with ``api``, serve the REST API too."""
        from tickwork.launcher import serve

        sources = [TaskSource.CODE]
        if self._config.path is not None:
            sources.append(TaskSource.CONFIG)

        def started(processor: Any, service: Service) -> None:
            self._service = service
            self._service_loop = asyncio.get_running_loop()
            self._registered = len(self._definitions)  # the sync wrote them all

        await serve(
            self.settings,
            self.definitions,
            sources,
            resolve=self.resolve,
            stop=stop,
            on_started=started,
            roles=roles,
            processor_id=processor_id,
            api=api,
        )


def error_names(items: Sequence[str | type[BaseException]]) -> tuple[str, ...]:
    """Exception classes as the qualified names a retry policy matches; names as given."""
    return tuple(
        item if isinstance(item, str) else f"{item.__module__}.{item.__qualname__}"
        for item in items
    )


def _producer() -> Principal:
    """Who this process's changes are by when it only feeds the store (e.g. the definitions
    it registers): ``app:<host-pid-random>``."""
    from tickwork.domain.processors import new_processor_id

    return Principal(name=f"app:{new_processor_id()}", scopes=frozenset(), automated=True)


class _Portal:
    """An event loop on a daemon thread, for sync callers outside any running loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tickwork-portal", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()


def _listed(value: str | Sequence[str | dict[str, str]]) -> list[str | dict[str, str]]:
    return [value] if isinstance(value, str) else list(value)
