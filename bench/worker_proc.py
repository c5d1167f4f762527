"""A worker-only (or scheduler+worker) tickwork process for the benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tickwork.domain.admission import ClaimRules
from tickwork.domain.limits import RateLimit
from tickwork.runtime.processor import (
    ROLE_SCHEDULER,
    ROLE_WORKER,
    Processor,
    ProcessorSettings,
)
from tickwork.store import create_store


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--scheduler", action="store_true")
    p.add_argument("--key-limit", type=int, default=None)
    p.add_argument("--rate-limit", default=None, help='e.g. "5000 per 1s"')
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    roles = {ROLE_WORKER} | ({ROLE_SCHEDULER} if args.scheduler else set())
    store = create_store(args.url)
    processor = Processor(
        store,
        ProcessorSettings(
            roles=frozenset(roles),
            batch_size=args.batch,
            max_concurrent_jobs=args.concurrency,
            poll_interval_seconds=1.0,
            rules=ClaimRules(
                key_limit=args.key_limit,
                rate_limit=RateLimit.parse(args.rate_limit) if args.rate_limit else None,
            ),
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await processor.start()
    await stop.wait()
    await processor.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
