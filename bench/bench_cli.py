"""tickwork command-line benchmark: how long a `tickwork` command takes, start to exit.

    .venv/bin/python bench/bench_cli.py              # 15 runs of each command
    .venv/bin/python bench/bench_cli.py --runs 30 --json

Each command runs as its own process, as a user runs it, against a SQLite file made once with
`tickwork db upgrade` and 20 job definitions (so `jobs list` prints a real table), after one
warm-up run; the figure is wall time from launch to exit. Python writes its bytecode caches
as usual (`PYTHONDONTWRITEBYTECODE` is removed from the environment): without them every run
would compile tickwork's modules again, which is not what users see. Prints the median and
the best of the runs per command, and the median CPU time (user + system: on a shared machine
it shows what a command costs when other processes stretch its wall time); `--json` prints
them as JSON.

Also reports which of FastAPI, uvicorn, SQLAlchemy and Alembic each command loaded, since
loading what a command does not use is what made every command slow (issue 9, item 12).

`--against SRC` measures another tickwork source tree too, in turns with this one (before and
after a change, in the same minutes of a shared machine's load):

    git archive 13ed2c3 src | tar -x -C /tmp/before
    .venv/bin/python bench/bench_cli.py --against /tmp/before/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKWORK = str(Path(sys.executable).parent / "tickwork")  # the virtualenv's command
HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "alembic")

CONFIG = """
[tickwork]
database_url = "sqlite:///{db}"
"""
JOB = """
[[jobs]]
name = "job-{i:02d}"
command = "true"
schedule = "*/{minutes} * * * *"
timezone = "Europe/Berlin"
description = "a job defined for the benchmark, with a description of usual length"
"""

# A producer enqueues a task its workers define; "sync" (once, in set-up) stores the definition
# as a worker process would at start.
PRODUCER = """
import sys
from tickwork import Tickwork
app = Tickwork({url!r})
@app.task
def noop() -> None: ...
if sys.argv[1:] == ["sync"]:
    from tickwork.domain.tasks import TaskSource
    app.call(lambda s: s.sync_definitions(app.definitions, [TaskSource.CODE]))
else:
    noop.enqueue()
"""

# What loaded a command: run it in-process with an exit hook that prints the heavy modules.
WHICH = """
import atexit, sys
atexit.register(lambda: print(",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))
sys.argv = ["tickwork", *{args!r}]
{launch}
"""

# The console script's code; a tree from before `tickwork.cli.main()` has it in cli/main.py.
LAUNCH = """
import sys
sys.argv[0] = "tickwork"
import tickwork.cli
main = getattr(tickwork.cli, "main", None)
if not callable(main):
    from tickwork.cli.main import main
main()
"""


def setup(workdir: Path) -> dict[str, str]:
    """A migrated SQLite file with job definitions; the environment the commands run in."""
    db = workdir / "bench.db"
    config = workdir / "tickwork.toml"
    text = CONFIG.format(db=db) + "".join(JOB.format(i=i, minutes=i % 10 + 1) for i in range(20))
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TICKWORK_CONFIG"] = str(config)
    env["COLUMNS"] = "100"
    subprocess.run([TICKWORK, "db", "upgrade"], env=env, check=True, capture_output=True)
    # The definitions get into the store as a process syncs them at start: `tickwork scheduler`
    # would run until stopped, so sync them the same way from here.
    sync = (
        "import asyncio\n"
        "from tickwork.config import load_config\n"
        "from tickwork.service.context import Context\n"
        "from tickwork.service.facade import Service\n"
        "from tickwork.store.open import prepare_store\n"
        "from tickwork.domain.tasks import TaskSource\n"
        "async def main():\n"
        f"    cfg = load_config({str(config)!r})\n"
        "    store = prepare_store(cfg.settings.database_url)\n"
        "    service = Service(Context(store, resolve=None))\n"
        "    await service.sync_definitions(cfg.tasks, [TaskSource.CONFIG])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", sync], env=env, check=True, cwd=workdir)
    return env


def measure(
    argv: list[str], envs: dict[str, dict[str, str]], cwd: Path, runs: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU times (user + system) of ``runs`` runs of ``argv`` per environment. The
    environments take turns, in alternating order, so that a change in the machine's load
    affects them alike. On a shared machine the CPU time shows what a command costs when other
    processes stretch its wall time."""
    for env in envs.values():
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)  # warm-up
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in envs}
    for round_ in range(runs):
        order = list(envs) if round_ % 2 == 0 else list(reversed(envs))
        for name in order:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, env=envs[name], cwd=cwd, check=True, capture_output=True)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name][0].append(wall)
            times[name][1].append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )
    return times


def loaded(args: list[str], env: dict[str, str], cwd: Path) -> str:
    code = WHICH.format(heavy=HEAVY, args=args, launch=LAUNCH)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--against",
        metavar="SRC",
        help="also measure the tickwork package in SRC (a directory holding tickwork/, e.g. "
        "the src/ of `git archive COMMIT src | tar -x -C DIR`), in turns with this one",
    )
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tickwork-bench-cli-") as tmp:
        workdir = Path(tmp)
        env = setup(workdir)
        envs = {"this": env}
        if opts.against:
            other = str(Path(opts.against).resolve())
            envs["against"] = {**env, "PYTHONPATH": other}
        cli_cases = {
            "tickwork --help": ["--help"],
            'tickwork next "@daily" -n 1': ["next", "@daily", "-n", "1"],
            "tickwork jobs list (SQLite, 20 jobs)": ["jobs", "list"],
            "tickwork jobs history job-01": ["jobs", "history", "job-01"],
        }
        cases = {name: [sys.executable, "-c", LAUNCH, *args] for name, args in cli_cases.items()}
        cases["python -c 'import tickwork.cli.main'"] = [
            sys.executable,
            "-c",
            "import tickwork.cli.main",
        ]
        url = f"sqlite:///{workdir / 'producer.db'}"
        producer = [sys.executable, "-c", PRODUCER.format(url=url)]
        subprocess.run([*producer, "sync"], env=env, cwd=workdir, check=True)
        cases["producer: Tickwork(url) + @app.task + .enqueue()"] = producer
        results = []
        for name, argv in cases.items():
            times = measure(argv, envs, workdir, opts.runs)
            row: dict[str, object] = {"command": name, "runs": opts.runs}
            for which, (walls, cpus) in times.items():
                row[which] = {
                    "median_s": round(statistics.median(walls), 3),
                    "best_s": round(min(walls), 3),
                    "cpu_median_s": round(statistics.median(cpus), 3),
                    "loaded": loaded(cli_cases[name], envs[which], workdir)
                    if name in cli_cases
                    else "",
                }
            results.append(row)
    if opts.json:
        print(json.dumps(results, indent=2))
        return
    header = f"{'':<50}" + "".join(f"{w:^36}" for w in envs)
    print(header)
    print(f"{'command':<50}" + f"{'median':>8} {'best':>7} {'CPU':>7}  {'loaded':<10}" * len(envs))
    for r in results:
        line = f"{r['command']:<50}"
        for which in envs:
            m = r[which]
            assert isinstance(m, dict)
            line += (
                f"{m['median_s']:>7.3f}s {m['best_s']:>6.3f}s {m['cpu_median_s']:>6.3f}s"
                f"  {m['loaded'] or '-':<10}"
            )
        print(line)


if __name__ == "__main__":
    main()
