"""The alert evaluator: on a tick (and when woken, e.g. by the event feed as runs finish) it
reads the facts of every rule's subjects, steps each rule × subject (``alert_states.step``) and
stores the changes with their delivery jobs (``Store.write_alerts``).

Facts are read per kind, each in one statement for all the subjects that need it (runs, running
jobs, batches, late fires, processors, the queue, the channels), never per subject. Once for
the cluster: any number of evaluators (one per scheduler process) may evaluate together; the
compare-and-set write decides which one stores a change, and only its transaction creates the
delivery jobs, so each transition is sent once. An evaluator that lost a race reads the new
state on its next tick.

A wake-up for finished runs or missed fires names their jobs: it steps only the per-job rules
and only for those jobs (their facts read, nobody else's), so an evaluation's cost follows
what happened, not how many rules exist. Every rule and subject is stepped on the tick, at
least every ``interval_seconds`` however often wake-ups come: what time alone changes (a fire
going missed, a processor going silent, the backlog ageing) is seen then.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from tickwork.clock import Clock, SystemClock
from tickwork.config.alerts import AlertSettings
from tickwork.domain.alert_records import RULE_SUBJECT, AlertKey, AlertWrite
from tickwork.domain.alert_states import AlertState, step
from tickwork.domain.alerts import AlertRule, Facts, RunFact, ScopeIndex, SubjectFacts
from tickwork.domain.autoschedule import Override
from tickwork.domain.checks import Check
from tickwork.domain.jobs import JobState, NewJob
from tickwork.domain.queries import ProcessorInfo
from tickwork.domain.tasks import TaskDefinition, TaskSource
from tickwork.runtime.backoff import StoreRetry
from tickwork.runtime.loop import BackgroundLoop
from tickwork.runtime.notify.delivery import delivery_jobs, notify_definition
from tickwork.store.base import RuntimeStore

log = logging.getLogger("tickwork.alerts")

DEFAULT_EVALUATE_SECONDS = 15.0
# After a wake-up, wait this long for more before evaluating: a burst of finished runs makes
# one evaluation.
WAKE_GATHER_SECONDS = 1.0
# Writes per transaction.
WRITE_BATCH = 500
QUEUE_SUBJECT = "queue"


def task_subject(name: str) -> str:
    return f"task:{name}"


def processor_subject(processor_id: str) -> str:
    return f"processor:{processor_id}"


def channel_subject(name: str) -> str:
    return f"channel:{name}"


def check_subject(name: str) -> str:
    return f"check:{name}"


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did."""

    at: datetime
    subjects: int = 0
    stored: int = 0  # transitions written
    stale: int = 0  # transitions another evaluator wrote first
    deliveries: int = 0  # delivery jobs created


@dataclass
class _Facts:
    """The facts read for one evaluation, by task (or processor, channel)."""

    runs: dict[str, list[RunFact]]
    running: dict[str, datetime]
    batches: dict[str, tuple[int, int]]
    fires: dict[str, tuple[datetime | None, int]]
    heartbeats: dict[str, datetime | None]
    oldest_due_at: datetime | None
    channel_failures: dict[str, int]
    checks: dict[str, Check]
    overrides: dict[str, Override]


