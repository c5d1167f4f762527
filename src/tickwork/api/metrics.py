"""The metrics snapshot (``service.metrics``) as Prometheus metric families, and its exposition.

Collectors over one snapshot, each in a registry of its own while it is written: no metric
object lives in the process between scrapes, so nothing here counts on its own; every figure is
the store's (except the claim durations, which are this process's worker's). Labels are tasks,
statuses, states, reasons and roles, never a job's or a run's ID: series stay as many as the
tasks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from tickwork.domain.metrics import Buckets, ClusterFigures
from tickwork.service.metrics import MetricsSnapshot


class ClusterCollector(Collector):
    """Yields the cluster's metric families of one snapshot."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        f = s.figures
        completed = CounterMetricFamily(
            "tickwork_jobs_completed",
            "Runs recorded since the store began, by task and status.",
            labels=["task", "status"],
        )
        for (task, status), n in sorted(f.completed.items()):
            completed.add_metric([task, status], n)
        yield completed
        yield _histogram(
            "tickwork_job_duration_seconds",
            "Run time of the runs that did the task's work (succeeded, failed, timeout,"
            " cancelled), by task.",
            f.durations,
        )
        yield _histogram(
            "tickwork_job_wait_seconds",
            "Time from a job's due time to the start of its run, by task.",
            f.waits,
        )
        depth = GaugeMetricFamily(
            "tickwork_queue_depth",
            "Jobs scheduled, available, retrying or running now.",
            labels=["state"],
        )
        for state, n in f.queue.items():
            depth.add_metric([state.value], n)
        yield depth
        yield GaugeMetricFamily(
            "tickwork_queue_oldest_due_age_seconds",
            "How long the earliest due job still waiting has been due (0: none waits).",
            value=s.oldest_due_age_seconds,
        )
        last = GaugeMetricFamily(
            "tickwork_schedule_last_success_timestamp_seconds",
            "When each task's latest successful run finished (Unix time).",
            labels=["task"],
        )
        for task, at in sorted(f.last_success.items()):
            last.add_metric([task], at.timestamp())
        yield last
        next_fire = GaugeMetricFamily(
            "tickwork_schedule_next_fire_timestamp_seconds",
            "When each enabled, not paused schedule fires next (Unix time).",
            labels=["task"],
        )
        for task, at in sorted(f.next_fire.items()):
            next_fire.add_metric([task], at.timestamp())
        yield next_fire
        missed = CounterMetricFamily(
            "tickwork_schedule_missed_fires",
            "Schedule fires that did not become runs, by task and reason.",
            labels=["task", "reason"],
        )
        for (task, reason), n in sorted(f.missed_fires.items()):
            missed.add_metric([task, reason], n)
        yield missed
        processors = GaugeMetricFamily(
            "tickwork_processors",
            "Processes registered in the store by role and state (running, lost, stopped);"
            " one running both roles counts under each.",
            labels=["role", "state"],
        )
        for (role, liveness), n in sorted(s.processors.items()):
            processors.add_metric([role, liveness], n)
        yield processors


class ClaimCollector(Collector):
    """This process's worker's claim durations (the one figure that is not the store's)."""

    def __init__(self, claims: Buckets) -> None:
        self.claims = claims

    def collect(self) -> Iterator[Metric]:
        yield _histogram(
            "tickwork_claim_duration_seconds",
            "Duration of this process's worker's claims (per process, not cluster-wide).",
            {"": self.claims},
            labelled=False,
        )


def _histogram(
    name: str, documentation: str, by_task: Mapping[str, Buckets], *, labelled: bool = True
) -> Metric:
    """A histogram family, one series per task (or one without labels: ``labelled=False``),
    with Prometheus's cumulative buckets and ``+Inf`` equal to the count."""
    family = HistogramMetricFamily(name, documentation, labels=["task"] if labelled else [])
    for task, buckets in sorted(by_task.items()):
        cumulative: list[tuple[str, float]] = [
            (repr(bound), n) for bound, n in buckets.cumulative()
        ]
        cumulative.append(("+Inf", buckets.count))
        family.add_metric([task] if labelled else [], cumulative, buckets.total)
    return family


class Exposition:
    """Writes snapshots in the format a scraper asks for (``Accept``: OpenMetrics, else the
    Prometheus text format). The cluster's part is written once per snapshot and format, as
    it changes every few seconds at most and costs a few milliseconds per task; the process's
    claim durations are written on every scrape."""

    def __init__(self) -> None:
        # content type -> (the figures written, the text)
        self._cluster: dict[str, tuple[ClusterFigures, bytes]] = {}

    def render(self, snapshot: MetricsSnapshot, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        hit = self._cluster.get(content_type)
        if hit is not None and hit[0] is snapshot.figures:
            cluster = hit[1]
        else:
            cluster = encoder(_registry(ClusterCollector(snapshot)))
            self._cluster[content_type] = (snapshot.figures, cluster)
        if snapshot.claim_durations is None:
            return cluster, content_type
        local = encoder(_registry(ClaimCollector(snapshot.claim_durations)))
        # OpenMetrics ends with one "# EOF" line: the cluster's part gives up its own.
        return cluster.removesuffix(_EOF) + local, content_type


_EOF = b"# EOF\n"


def _registry(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
