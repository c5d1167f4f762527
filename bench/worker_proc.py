"""A tickwork process for the benchmarks and the multi-process tests.

    python bench/worker_proc.py URL [--roles worker,scheduler] [--concurrency N] [--batch B]
        [--key-limit K] [--rate-limit "5000 per 1s"] [--lease SECONDS]
        [--processor-id ID] [--poll-interval S] [--shutdown-timeout S] [--cpus 1]

``--scheduler`` is a synonym that adds the scheduler role. SIGTERM or SIGINT stops it
gracefully (running jobs get the shutdown timeout, then are released) and it exits 0; a failed
stop exits 1. Put the job modules (``bench_tasks``, ``cluster_tasks``) on PYTHONPATH.
``TICKWORK_BENCH_OBSERVABILITY=off``: no rollups, no CPU meters (``observability_switch``).
``BENCH_CPU_OUT``: at exit, append "<CPU seconds at the first job start> <at the last>" of this
process (``bench_tasks``) to that file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import observability_switch as observability

from tickwork.domain.admission import ClaimRules
from tickwork.domain.limits import RateLimit
from tickwork.domain.processors import ROLE_SCHEDULER, ROLE_WORKER, new_processor_id
from tickwork.runtime.processor import Processor, ProcessorSettings
from tickwork.store import create_store

ROLES = {ROLE_WORKER, ROLE_SCHEDULER}


def parse_roles(text: str) -> set[str]:
    roles = {r.strip() for r in text.split(",") if r.strip()}
    unknown = roles - ROLES
    if unknown or not roles:
        raise argparse.ArgumentTypeError(f"roles are {sorted(ROLES)}, got {text!r}")
    return roles


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("url")
    p.add_argument("--roles", type=parse_roles, default={ROLE_WORKER}, help="worker,scheduler")
    p.add_argument("--scheduler", action="store_true", help="add the scheduler role")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--key-limit", type=int, default=None)
    p.add_argument("--rate-limit", default=None, help='e.g. "5000 per 1s"')
    p.add_argument("--lease", type=float, default=60.0, help="lease seconds")
    p.add_argument("--processor-id", default=None)
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--shutdown-timeout", type=float, default=30.0)
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--cpus", default=None, help="pin to these CPUs, as tickwork's --cpus")
    args = p.parse_args(argv)
    if args.scheduler:
        args.roles = args.roles | {ROLE_SCHEDULER}
    return args


async def main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = create_store(args.url)
    processor = Processor(
        store,
        ProcessorSettings(
            roles=frozenset(args.roles),
            processor_id=args.processor_id or new_processor_id(),
            batch_size=args.batch,
            max_concurrent_jobs=args.concurrency,
            poll_interval_seconds=args.poll_interval,
            lease_seconds=args.lease,
            shutdown_timeout_seconds=args.shutdown_timeout,
            rules=ClaimRules(
                key_limit=args.key_limit,
                rate_limit=RateLimit.parse(args.rate_limit) if args.rate_limit else None,
            ),
        ),
    )
    status = 0
    try:
        await processor.start()
        await stop.wait()
    finally:
        try:
            await processor.stop()
        except Exception:
            logging.getLogger("worker_proc").exception("stop failed")
            status = 1
        await store.close()
        write_cpu()
    return status


def write_cpu() -> None:
    path = os.environ.get("BENCH_CPU_OUT")
    tasks = sys.modules.get("bench_tasks")
    first = getattr(tasks, "cpu_first", None)
    if path and first is not None:
        with open(path, "a") as f:
            f.write(f"{first:.6f} {tasks.cpu_last:.6f}\n")  # type: ignore[union-attr]


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.cpus is not None:
        from tickwork.affinity import parse_cpus, pin

        pin(parse_cpus(arguments.cpus))
    observability.from_environment()  # benchmarks of its cost turn it off here
    logging.basicConfig(
        level=arguments.log_level.upper(),
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    sys.exit(asyncio.run(main(arguments)))
