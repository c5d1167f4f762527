"""The context every use case takes: the store, the clock, the resolver, the hooks into the
local processor, who acts, and the settings the use cases apply. The edge composes it (the
launcher for a process, the CLI for a command, the app for a producer)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from tickwork.callables import Resolver, resolve_callable
from tickwork.clock import Clock, SystemClock
from tickwork.config.alerts import AlertSettings
from tickwork.config.report import ReportSettings
from tickwork.domain.access import LOCAL, Principal
from tickwork.domain.admission import ClaimRules
from tickwork.domain.processors import DEFAULT_HEARTBEAT_SECONDS
from tickwork.domain.retention import RetentionPolicy
from tickwork.domain.tasks import DEFAULT_MAX_INTERRUPTIONS, TaskKind
from tickwork.runtime.taskcache import TaskCache
from tickwork.service.arguments import CallCheck
from tickwork.service.audit import Change, record_all
from tickwork.service.dependencies import DependencyCache
from tickwork.store.base import Store


@dataclass
class Context:
    """What the use cases share in one process. ``acting_for`` gives a view for one caller that
    shares the store, the hooks and the caches."""

    store: Store
    _: KW_ONLY
    clock: Clock = field(default_factory=SystemClock)
    # Resolves task paths to check definitions and arguments; None where the task code need
    # not be importable (a producer, the API): arguments are then checked when a job runs.
    resolve: Resolver | None = resolve_callable
    # Wake this process's worker (work was queued) and scheduler (definitions changed).
    on_enqueue: Callable[[], None] | None = None
    on_schedules_changed: Callable[[], None] | None = None
    # A ping took a heartbeat check down or back up: wake this process's alert evaluator.
    on_checks_changed: Callable[[], None] | None = None
    rules: ClaimRules = field(default_factory=ClaimRules)
    # Who acts, for the audit log: a processor, ``cli:<user>``, ``app:<id>``, or an API caller.
    actor: Principal = LOCAL
    request_id: str | None = None
    # Enqueues are the hot path of in-process producers: audited only for someone acting
    # through ``acting_for`` (the API), where they are few and someone's decision.
    audit_enqueues: bool = False
    # Kinds of job definitions that may be created over the API: HTTP only by default, as
    # shell commands and Python callables would run code chosen by an API caller.
    api_job_kinds: frozenset[TaskKind] = frozenset({TaskKind.HTTP})
    # The [calendars.NAME] of tickwork.toml, for `calendar = "NAME"` in API definitions.
    calendars: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # How often a job may lose its worker before it fails ([tickwork] max_interruptions).
    max_interruptions: int = DEFAULT_MAX_INTERRUPTIONS
    # The processes' heartbeat interval, by which a processor is called lost.
    heartbeat_interval_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    # The [retention] table, for pruning on demand (`tickwork prune`, POST /api/prune).
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # The [alerts] table: rules and channels (with their secrets) for the alert use cases.
    alerts: AlertSettings = field(default_factory=AlertSettings)
    # The [report] table: the weekly report's recipients and e-mail channel (None: not set).
    report: ReportSettings | None = None
    # Shared by every view: definitions read for enqueues, and call shapes known to fit.
    tasks: TaskCache = field(init=False, repr=False)
    calls: CallCheck = field(init=False, repr=False)
    # The dependencies among the definitions, as job pages show them.
    dependencies: DependencyCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tasks = TaskCache(self.store)
        self.calls = CallCheck(self.resolve)
        self.dependencies = DependencyCache(self.store)

    def acting_for(self, actor: Principal, request_id: str | None = None) -> Context:
        """This context acting for ``actor`` (one per API request), whose enqueues are audited."""
        view = copy.copy(self)
        view.actor = actor
        view.request_id = request_id
        view.audit_enqueues = True
        return view

    def work_queued(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    def checks_changed(self) -> None:
        if self.on_checks_changed is not None:
            self.on_checks_changed()

    def schedules_changed(self) -> None:
        self.dependencies.clear()  # definitions changed
        if self.on_schedules_changed is not None:
            self.on_schedules_changed()

    async def audit(
        self,
        action: str,
        target_type: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Record a change or action by ``self.actor`` in the audit log (D3)."""
        await self.audit_all([Change(action, target_type, target, before, after)])

    async def audit_all(self, changes: Sequence[Change]) -> None:
        """Record changes made together (e.g. by one sync) in one write."""
        await record_all(self.store, self.clock, self.actor, changes, self.request_id)
