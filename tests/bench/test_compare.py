"""``bench/compare.py``: the same-hour table from one run's files: medians, the peer's best
variant, ratios (latencies the other way round), a stale peer file named and left out, and the
table put between the markers of a file."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", BENCH / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_table_of_one_run(tmp_path: Path) -> None:
    compare = _compare()
    ours = tmp_path / "bench-sqlite-1.json"
    ours.write_text(
        json.dumps(
            [
                {"kind": "process", "variant": "amark 1 proc x c=100 b=200", "steady_jobs_per_s": v}
                for v in (6000, 9000, 8000)
            ]
            + [{"kind": "latency", "variant": "amark 50/s", "p50_ms": 3.0, "p99_ms": 6.0}]
        )
    )
    peers = tmp_path / "results"
    peers.mkdir()
    huey = [
        {"kind": "process", "variant": "-k thread", "jobs_per_s_steady": 2000},
        {"kind": "process", "variant": "-k process", "jobs_per_s_steady": 4000},
        {"kind": "latency", "variant": "-k process", "p50_ms": 30.0, "p99_ms": 90.0},
    ]
    (peers / "huey-sqlite.json").write_text(json.dumps({"peer": "huey-sqlite", "results": huey}))
    old = peers / "procrastinate.json"
    old.write_text(json.dumps({"peer": "procrastinate", "results": huey}))
    os.utime(old, (1_000_000, 1_000_000))

    rows, stale = compare.load_peers(peers, since=2_000_000)
    assert set(rows) == {"huey-sqlite"} and set(stale) == {"procrastinate"}
    text = compare.table(
        compare.lines_of(compare.load_tickwork([ours]), rows), stale, "2026-12-07 23:32 UTC"
    )
    # Our median 8,000 against the peer's best variant, 4,000; latencies: theirs ÷ ours.
    assert "| SQLite: processing, async no-op, 1 process | 8,000 jobs/s | Huey (SQLite) " in text
    assert "| 4,000 jobs/s | **2.00×** |" in text
    assert "| 3.0 ms | Huey (SQLite) | 30.0 ms | **10.00×** |" in text
    assert "| PostgreSQL: processing, async no-op, 2 processes | not measured |" in text
    assert "procrastinate (last run 1970-01-12 13:46 UTC)" in text

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{compare.BEGIN}\nold\n{compare.END}\nafter\n")
    compare.replace_between(readme, text)
    body = readme.read_text()
    assert body.startswith("intro\n") and body.endswith("after\n") and "old" not in body
    assert text in body
