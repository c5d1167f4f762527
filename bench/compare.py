"""tickwork beside the peers, from one same-hour run (``bench/compare.sh``): a markdown table
of the figures the performance issue tracks, each with the peer's figure and the ratio.

    .venv/bin/python bench/compare.py --since EPOCH --tickwork bench/results/bench-*.json \\
        --peers PEERS/results [--write docs/benchmarks.md --write README.md]

``--tickwork``: the JSON files ``bench_store.py`` wrote in this run (SQLite and PostgreSQL; the
``pinned`` field tells a ``--pin`` run). ``--peers``: the peer kit's ``results`` folder (one
``<peer>.json`` each: ``{"peer", "meta", "results": [{"kind", "variant", ...}]}``); a peer file
older than ``--since`` is shown as not measured in this run, never mixed in. Each ``--write``
file gets the table between ``<!-- compare:begin -->`` and ``<!-- compare:end -->``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"
Row = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """A measured value (median over the rows that gave it) and how many rows."""

    value: float
    runs: int


def median_of(rows: Iterable[Row], field: str) -> Figure | None:
    values = [float(r[field]) for r in rows if r.get(field) is not None and not r.get("error")]
    return Figure(statistics.median(values), len(values)) if values else None


def load_tickwork(paths: Iterable[Path]) -> dict[str, list[Row]]:
    """tickwork's rows by backend: ``sqlite`` or ``pg``."""
    found: dict[str, list[Row]] = {"sqlite": [], "pg": []}
    for path in paths:
        backend = "pg" if path.name.startswith("bench-pg") else "sqlite"
        found[backend] += json.loads(path.read_text())
    return found


def load_peers(folder: Path | None, since: float) -> tuple[dict[str, list[Row]], dict[str, str]]:
    """The peers' rows measured since ``since``, and a note for each peer file left out."""
    rows: dict[str, list[Row]] = {}
    stale: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")) if folder is not None else []:
        data = json.loads(path.read_text())
        peer = str(data.get("peer", path.stem))
        if path.stat().st_mtime < since:
            stale[peer] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(path.stat().st_mtime))
            continue
        rows[peer] = list(data.get("results", []))
    return rows, stale


def pick(rows: Iterable[Row], kind: str, test: Callable[[str], bool]) -> list[Row]:
    return [r for r in rows if r.get("kind") == kind and test(str(r.get("variant", "")))]


def best(groups: Iterable[list[Row]], field: str, *, low: bool = False) -> Figure | None:
    """The best of the medians of several variants (the peer's best configuration)."""
    medians = [m for m in (median_of(g, field) for g in groups) if m is not None]
    if not medians:
        return None
    return (min if low else max)(medians, key=lambda f: f.value)