class Evaluator:
    """Evaluates ``settings.rules`` every ``interval_seconds`` and when woken."""

    def __init__(
        self,
        store: RuntimeStore,
        settings: AlertSettings,
        *,
        clock: Clock | None = None,
        interval_seconds: float = DEFAULT_EVALUATE_SECONDS,
        on_enqueued: Callable[[], None] | None = None,
        delivery: TaskDefinition | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        self.interval_seconds = interval_seconds
        # Deliveries were queued: wake this process's worker.
        self.on_enqueued = on_enqueued
        self.delivery = delivery or notify_definition()
        self.retry = StoreRetry(log)
        self.last: Evaluation | None = None
        self._wake = asyncio.Event()
        # What wake-ups since the last evaluation asked for: these jobs, or everything.
        self._woken: set[str] = set()
        self._woken_all = False
        self._loop = BackgroundLoop("tickwork-alerts", self._run)

    # --- one evaluation ----------------------------------------------------------------------
    async def evaluate(self, only: Iterable[str] | None = None) -> Evaluation:
        """Step every rule × subject at the clock's now and store what changed; with ``only``
        (job names), just the per-job rules' subjects of those jobs."""
        now = self.clock.now()
        rules = self.settings.rules
        named = None if only is None else frozenset(only)
        if named is not None:
            rules = tuple(rule for rule in rules if rule.condition.per_task)
        if not rules or named == frozenset():
            return Evaluation(now)
        states = await self.store.alert_states()
        found = (
            await self.store.list_tasks(include_removed=False)
            if named is None
            else [t for t in await self.store.get_tasks(sorted(named)) if not t.removed]
        )
        tasks = [t for t in found if t.definition.source is not TaskSource.BUILTIN]
        processors: list[ProcessorInfo] = []
        if any(Facts.PROCESSORS in rule.condition.needs for rule in rules):
            processors = await self.store.list_processors()
        checks: list[Check] = []
        if any(Facts.CHECKS in rule.condition.needs for rule in rules):
            checks = await self.store.list_checks()
        # Indexes made once per evaluation: each rule finds its subjects by name or tag, and
        # its stored states among its own (never a scan of everything per rule).
        task_index = ScopeIndex((t.name, t.definition.tags) for t in tasks)
        check_index = ScopeIndex((c.name, c.tags) for c in checks)
        # A wake-up's own jobs' stored states only (their subjects by the one naming rule).
        wanted = None if named is None else {task_subject(name) for name in named}
        known: dict[str, list[str]] = {}
        for key in states:
            if key.subject != RULE_SUBJECT and (wanted is None or key.subject in wanted):
                known.setdefault(key.rule, []).append(key.subject)
        subjects = {
            rule.name: self._subjects(
                rule, task_index, check_index, processors, known.get(rule.name, ())
            )
            for rule in rules
        }
        facts = await self._read(rules, subjects, processors, now)
        facts.checks = {check.name: check for check in checks}
        writes: list[AlertWrite] = []
        count = 0
        # A subject's facts are the same for every rule that watches it: built once.
        built: dict[str, SubjectFacts] = {}
        for rule in rules:
            policy = rule.policy
            rule_row = states.get(AlertKey(rule.name, RULE_SUBJECT))
            if rule_row is not None and rule_row.muted_until is not None:
                mutes = [m for m in (policy.muted_until, rule_row.muted_until) if m is not None]
                policy = replace(policy, muted_until=max(mutes))
            for subject, task in subjects[rule.name].items():
                count += 1
                key = AlertKey(rule.name, subject)
                state = states.get(key, AlertState())
                seen = built.get(subject)
                if seen is None:
                    seen = built[subject] = _facts_of(subject, task, facts)
                observed = rule.condition.check(seen, now)
                result = step(state, observed, now, policy)
                if result.transition is None:
                    continue
                jobs: list[NewJob] = []
                if self.settings.enabled:
                    for notice in result.notifications:
                        jobs += delivery_jobs(notice, rule.channels, now, self.delivery)
                channels = rule.channels if result.notifications else ()
                writes.append(
                    AlertWrite(key, result.state, result.transition, channels, tuple(jobs))
                )
        stored = stale = deliveries = 0
        for start in range(0, len(writes), WRITE_BATCH):
            batch = writes[start : start + WRITE_BATCH]
            for write, created in zip(
                batch, await self.store.write_alerts(batch, now), strict=True
            ):
                if created is None:
                    stale += 1
                    continue
                stored += 1
                deliveries += len(created)
                _log_stored(write)
        if deliveries and self.on_enqueued is not None:
            self.on_enqueued()
        self.last = Evaluation(now, count, stored, stale, deliveries)
        return self.last

    def _subjects(
        self,
        rule: AlertRule,
        tasks: ScopeIndex,
        checks: ScopeIndex,
        processors: list[ProcessorInfo],
        stored: Iterable[str],
    ) -> dict[str, str | None]:
        """The rule's subjects now (subject → its task), with those it stored a state for
        (a removed task, a processor row pruned): their facts are empty, so they resolve."""
        found: dict[str, str | None] = {}
        needs = rule.condition.needs
        if rule.condition.per_task:
            for name in tasks.watched(rule.scope):
                found[task_subject(name)] = name
        elif Facts.CHECKS in needs:
            for name in checks.watched(rule.scope):
                found[check_subject(name)] = None
        elif Facts.CHANNELS in needs:
            for name in self.settings.channels:
                found[channel_subject(name)] = None
        elif Facts.BACKLOG in needs:
            found[QUEUE_SUBJECT] = None
        elif Facts.PROCESSORS in needs:
            for info in processors:
                if info.stopped_at is None:
                    found[processor_subject(info.id)] = None
        for subject in stored:
            task = subject.removeprefix("task:") if rule.condition.per_task else None
            found.setdefault(subject, task)
        return found

    async def _read(
        self,
        rules: Iterable[AlertRule],
        subjects: Mapping[str, Mapping[str, str | None]],
        processors: list[ProcessorInfo],
        now: datetime,
    ) -> _Facts:
        """Each kind of fact that some rule needs, in one read for all its tasks."""
        per_task: dict[str, int] = {}  # runs to read per task
        wanted: dict[Facts, set[str]] = {kind: set() for kind in Facts}
        kinds: set[Facts] = set()
        for rule in rules:
            needs = rule.condition.needs
            kinds |= needs
            names = {t for t in subjects[rule.name].values() if t is not None}
            for kind in needs:
                wanted[kind] |= names
            if Facts.RUNS in needs:
                n = rule.condition.runs_needed()
                for name in names:
                    per_task[name] = max(per_task.get(name, 0), n)
        store = self.store
        runs = await store.alert_runs(per_task)
        running = await store.running_since(sorted(wanted[Facts.RUNNING]))
        batches = await store.latest_batches(sorted(wanted[Facts.BATCH]))
        fires = await store.late_fires(sorted(wanted[Facts.FIRES]), now)
        heartbeats = {
            info.id: info.heartbeat_at if info.stopped_at is None else None for info in processors
        }
        oldest: datetime | None = None
        if Facts.BACKLOG in kinds:
            due = await store.next_due_time()
            oldest = due if due is not None and due <= now else None
        failures: dict[str, int] = {}
        if Facts.CHANNELS in kinds:
            failures = {n: h.failures for n, h in (await store.channel_health()).items()}
        overrides = await store.auto_overrides(sorted(wanted[Facts.AUTO]))
        return _Facts(runs, running, batches, fires, heartbeats, oldest, failures, {}, overrides)

    # --- the loop ----------------------------------------------------------------------------
    def wake(self, tasks: Iterable[str] | None = None) -> None:
        """Evaluate soon: for the jobs ``tasks`` (runs finished, fires missed), or everything
        (None: a processor went away, a check changed). Call on the loop's thread."""
        if tasks is None:
            self._woken_all = True
        else:
            self._woken.update(tasks)
        self._wake.set()

    async def start(self) -> None:
        if self.settings.rules:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _run(self) -> None:
        only: frozenset[str] | None = None  # None: every rule and subject
        last_full = time.monotonic()
        while True:
            if only is None:
                last_full = time.monotonic()
            try:
                await self.evaluate(only)
            except Exception as exc:
                await self.retry.failed(exc)
                only = None
                continue
            self.retry.succeeded()
            wait = max(0.0, last_full + self.interval_seconds - time.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                only = None  # the tick
            else:
                await asyncio.sleep(WAKE_GATHER_SECONDS)
                due = time.monotonic() - last_full >= self.interval_seconds
                only = None if self._woken_all or due else frozenset(self._woken)
            # Taken: what wakes this up from now on (during the evaluation too) is the next one.
            self._wake.clear()
            if only is None:
                self._woken_all = False
            self._woken = set()


def _facts_of(subject: str, task: str | None, facts: _Facts) -> SubjectFacts:
    if task is not None:
        runs = facts.runs.get(task, [])
        ok, failed = facts.batches.get(task, (0, 0))
        late, missed = facts.fires.get(task, (None, 0))
        return SubjectFacts(
            subject=subject,
            task=task,
            runs=tuple(runs),
            running_since=facts.running.get(task),
            p95_seconds=_p95([r.duration_seconds for r in runs if r.status == _SUCCEEDED]),
            batch_succeeded=ok,
            batch_failed=failed,
            late_fire_at=late,
            missed_fires=missed,
            auto=facts.overrides.get(task),
        )
    kind, _, name = subject.partition(":")
    if kind == "processor":
        return SubjectFacts(subject, heartbeat_at=facts.heartbeats.get(name))
    if kind == "check":
        return SubjectFacts(subject, check=facts.checks.get(name))
    if kind == "channel":
        return SubjectFacts(subject, delivery_failures=facts.channel_failures.get(name, 0))
    return SubjectFacts(subject, oldest_due_at=facts.oldest_due_at)


_SUCCEEDED = JobState.SUCCEEDED.value


def _p95(durations: list[float]) -> float | None:
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _log_stored(write: AlertWrite) -> None:
    t = write.transition
    if t.sent:
        sent = ", ".join(kind.value for kind in t.sent)
        log.info(
            "alert %s on %s: %s (%s) → %s",
            write.key.rule,
            write.key.subject,
            sent,
            t.why,
            ", ".join(write.channels) or "no channel",
        )
