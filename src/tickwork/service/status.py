"""The cluster now (C2): job counts by state, and each processor with its state and the jobs
it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from tickwork.domain.jobs import JobState
from tickwork.domain.processors import lost_after_seconds, processor_state
from tickwork.service.context import Context
from tickwork.service.queries import ProcessorInfo


@dataclass(frozen=True)
class ProcessorStatus:
    info: ProcessorInfo
    state: str  # "running", "lost" (no heartbeat for LOST_AFTER_HEARTBEATS intervals), "stopped"
    running_jobs: int  # jobs in state running with this processor as their worker


@dataclass(frozen=True)
class Status:
    jobs_by_state: dict[JobState, int]
    processors: list[ProcessorStatus]
    # Workers running jobs without a processor row (e.g. embedded without a heartbeat).
    unregistered: dict[str, int] = field(default_factory=dict)


async def cluster_status(
    ctx: Context, heartbeat_interval_seconds: float, *, finished: bool = True
) -> Status:
    """Job counts by state (without ``finished``, the active states only: the finished ones
    take a scan of every job), and each processor with its state and running jobs."""
    store = ctx.store
    counts = await store.count_jobs_by_state(finished=finished)
    infos = await store.list_processors()
    running = await store.running_counts_by_worker()
    now = ctx.clock.now()
    lost_after = lost_after_seconds(heartbeat_interval_seconds)
    known = {p.id for p in infos}
    return Status(
        jobs_by_state=counts,
        processors=[
            ProcessorStatus(p, processor_state(p, now, lost_after), running.get(p.id, 0))
            for p in infos
        ],
        unregistered={w: n for w, n in sorted(running.items()) if w not in known},
    )