def by_variant(rows: Iterable[Row]) -> list[list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(str(r.get("variant")), []).append(r)
    return list(groups.values())


@dataclass(frozen=True)
class Line:
    figure: str
    ours: Figure | None
    peer_name: str
    theirs: Figure | None
    unit: str
    low_is_good: bool = False  # latencies: smaller wins


def _shown(f: Figure | None, unit: str) -> str:
    if f is None:
        return "not measured"
    digits = 1 if unit == "ms" and f.value < 100 else 0
    return f"{f.value:,.{digits}f} {unit}"


def _ratio(line: Line) -> str:
    if line.ours is None or line.theirs is None or not line.ours.value or not line.theirs.value:
        return "—"
    ours, theirs = line.ours.value, line.theirs.value
    r = theirs / ours if line.low_is_good else ours / theirs
    return f"**{r:.2f}×**" if r >= 1 else f"{r:.2f}×"


def _all(_: str) -> bool:
    return True


def _one_call(variant: str) -> bool:
    return "1 call" in variant or "1 await" in variant or variant == "single"


def _sqlite_store(variant: str) -> bool:
    return "sqlite" in variant.lower()


def lines_of(ours: dict[str, list[Row]], peers: dict[str, list[Row]]) -> list[Line]:
    s, pg = ours["sqlite"], ours["pg"]
    unpinned = [r for r in s if not r.get("pinned")]
    pinned = [r for r in s if r.get("pinned")]
    huey, aps = peers.get("huey-sqlite", []), peers.get("apscheduler", [])
    procrastinate, limits = peers.get("procrastinate", []), peers.get("limits-sqlite", [])

    def mine(rows: list[Row], kind: str, field: str, test: Callable[[str], bool]) -> Figure | None:
        return median_of(pick(rows, kind, test), field)

    def steady(rows: list[Row], prefix: str) -> Figure | None:
        return mine(rows, "process", "steady_jobs_per_s", lambda v: v.startswith(prefix))

    def theirs(
        rows: list[Row], kind: str, field: str, test: Callable[[str], bool] = _all
    ) -> Figure | None:
        return best(by_variant(pick(rows, kind, test)), field, low=field.endswith("_ms"))

    huey_rate = theirs(huey, "process", "jobs_per_s_steady")
    pq_rate = theirs(procrastinate, "process", "jobs_per_s_steady")
    aps_p99 = theirs(aps, "cron", "p99_ms", _sqlite_store)
    limit = mine(limits, "limit", "value", lambda v: v.startswith("claim+complete"))
    hs, ap, pq = "Huey (SQLite)", "APScheduler 3 (SQLite store)", "procrastinate"
    return [
        Line(
            "SQLite: processing, async no-op, 1 process",
            steady(unpinned, "amark 1 proc "),
            hs,
            huey_rate,
            "jobs/s",
        ),
        Line(
            "SQLite: the same against one job per claim+complete commit pair",
            steady(unpinned, "amark 1 proc "),
            "the physical limit",
            limit,
            "jobs/s",
        ),
        Line(
            "SQLite: processing, sync no-op, 1 process",
            steady(unpinned, "mark 1 proc "),
            hs,
            huey_rate,
            "jobs/s",
        ),
        Line(
            "SQLite: the same on one CPU (`--cpus`)",
            steady(pinned, "mark 1 proc "),
            hs,
            huey_rate,
            "jobs/s",
        ),
        Line(
            "SQLite: enqueue, one call per job",
            mine(unpinned, "enqueue", "jobs_per_s", _one_call),
            hs,
            theirs(huey, "enqueue", "jobs_per_s", _one_call),
            "jobs/s",
        ),
        Line(
            "SQLite: enqueue-to-start p50, other process",
            mine(unpinned, "latency", "p50_ms", _all),
            hs,
            theirs(huey, "latency", "p50_ms"),
            "ms",
            True,
        ),
        Line(
            "SQLite: enqueue-to-start p99",
            mine(unpinned, "latency", "p99_ms", _all),
            hs,
            theirs(huey, "latency", "p99_ms"),
            "ms",
            True,
        ),
        Line(
            "SQLite: 1,000 schedules every second, async jobs: lateness p99",
            mine(unpinned, "cron", "p99_ms", lambda v: "afire" in v),
            ap,
            aps_p99,
            "ms",
            True,
        ),
        Line(
            "SQLite: the same, sync jobs: lateness p99",
            mine(unpinned, "cron", "p99_ms", lambda v: "afire" not in v),
            ap,
            aps_p99,
            "ms",
            True,
        ),
        Line(
            "PostgreSQL: processing, async no-op, 2 processes",
            steady(pg, "amark 2 procs x c=100"),
            pq,
            pq_rate,
            "jobs/s",
        ),
        Line(
            "PostgreSQL: processing, sync no-op, 2 processes",
            steady(pg, "mark 2 procs"),
            pq,
            pq_rate,
            "jobs/s",
        ),
        Line(
            "PostgreSQL: enqueue, one call per job",
            mine(pg, "enqueue", "jobs_per_s", _one_call),
            pq,
            theirs(procrastinate, "enqueue", "jobs_per_s", _one_call),
            "jobs/s",
        ),
        Line(
            "PostgreSQL: enqueue, bulk",
            mine(pg, "enqueue", "jobs_per_s", lambda v: v.startswith("bulk")),
            pq,
            theirs(procrastinate, "enqueue", "jobs_per_s", lambda v: "batch" in v),
            "jobs/s",
        ),
        Line(
            "PostgreSQL: enqueue-to-start p50",
            mine(pg, "latency", "p50_ms", _all),
            pq,
            theirs(procrastinate, "latency", "p50_ms"),
            "ms",
            True,
        ),
        Line(
            "PostgreSQL: enqueue-to-start p99",
            mine(pg, "latency", "p99_ms", _all),
            pq,
            theirs(procrastinate, "latency", "p99_ms"),
            "ms",
            True,
        ),
    ]


def table(lines: list[Line], stale: dict[str, str], measured: str) -> str:
    out = [
        f"Measured {measured} on this machine by `bench/compare.sh`, tickwork and the peers in one"
        " run (ratio: how many times better tickwork is; below 1, the peer leads).",
        "",
        "| figure | tickwork | peer | peer's figure | ratio |",
        "|---|---|---|---|---|",
    ]
    for line in lines:
        out.append(
            f"| {line.figure} | {_shown(line.ours, line.unit)} | {line.peer_name} "
            f"| {_shown(line.theirs, line.unit)} | {_ratio(line)} |"
        )
    if stale:
        left = ", ".join(f"{peer} (last run {at} UTC)" for peer, at in sorted(stale.items()))
        out += ["", f"Not run in this hour, so left out: {left}."]
    return "\n".join(out) + "\n"


def replace_between(path: Path, text: str) -> None:
    """Put ``text`` between the markers of ``path`` (appended with them when missing)."""
    body = path.read_text()
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(head + block + tail)
    else:
        path.write_text(body.rstrip("\n") + "\n\n" + block + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--since", type=float, required=True, help="the run's start (epoch seconds)")
    p.add_argument("--tickwork", type=Path, nargs="+", required=True)
    p.add_argument("--peers", type=Path, default=None, help="the peer kit's results folder")
    p.add_argument("--write", type=Path, action="append", default=[], help="a file to update")
    args = p.parse_args()
    ours = load_tickwork(args.tickwork)
    peers, stale = load_peers(args.peers, args.since)
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(args.since))
    text = table(lines_of(ours, peers), stale, measured)
    print(text)
    for path in args.write:
        replace_between(path, text)
        print(f"# written into {path}")


if __name__ == "__main__":
    main()
